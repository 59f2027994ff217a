import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { postMessageWithRetry } from '../../src/client/post.js';
import { RealtimeClient, type WebSocketLike } from '../../src/client/realtime.js';
import { DeliveryChecker } from '../helpers/delivery-checker.js';
import { buildUser, type TestUser } from '../helpers/factories.js';
import { HAPROXY_INSTALLED, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { deleteRedisKeys, TEST_REDIS_URL } from '../helpers/redis.js';
import { dropSchema, runSql, TEST_DATABASE_URL } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

/** Sizes of the run; the defaults fit a shared 2-core machine, and the environment can raise them. */
const NODES = 3;
const CLIENTS = Number(process.env.FAULTS_CLIENTS ?? 60);
const CHANNELS = Number(process.env.FAULTS_CHANNELS ?? 6);
// At 100 posts a second the three nodes and the load generator saturated the shared machine (posts took 2.5 s before any fault).
const POSTS_PER_SECOND = Number(process.env.FAULTS_RATE ?? 40);
const REDIS_OUTAGE_MS = Number(process.env.FAULTS_REDIS_OUTAGE_MS ?? 10_000);
const POSTGRES_OUTAGE_MS = Number(process.env.FAULTS_POSTGRES_OUTAGE_MS ?? 5_000);
/** Posts waiting for their response at once; above it the load generator skips a tick rather than pile up. */
const MAX_IN_FLIGHT = 200;

/** Targets from the fault requirements: delivery within 5 s of Redis returning, reconnect and resume p99 under 2 s. */
const REDIS_RECOVERY_BOUND_MS = 5000;
const RESUME_P99_BOUND_MS = 2000;

interface Client {
  user: TestUser;
  realtime: RealtimeClient;
  /** Milliseconds from each close to the next ready frame. */
  resumes: number[];
}

interface LoadResult {
  acknowledged: number;
  failed: string[];
  retries: Map<string, number>;
  /** Completion time of every acknowledged post. */
  ackTimes: number[];
  /** Milliseconds from the first attempt to the acknowledgement, of every acknowledged post. */
  latencies: number[];
}

describe.runIf(HAPROXY_INSTALLED && TEST_DATABASE_URL !== undefined && TEST_REDIS_URL !== undefined)('faults in a three-node cluster', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-faults-'));
  const schema = `cbtest_${randomBytes(8).toString('hex')}`;
  const redisPrefix = `cbtest:${randomBytes(8).toString('hex')}:`;
  const nodes: NodeProcess[] = [];
  const clients: Client[] = [];
  const checker = new DeliveryChecker();
  const channelMembers: TestUser[][] = [];
  const channelIds: string[] = [];
  const figures: Record<string, number> = {};
  let postgresProxy: TcpProxy;
  let redisProxy: TcpProxy;
  let haproxy: Haproxy;
  /** Channels the load leaves alone, by index. */
  let quietChannels = new Set<number>();
  /** Environment of every node, so a restarted node joins the same cluster. */
  let nodeEnv: Record<string, string>;

  beforeAll(async () => {
    await runSql(`CREATE SCHEMA ${schema}`);
    const postgres = new URL(TEST_DATABASE_URL as string);
    const redis = new URL(TEST_REDIS_URL as string);
    postgresProxy = await startTcpProxy(postgres.hostname, Number(postgres.port || 5432));
    redisProxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
    nodeEnv = {
      CHATTERBOX_DATA_DIR: dataDir,
      DATABASE_URL: postgresProxy.url(TEST_DATABASE_URL as string),
      CHATTERBOX_DATABASE_SCHEMA: schema,
      REDIS_URL: redisProxy.url(TEST_REDIS_URL as string),
      CHATTERBOX_REDIS_KEY_PREFIX: redisPrefix,
      // Every client of the run posts from 127.0.0.1.
      CHATTERBOX_POST_LIMIT_PER_USER: '100000',
      CHATTERBOX_POST_LIMIT_PER_ADDRESS: '10000000',
      CHATTERBOX_REGISTER_LIMIT_PER_ADDRESS: '100000',
    };
    // One at a time: the first runs the migrations, and parallel starts compete for the two cores.
    for (let i = 0; i < NODES; i += 1) nodes.push(await startNodeProcess(nodeEnv));
    haproxy = await startHaproxy(nodes.map((node) => Number(new URL(node.url).port)));
    await connectClients(await buildWorkspace());
  }, 300_000);

  afterAll(async () => {
    for (const client of clients) client.realtime.stop();
    await Promise.all(nodes.filter(isRunning).map((node) => node.stop()));
    await haproxy?.close();
    await postgresProxy?.close();
    await redisProxy?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await dropSchema(schema);
    await deleteRedisKeys(TEST_REDIS_URL as string, redisPrefix);
    figures.resyncs = checker.resyncs;
    console.log(`fault figures: ${JSON.stringify(figures)}`);
  }, 60_000);

  /** Builds one team of CLIENTS users, where user i is in channels i and i + 1 (mod CHANNELS). */
  async function buildWorkspace(): Promise<TestUser[]> {
    const owner = await buildUser(haproxy.url, 'owner');
    const users: TestUser[] = [];
    for (let i = 0; i < CLIENTS; i += 1) users.push(await buildUser(haproxy.url, 'member'));
    const team = await owner.api.post<{ id: string }>('/api/teams', { name: 'Faults' });
    for (const user of users) await owner.api.post(`/api/teams/${team.id}/members`, { user_id: user.id });
    for (let c = 0; c < CHANNELS; c += 1) {
      const members = users.filter((_, i) => i % CHANNELS === c || (i + 1) % CHANNELS === c);
      const channel = await owner.api.post<{ id: string }>(`/api/teams/${team.id}/channels`, { name: `faults-${c}`, private: false });
      await owner.api.post(`/api/conversations/${channel.id}/members`, { user_ids: members.map((member) => member.id) });
      channelIds.push(channel.id);
      channelMembers.push(members);
    }
    return users;
  }

  /** Connects every user through HAProxy, which spreads them over the nodes (balance leastconn). */
  async function connectClients(users: TestUser[]): Promise<void> {
    for (const [i, user] of users.entries()) {
      const conversations = [channelIds[i % CHANNELS], channelIds[(i + 1) % CHANNELS]] as string[];
      const member = checker.addMember(user.username, conversations, user.api);
      const resumes: number[] = [];
      let closedAt: number | undefined;
      const realtime = new RealtimeClient({
        connect: () => new WebSocket(haproxy.wsUrl, { headers: { authorization: `Bearer ${user.token}` } }) as unknown as WebSocketLike,
        onEvent: member.onEvent,
        onResync: member.onResync,
        onClose: () => {
          closedAt ??= Date.now();
        },
        onReady: () => {
          if (closedAt !== undefined) resumes.push(Date.now() - closedAt);
          closedAt = undefined;
        },
        maxBackoffMs: 1000,
      });
      await realtime.start();
      clients.push({ user, realtime, resumes });
    }
  }

  /**
   * Posts POSTS_PER_SECOND messages a second, each from a random member of a random channel, with
   * the client's retry, for `until` milliseconds or until `until` returns true.
   */
  async function runLoad(until: number | (() => boolean), during: (elapsedMs: number) => void = () => {}): Promise<LoadResult> {
    const result: LoadResult = { acknowledged: 0, failed: [], retries: new Map(), ackTimes: [], latencies: [] };
    const started = Date.now();
    const finished = typeof until === 'number' ? () => Date.now() - started >= until : until;
    const inFlight = new Set<Promise<void>>();
    let sent = 0;
    while (!finished()) {
      during(Date.now() - started);
      const due = Math.floor(((Date.now() - started) / 1000) * POSTS_PER_SECOND);
      while (sent < due && inFlight.size < MAX_IN_FLIGHT) {
        sent += 1;
        const open = channelIds.map((_, index) => index).filter((index) => !quietChannels.has(index));
        const channel = open[Math.floor(Math.random() * open.length)] as number;
        const members = channelMembers[channel] as TestUser[];
        const author = members[Math.floor(Math.random() * members.length)] as TestUser;
        const conversationId = channelIds[channel] as string;
        const postedAt = Date.now();
        const post = postMessageWithRetry<{ id: string; seq: number }>(author.api, conversationId, { text: `load ${sent}` }, {
          maxAttempts: 60,
          baseDelayMs: 100,
          maxDelayMs: 1000,
          attemptTimeoutMs: 5000,
          onRetry: (_attempt, reason) => result.retries.set(reason, (result.retries.get(reason) ?? 0) + 1),
        }).then(
          (posted) => {
            checker.acknowledged({ conversationId, id: posted.message.id, seq: posted.message.seq });
            result.acknowledged += 1;
            result.ackTimes.push(Date.now());
            result.latencies.push(Date.now() - postedAt);
          },
          (error: unknown) => void result.failed.push(String(error)),
        );
        const tracked = post.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
      }
      await sleep(10);
    }
    await Promise.all(inFlight);
    return result;
  }

  /** Log lines of the nodes about Redis and resyncs, for a failure message. */
  function busLog(): string {
    const busMessage = /redis connection|subscrib|resync/;
    return nodes
      .flatMap((node, index) => node.logs.filter((entry) => busMessage.test(String(entry.msg))).map((entry) => `node${index + 1} ${String(entry.time)} ${String(entry.msg)}`))
      .join('\n');
  }

  /** Waits until the given messages reached every member; returns the time it took, or throws with what is missing. */
  async function waitForDelivery(ids: ReadonlySet<string>, timeoutMs: number): Promise<number> {
    const started = Date.now();
    await checker.fillFromHistory();
    while (checker.pending(ids) > 0) {
      if (Date.now() - started > timeoutMs) {
        throw new Error(`${checker.pending(ids)} deliveries missing after ${timeoutMs} ms: ${checker.report().problems.join('; ')}\n${busLog()}`);
      }
      await sleep(25);
      await checker.fillFromHistory();
    }
    return Date.now() - started;
  }

  it('Redis restart under load', async () => {
    let cutAt = 0;
    let recovery: Promise<number | Error> | undefined;
    const ready: number[] = [];
    const load = await runLoad(REDIS_OUTAGE_MS + 5000, (elapsed) => {
      if (cutAt === 0 && elapsed >= 2000) {
        redisProxy.cut();
        cutAt = Date.now();
      }
      if (cutAt !== 0 && ready.length === 0 && recovery === undefined && Date.now() - cutAt >= 3000) {
        ready.push(0);
        void Promise.all(nodes.map((node) => new ApiClient(node.url).raw('GET', '/readyz'))).then((responses) =>
          ready.splice(0, 1, ...responses.map((response) => response.status)),
        );
      }
      if (cutAt !== 0 && recovery === undefined && Date.now() - cutAt >= REDIS_OUTAGE_MS) {
        // Measured from the restore: every message acknowledged until then at every member.
        const beforeRestore = checker.acknowledgedIds();
        // Half of the channels get no post after the restore, so no later event can reveal a gap there.
        // Only the catch-up from storage that the reconnect starts can deliver what Redis dropped.
        quietChannels = new Set(channelIds.map((_, index) => index).filter((index) => index % 2 === 0));
        redisProxy.restore();
        // Kept as a value: a rejection would go unhandled until the load ends.
        recovery = waitForDelivery(beforeRestore, 30_000).catch((error: unknown) => error as Error);
      }
    });
    quietChannels = new Set();
    figures.redisOutageMs = REDIS_OUTAGE_MS;
    const recovered = await (recovery as Promise<number | Error>);
    if (recovered instanceof Error) throw recovered;
    figures.redisRecoveryMs = recovered;
    figures.redisRunAcknowledged = load.acknowledged;
    figures.redisRunPostP50Ms = percentile(load.latencies.sort((a, b) => a - b), 0.5);
    await waitForDelivery(checker.acknowledgedIds(), 10_000);

    expect(nodes.every(isRunning)).toBe(true);
    expect(load.failed).toEqual([]);
    // Nodes that had connected stay ready, so HAProxy keeps all of them.
    expect(ready).toEqual(nodes.map(() => 200));
    expect(figures.redisRecoveryMs).toBeLessThanOrEqual(REDIS_RECOVERY_BOUND_MS);
    checker.verify();
  }, 120_000);

  it('PostgreSQL unreachable under load', async () => {
    let cutAt = 0;
    let restoredAt = 0;
    const load = await runLoad(POSTGRES_OUTAGE_MS + 5000, (elapsed) => {
      if (cutAt === 0 && elapsed >= 2000) {
        postgresProxy.cut();
        cutAt = Date.now();
      }
      if (cutAt !== 0 && restoredAt === 0 && Date.now() - cutAt >= POSTGRES_OUTAGE_MS) {
        postgresProxy.restore();
        restoredAt = Date.now();
      }
    });
    const firstAckAfterRestore = Math.min(...load.ackTimes.filter((time) => time >= restoredAt));
    figures.postgresOutageMs = POSTGRES_OUTAGE_MS;
    figures.postgresRecoveryMs = firstAckAfterRestore - restoredAt;
    figures.postgresRetried503 = load.retries.get('503 UNAVAILABLE') ?? 0;
    figures.postgresRunAcknowledged = load.acknowledged;
    figures.postgresRunPostP50Ms = percentile(load.latencies.sort((a, b) => a - b), 0.5);
    await waitForDelivery(checker.acknowledgedIds(), 15_000);

    expect(nodes.every(isRunning)).toBe(true);
    expect(load.failed).toEqual([]);
    // Posts during the outage got a retryable 503, from the nodes or from HAProxy, and were retried.
    expect(figures.postgresRetried503).toBeGreaterThan(0);
    figures.postgresRetriedTimeout = load.retries.get('TimeoutError') ?? 0;
    // A post either got a 503 or, queued behind the pool on a busy node, ran into the client's attempt timeout; nothing else.
    expect([...load.retries.keys()].filter((reason) => reason !== '503 UNAVAILABLE' && reason !== 'TimeoutError')).toEqual([]);
    checker.verify();
  }, 120_000);

  it('node killed with SIGKILL under load', async () => {
    const victim = nodes[0] as NodeProcess;
    let killed = false;
    const resumesBefore = clients.map((client) => client.resumes.length);
    const load = await runLoad(6000, (elapsed) => {
      if (!killed && elapsed >= 2000) {
        killed = true;
        victim.child.kill('SIGKILL');
      }
    });
    await waitForDelivery(checker.acknowledgedIds(), 15_000);
    const resumes = clients.flatMap((client, i) => client.resumes.slice(resumesBefore[i]));
    resumes.sort((a, b) => a - b);
    figures.nodeLossClientsMoved = resumes.length;
    figures.nodeLossResumeP50Ms = percentile(resumes, 0.5);
    figures.nodeLossResumeP99Ms = percentile(resumes, 0.99);
    figures.nodeLossRunAcknowledged = load.acknowledged;
    figures.nodeLossRunPostP50Ms = percentile(load.latencies.sort((a, b) => a - b), 0.5);
    figures.nodeLossRetries = [...load.retries.values()].reduce((sum, count) => sum + count, 0);

    expect(isRunning(victim)).toBe(false);
    expect(nodes.slice(1).every(isRunning)).toBe(true);
    expect(load.failed).toEqual([]);
    // leastconn spread the clients, so the victim held some of them.
    expect(resumes.length).toBeGreaterThan(0);
    expect(figures.nodeLossResumeP99Ms).toBeLessThan(RESUME_P99_BOUND_MS);
    for (const client of clients) expect(client.realtime.duplicates).toBe(0);
    checker.verify();
  }, 120_000);

  it('rolling restart with SIGTERM under load', async () => {
    // The node killed by the previous test comes back first, as a supervisor would start it again.
    for (const [i, node] of nodes.entries()) {
      if (isRunning(node)) continue;
      nodes[i] = await startNodeProcess({ ...nodeEnv, PORT: new URL(node.url).port });
      await waitForServerUp(`node${i + 1}`, 30_000);
    }
    const resumesBefore = clients.map((client) => client.resumes.length);
    const exitCodes: Array<number | null> = [];
    const restartMs: number[] = [];
    let restarted = false;
    const restart = (async () => {
      await sleep(2000);
      for (let i = 0; i < nodes.length; i += 1) {
        const old = nodes[i] as NodeProcess;
        const started = Date.now();
        // The new process listens on the old port, so HAProxy's server line stays as it is.
        exitCodes.push(await old.stop());
        nodes[i] = await startNodeProcess({ ...nodeEnv, PORT: new URL(old.url).port });
        // The next node stops only once HAProxy's checks mark this one UP again, as docs/deploying.md describes.
        await waitForServerUp(`node${i + 1}`, 30_000);
        restartMs.push(Date.now() - started);
      }
    })().finally(() => {
      restarted = true;
    });
    // A rejection is read after the load, which must stop either way.
    const restartResult = restart.then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    const load = await runLoad(() => restarted);
    const restartError = await restartResult;
    if (restartError !== undefined) throw restartError;
    await waitForDelivery(checker.acknowledgedIds(), 15_000);
    const resumes = clients.flatMap((client, i) => client.resumes.slice(resumesBefore[i]));
    resumes.sort((a, b) => a - b);
    figures.rollingRestartNodeMs = Math.max(...restartMs);
    figures.rollingClientsMoved = resumes.length;
    figures.rollingResumeP50Ms = percentile(resumes, 0.5);
    figures.rollingResumeP99Ms = percentile(resumes, 0.99);
    figures.rollingRunAcknowledged = load.acknowledged;
    const postLatencies = load.latencies.sort((a, b) => a - b);
    figures.rollingRunPostP50Ms = percentile(postLatencies, 0.5);
    figures.rollingRunPostMaxMs = postLatencies[postLatencies.length - 1] ?? 0;
    figures.rollingRetries = [...load.retries.values()].reduce((sum, count) => sum + count, 0);
    for (const [reason, count] of load.retries) figures[`rollingRetried ${reason}`] = count;

    // Every node drained and exited 0, within its grace period.
    expect(exitCodes).toEqual(nodes.map(() => 0));
    expect(nodes.every(isRunning)).toBe(true);
    expect(load.failed).toEqual([]);
    // Every client sat on some node, so each was moved at least once.
    for (const [i, client] of clients.entries()) expect(client.resumes.length, client.user.username).toBeGreaterThan(resumesBefore[i] as number);
    for (const client of clients) expect(client.realtime.duplicates).toBe(0);
    checker.verify();
  }, 240_000);

  /** Waits until HAProxy's checks mark a server UP. */
  async function waitForServerUp(server: string, timeoutMs: number): Promise<void> {
    const started = Date.now();
    while ((await haproxy.serverStatus()).get(server) !== 'UP') {
      if (Date.now() - started > timeoutMs) {
        const states = JSON.stringify([...(await haproxy.serverStatus())]);
        throw new Error(`Timed out after ${timeoutMs} ms waiting for HAProxy to mark ${server} UP; server states: ${states}`);
      }
      await sleep(100);
    }
  }
});

function isRunning(node: NodeProcess): boolean {
  return node.child.exitCode === null && node.child.signalCode === null;
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] as number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
