import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { postMessageWithRetry } from '../../src/client/post.js';
import { DeliveryChecker } from '../helpers/delivery-checker.js';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { listen, waitUntil, type Listener } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const HEARTBEAT_MS = 300;

interface Posted {
  id: string;
  seq: number;
  conversation_id: string;
}

describe('network faults between clients and a node', () => {
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  let team: TestTeam;
  const proxies: TcpProxy[] = [];
  const listeners: Listener[] = [];

  beforeAll(async () => {
    server = await startServer();
    alice = await buildUser(server.url, 'alice');
    bob = await buildUser(server.url, 'bob');
    carol = await buildUser(server.url, 'carol');
    team = await buildTeam(alice, [bob, carol]);
  });

  afterAll(async () => {
    for (const listener of listeners) listener.client.stop();
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await server?.close();
  });

  async function proxyToServer(): Promise<TcpProxy> {
    const target = new URL(server.url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    proxies.push(proxy);
    return proxy;
  }

  async function track(checker: DeliveryChecker, proxy: TcpProxy, user: TestUser, conversationIds: string[]): Promise<Listener> {
    const member = checker.addMember(user.username, conversationIds, user.api);
    const listener = await listen(proxy.url(server.wsUrl), user.token, { heartbeatMs: HEARTBEAT_MS, member });
    listeners.push(listener);
    return listener;
  }

  async function post(checker: DeliveryChecker, api: ApiClient, conversationId: string, text: string): Promise<void> {
    const result = await postMessageWithRetry<Posted>(api, conversationId, { text }, { baseDelayMs: 50, maxAttempts: 10, attemptTimeoutMs: 2000 });
    checker.acknowledged({ conversationId, id: result.message.id, seq: result.message.seq });
  }

  it('half-open socket detected and resumed', async () => {
    const proxy = await proxyToServer();
    const checker = new DeliveryChecker();
    const bobSocket = await track(checker, proxy, bob, [team.generalId]);
    for (let i = 0; i < 3; i += 1) await post(checker, alice.api, team.generalId, `before ${i}`);
    await checker.waitForAll(5000);

    proxy.halfOpen();
    const silencedAt = Date.now();
    // Timed while the posts go on, which may take longer than the detection on a busy machine.
    const detected = waitUntil(() => bobSocket.client.timeouts === 1, 5000, 'the client to give up on the silent connection').then(() => Date.now());
    for (let i = 0; i < 5; i += 1) await post(checker, alice.api, team.generalId, `silent ${i}`);
    const detectedMs = (await detected) - silencedAt;
    await checker.waitForAll(5000);

    // Detection takes at most one interval until the next ping and one more for its pong; 300 ms covers timer drift.
    expect(detectedMs).toBeLessThanOrEqual(2 * HEARTBEAT_MS + 300);
    expect(bobSocket.client.connections).toBe(2);
    expect(bobSocket.client.duplicates).toBe(0);
    checker.verify();
  });

  it('lost response stored once', async () => {
    const proxy = await proxyToServer();
    const aliceViaProxy = new ApiClient(proxy.url(server.url), alice.token);
    const checker = new DeliveryChecker();
    await track(checker, await proxyToServer(), bob, [team.generalId]);

    const cut = proxy.cutMidFrame('downstream');
    const retried: string[] = [];
    const result = await postMessageWithRetry<Posted>(aliceViaProxy, team.generalId, { text: 'response lost' }, {
      baseDelayMs: 50,
      onRetry: (_attempt, reason) => retried.push(reason),
    });
    await cut;
    checker.acknowledged({ conversationId: team.generalId, id: result.message.id, seq: result.message.seq });
    await checker.waitForAll(5000);

    const page = await bob.api.get<{ messages: Array<{ client_msg_id: string | null }> }>(`/api/conversations/${team.generalId}/messages?limit=200`);
    expect(retried).toEqual(['TypeError']);
    expect(result.attempts).toBe(2);
    // The first attempt stored the message, so the retry returned it.
    expect(result.created).toBe(false);
    expect(page.messages.filter((message) => message.client_msg_id === result.clientMsgId)).toHaveLength(1);
    checker.verify();
  });

  it('latency, resets and mid-frame cuts lose nothing', async () => {
    const proxy = await proxyToServer();
    const channel = await buildChannel(alice, team.id, { members: [bob, carol] });
    const conversations = [team.generalId, channel.id];
    const checker = new DeliveryChecker();
    const sockets = [
      await track(checker, proxy, alice, conversations),
      await track(checker, proxy, bob, conversations),
      await track(checker, proxy, carol, conversations),
    ];
    const posters = [alice, bob].map((user) => new ApiClient(proxy.url(server.url), user.token));

    proxy.setLatency(20);
    const faults: Record<number, () => Promise<void> | void> = {
      10: () => proxy.reset(),
      20: () => void proxy.cutMidFrame('downstream'),
      30: () => void proxy.cutMidFrame('upstream'),
      40: () => proxy.reset(),
    };
    for (let i = 0; i < 50; i += 1) {
      await faults[i]?.();
      await Promise.all(posters.map((api, index) => post(checker, api, conversations[index] as string, `message ${i}`)));
    }
    await checker.waitForAll(10_000);

    expect(checker.acknowledgedCount).toBe(100);
    for (const socket of sockets) {
      expect(socket.client.connections).toBeGreaterThanOrEqual(2);
      expect(socket.client.duplicates).toBe(0);
    }
    for (const conversationId of conversations) {
      const page = await carol.api.get<{ messages: Array<{ text: string }> }>(`/api/conversations/${conversationId}/messages?limit=200`);
      const texts = page.messages.map((message) => message.text).filter((text) => text.startsWith('message '));
      expect(texts).toHaveLength(50);
      expect(new Set(texts).size).toBe(50);
    }
    checker.verify();
  });
});
