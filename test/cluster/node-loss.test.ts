import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { RealtimeClient, type EventFrame, type WebSocketLike } from '../../src/client/realtime.js';
import { DeliveryChecker } from '../helpers/delivery-checker.js';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { waitUntil } from '../helpers/realtime.js';
import { deleteRedisKeys, TEST_REDIS_URL } from '../helpers/redis.js';
import { dropSchema, runSql, TEST_DATABASE_URL, withSchemaLock } from '../helpers/server.js';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';

const POSTS = 40;
const KILL_AFTER = 12;
// Two nodes side by side need shared storage and the Redis bus; otherwise the one node is killed and started again.
const CLUSTER = TEST_DATABASE_URL !== undefined && TEST_REDIS_URL !== undefined;

describe('losing a node with SIGKILL', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-node-loss-'));
  const schema = `cbtest_${randomBytes(8).toString('hex')}`;
  const redisPrefix = `cbtest:${randomBytes(8).toString('hex')}:`;
  const nodes: NodeProcess[] = [];
  const live = () => nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null);

  /** Starts a node; on PostgreSQL under the schema lock, because every start runs the migrator. */
  function startNode(): Promise<NodeProcess> {
    return TEST_DATABASE_URL === undefined ? startNodeProcess(env()) : withSchemaLock(() => startNodeProcess(env()));
  }

  function env(): Record<string, string> {
    return {
      CHATTERBOX_DATA_DIR: dataDir,
      ...(TEST_DATABASE_URL !== undefined && { DATABASE_URL: TEST_DATABASE_URL, CHATTERBOX_DATABASE_SCHEMA: schema }),
      ...(CLUSTER && { REDIS_URL: TEST_REDIS_URL as string, CHATTERBOX_REDIS_KEY_PREFIX: redisPrefix }),
    };
  }

  afterAll(async () => {
    await Promise.all(live().map((node) => node.stop()));
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (TEST_DATABASE_URL !== undefined) await dropSchema(schema);
    if (CLUSTER) await deleteRedisKeys(TEST_REDIS_URL as string, redisPrefix);
  });

  it('loses no acknowledged message, stores each retried post once, and its clients resume elsewhere', async () => {
    if (TEST_DATABASE_URL !== undefined) await runSql(`CREATE SCHEMA ${schema}`);
    nodes.push(await startNode());
    if (CLUSTER) nodes.push(await startNode());
    await survive('killed', (victim) => victim.kill());
  });

  it('drains a node stopped with SIGTERM, as in a rolling restart', async () => {
    if (CLUSTER) nodes.push(await startNode());
    await survive('drained', async (victim) => {
      expect(await victim.stop()).toBe(0);
      const closes = victim.logs.filter((entry) => entry.msg === 'shutting down');
      expect(closes).toHaveLength(1);
    });
  });

  /** Posts and listens through the first live node while `stopVictim` takes that node away. */
  async function survive(label: string, stopVictim: (victim: NodeProcess) => Promise<void>): Promise<void> {
    const victim = live()[0] as NodeProcess;

    const alice = await buildUser(victim.url, 'alice');
    const bob = await buildUser(victim.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    // The "load balancer": every new connection goes to the first node still running.
    const events: EventFrame[] = [];
    const checker = new DeliveryChecker();
    const member = checker.addMember('bob', [team.generalId]);
    const bobSocket = new RealtimeClient({
      connect: () => {
        const node = live()[0];
        const url = node?.wsUrl ?? victim.wsUrl;
        return new WebSocket(url, { headers: { authorization: `Bearer ${bob.token}` } }) as unknown as WebSocketLike;
      },
      onEvent: (event) => {
        events.push(event);
        member.onEvent(event);
      },
      onResync: member.onResync,
      reconnect: true,
      maxBackoffMs: 200,
    });
    await bobSocket.start();

    let acknowledged = 0;
    const poster = (async () => {
      for (let i = 0; i < POSTS; i += 1) {
        const message = await postWithRetry(() => live()[0]?.url, alice.token, team.generalId, `${label} ${i}`, `${label}-${i}`);
        checker.acknowledged({ conversationId: team.generalId, id: message.id, seq: message.seq });
        acknowledged += 1;
      }
    })();

    await waitUntil(() => acknowledged >= KILL_AFTER, 20_000, 'the first posts');
    await stopVictim(victim);
    // A lone node is started again on the same data, as a supervisor would.
    if (live().length === 0) nodes.push(await startNode());
    await poster;

    const survivor = live()[0] as NodeProcess;
    const history = await new ApiClient(survivor.url, bob.token).get<{ messages: Array<{ text: string; seq: number }> }>(
      `/api/conversations/${team.generalId}/messages?limit=200`,
    );
    const texts = history.messages.map((message) => message.text).filter((text) => text.startsWith(`${label} `));
    expect(texts).toHaveLength(POSTS);
    expect(new Set(texts).size).toBe(POSTS);
    const seqs = history.messages
      .filter((message) => message.text.startsWith(`${label} `))
      .map((message) => message.seq)
      .sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, index) => (seqs[0] as number) + index));

    const posted = () =>
      events.filter((event) => event.event === 'message.posted' && (event.data.message as { text: string }).text.startsWith(`${label} `));
    await waitUntil(() => posted().length >= POSTS, 20_000, 'every message over the socket');
    expect(posted()).toHaveLength(POSTS);
    expect(bobSocket.duplicates).toBe(0);
    expect(bobSocket.connections).toBeGreaterThanOrEqual(2);
    await checker.waitForAll(5000);
    checker.verify();
    bobSocket.stop();
  }
});

/**
 * Posts like a client behind a load balancer: a failed connection or a 5xx is
 * retried with the same client_msg_id on whichever node answers next.
 */
async function postWithRetry(
  target: () => string | undefined,
  token: string,
  conversationId: string,
  text: string,
  clientMsgId: string,
): Promise<{ id: string; seq: number }> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const url = target();
    if (url !== undefined) {
      try {
        const response = await new ApiClient(url, token).raw('POST', `/api/conversations/${conversationId}/messages`, {
          text,
          client_msg_id: clientMsgId,
        });
        if (response.status === 200 || response.status === 201) return response.body as { id: string; seq: number };
        if (response.status < 500) throw new Error(`post ${clientMsgId} answered ${response.status}`);
      } catch (error) {
        if (!(error instanceof TypeError)) throw error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`post ${clientMsgId} never succeeded`);
}
