import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, ApiError, type RawResponse } from '../../src/client/api.js';
import type { EventFrame } from '../../src/client/realtime.js';
import { buildChatterBox, type ChatterBox } from '../../src/http/app.js';
import { buildConfig, loadConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { RedisEventBus } from '../../src/realtime/redis-bus.js';
import { buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { listen, settle, waitUntil, type Listener } from '../helpers/realtime.js';
import { isRedisReachable, openRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const REDIS_URL = TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisReachable = await isRedisReachable(REDIS_URL);
if (!redisReachable) {
  console.warn(`Skipping the Redis bus tests: no Redis replies at ${REDIS_URL}. Start redis-server or set TEST_REDIS_URL.`);
}

/** Limits high enough that only the rate-limit test meets them. */
const HIGH_LIMITS = { postsPerUserPerMinute: 100_000, postsPerAddressPerMinute: 100_000, loginPerAddressPerMinute: 100_000 };

interface Cluster {
  a: TestServer;
  b: TestServer;
  prefix: string;
  close(): Promise<void>;
}

/**
 * Starts two nodes on the same storage (one SQLite file, or one PostgreSQL
 * schema) and the same Redis, under a key prefix of their own.
 */
async function startCluster(rateLimits: Record<string, number> = HIGH_LIMITS): Promise<Cluster> {
  const prefix = `cbtest:${randomBytes(6).toString('hex')}:`;
  const a = await startServer({ redisUrl: REDIS_URL, redisKeyPrefix: prefix, rateLimits });
  const b = await startServer({ redisUrl: REDIS_URL, redisKeyPrefix: prefix, rateLimits, dataDir: a.dataDir });
  return {
    a,
    b,
    prefix,
    close: async () => {
      // Closing the last node of the prefix also deletes its keys.
      await b.close();
      await a.close();
    },
  };
}

function busOf(node: TestServer): RedisEventBus {
  return node.server.ctx.bus as RedisEventBus;
}

/** Returns an API client that sends the user's requests to another node. */
function onNode(user: TestUser, node: TestServer): ApiClient {
  return new ApiClient(node.url, user.token);
}

function postText(api: ApiClient, conversationId: string, text: string) {
  return api.post<{ id: string; seq: number; text: string }>(`/api/conversations/${conversationId}/messages`, { text });
}

function postedTexts(events: readonly EventFrame[], stream: string): string[] {
  return events
    .filter((event) => event.stream === stream && event.event === 'message.posted')
    .map((event) => (event.data.message as { text: string }).text);
}

function seqsOf(events: readonly EventFrame[], stream: string): number[] {
  return events.filter((event) => event.stream === stream).map((event) => event.seq);
}

/** Checks that a socket received exactly `texts` in order, on contiguous seqs, with nothing repeated or skipped. */
function expectExactlyOnce(listener: Listener, stream: string, texts: readonly string[]): void {
  expect(postedTexts(listener.events, stream)).toEqual(texts);
  const seqs = seqsOf(listener.events, stream);
  expect(seqs).toEqual(seqs.map((_, index) => seqs[0]! + index));
  expect(listener.client.duplicates).toBe(0);
  expect(listener.client.gaps).toBe(0);
}

/**
 * Posts `count` messages, alternating between the two nodes. On PostgreSQL
 * both nodes post at once, pair by pair. On SQLite they take turns: both
 * nodes run in this one process, and a write that waits for the other
 * connection's lock would block the thread that holds it.
 */
async function postAlternately(
  posters: readonly [ApiClient, ApiClient],
  conversationId: string,
  count: number,
  label: string,
  between?: (posted: number) => Promise<void>,
): Promise<string[]> {
  const texts: string[] = [];
  for (let i = 0; i < count; i += 2) {
    const pair = [`${label} ${i}`, `${label} ${i + 1}`].slice(0, count - i);
    if (TEST_DATABASE_URL !== undefined) {
      const posted = await Promise.all(pair.map((text, index) => postText(posters[index]!, conversationId, text)));
      // Concurrent posts commit in either order, and every socket must show them in seq order.
      texts.push(...posted.sort((x, y) => x.seq - y.seq).map((message) => message.text));
    } else {
      for (const [index, text] of pair.entries()) texts.push((await postText(posters[index]!, conversationId, text)).text);
    }
    await between?.(i + pair.length);
  }
  return texts;
}

/** Returns the Redis client id of a node's subscriber connection, found by its connection name. */
async function subscriberClientId(node: TestServer): Promise<string | undefined> {
  const redis = openRedis(REDIS_URL);
  try {
    await redis.connect();
    const list = (await redis.client('LIST')) as string;
    const name = `chatterbox-sub-${busOf(node).nodeId}`;
    const line = list.split('\n').find((entry) => entry.includes(` name=${name} `));
    return line === undefined ? undefined : /(?:^|\s)id=(\d+)/.exec(line)?.[1];
  } finally {
    redis.disconnect();
  }
}

/** Kills a node's subscriber connection on the Redis side, as a network drop would. Returns whether one was found. */
async function killSubscriber(node: TestServer): Promise<boolean> {
  const id = await subscriberClientId(node);
  if (id === undefined) return false;
  const redis = openRedis(REDIS_URL);
  try {
    await redis.connect();
    await redis.client('KILL', 'ID', id);
    return true;
  } finally {
    redis.disconnect();
  }
}

describe.skipIf(!redisReachable)('Redis bus across two nodes', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster();
  });
  afterAll(async () => cluster.close());

  test('post on node B reaches socket on A', async () => {
    const alice = await buildUser(cluster.a.url, 'alice');
    const bob = await buildUser(cluster.a.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const stream = `c:${team.generalId}`;
    const aliceOnA = await listen(cluster.a.wsUrl, alice.token);

    const texts: string[] = [];
    for (let i = 0; i < 5; i += 1) texts.push((await postText(onNode(bob, cluster.b), team.generalId, `from B ${i}`)).text);
    await aliceOnA.waitFor((events) => postedTexts(events, stream).length >= texts.length, 2000);
    await settle(200);
    aliceOnA.client.stop();

    expectExactlyOnce(aliceOnA, stream, texts);
  });

  test('200 alternating posts reach both nodes', async () => {
    const alice = await buildUser(cluster.a.url, 'alice');
    const bob = await buildUser(cluster.b.url, 'bob');
    const carol = await buildUser(cluster.a.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    const stream = `c:${team.generalId}`;
    const sockets = [
      await listen(cluster.a.wsUrl, alice.token),
      await listen(cluster.b.wsUrl, bob.token),
      await listen(cluster.a.wsUrl, carol.token),
      await listen(cluster.b.wsUrl, carol.token),
    ];

    const texts = await postAlternately([onNode(alice, cluster.a), onNode(bob, cluster.b)], team.generalId, 200, 'alternating');
    for (const socket of sockets) await socket.waitFor((events) => postedTexts(events, stream).length >= 200, 5000);
    await settle(200);
    for (const socket of sockets) socket.client.stop();

    for (const socket of sockets) expectExactlyOnce(socket, stream, texts);
  });

  test('node subscribes only to streams its sockets use', async () => {
    const redis = openRedis(REDIS_URL);
    await redis.connect();
    const channelOf = (stream: string) => busOf(cluster.a).channelOf(stream);
    const subscribingNodes = async (stream: string) => {
      const reply = (await redis.call('PUBSUB', 'SHARDNUMSUB', channelOf(stream))) as [string, number];
      return Number(reply[1]);
    };
    const dave = await buildUser(cluster.a.url, 'dave');
    const erin = await buildUser(cluster.a.url, 'erin');
    const frank = await buildUser(cluster.a.url, 'frank');
    const team = await buildTeam(dave, [erin]);
    const frankTeam = await buildTeam(frank);
    const general = `c:${team.generalId}`;
    const counts = async () => ({
      general: await subscribingNodes(general),
      dave: await subscribingNodes(`u:${dave.id}`),
      erin: await subscribingNodes(`u:${erin.id}`),
    });

    // Dave listens on node A only.
    const daveOnA = await listen(cluster.a.wsUrl, dave.token);
    const withDave = await counts();

    // Erin listens on node B: the shared channel now reaches both nodes.
    const erinOnB = await listen(cluster.b.wsUrl, erin.token);
    const withBoth = await counts();
    const channels = (await redis.call('PUBSUB', 'SHARDCHANNELS', `${cluster.prefix}*`)) as string[];

    // Node B unsubscribes after its last socket of a stream closes.
    erinOnB.client.stop();
    let afterErin = withBoth;
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && (afterErin.general !== 1 || afterErin.erin !== 0)) {
      await settle(20);
      afterErin = await counts();
    }
    daveOnA.client.stop();
    redis.disconnect();

    expect(withDave).toEqual({ general: 1, dave: 1, erin: 0 });
    expect(withBoth).toEqual({ general: 2, dave: 1, erin: 1 });
    expect(channels).toEqual(expect.arrayContaining([general, `u:${dave.id}`, `u:${erin.id}`, `t:${team.id}`].map(channelOf)));
    expect(channels).not.toContain(channelOf(`c:${frankTeam.generalId}`));
    expect(channels).not.toContain(channelOf(`u:${frank.id}`));
    // Besides the event channels (s:), the prefix holds the signal channels (g:) of typing and notifications.
    expect(channels.every((channel) => channel.startsWith(`${cluster.prefix}s:`) || channel.startsWith(`${cluster.prefix}g:`))).toBe(true);
    expect(afterErin).toEqual({ general: 1, dave: 1, erin: 0 });
  });

  test('subscriber connection killed mid-run', async () => {
    const alice = await buildUser(cluster.a.url, 'alice');
    const bob = await buildUser(cluster.b.url, 'bob');
    const carol = await buildUser(cluster.a.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    const stream = `c:${team.generalId}`;
    const sockets = [
      await listen(cluster.a.wsUrl, alice.token),
      await listen(cluster.b.wsUrl, bob.token),
      await listen(cluster.a.wsUrl, carol.token),
      await listen(cluster.b.wsUrl, carol.token),
    ];

    const killed: boolean[] = [];
    const texts = await postAlternately([onNode(alice, cluster.a), onNode(bob, cluster.b)], team.generalId, 200, 'killed', async (posted) => {
      if (posted === 60) killed.push(await killSubscriber(cluster.a));
      if (posted === 120) killed.push(await killSubscriber(cluster.b));
    });
    await waitUntil(() => busOf(cluster.a).isConnected() && busOf(cluster.b).isConnected(), 5000, 'both nodes to reconnect to Redis');
    for (const socket of sockets) await socket.waitFor((events) => postedTexts(events, stream).length >= 200, 5000);
    await settle(200);
    const ready = await Promise.all([cluster.a, cluster.b].map((node) => new ApiClient(node.url).raw('GET', '/readyz')));
    for (const socket of sockets) socket.client.stop();

    expect(killed).toEqual([true, true]);
    for (const socket of sockets) {
      expectExactlyOnce(socket, stream, texts);
      // The server kept every socket open: the client never had to reconnect.
      expect(socket.client.connections).toBe(1);
    }
    expect(ready.map((response) => response.status)).toEqual([200, 200]);
  });

  test('events lost while disconnected are read from storage', async () => {
    const alice = await buildUser(cluster.a.url, 'alice');
    const bob = await buildUser(cluster.b.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const stream = `c:${team.generalId}`;
    const aliceOnA = await listen(cluster.a.wsUrl, alice.token);
    const gateway = cluster.a.server.gateway;
    let resyncs = 0;
    const resync = gateway.resyncFromStorage.bind(gateway);
    gateway.resyncFromStorage = () => {
      resyncs += 1;
      resync();
    };

    // Node A's subscriber is killed again and again while only node B posts,
    // so some of B's messages reach Redis while A is not subscribed. Nothing
    // is posted afterwards, so no later live event reveals the gap to A.
    const texts: string[] = [];
    const storm = (async () => {
      const until = Date.now() + 500;
      while (Date.now() < until) {
        await killSubscriber(cluster.a);
        await settle(15);
      }
    })();
    for (let i = 0; i < 10; i += 1) {
      texts.push((await postText(onNode(bob, cluster.b), team.generalId, `during the storm ${i}`)).text);
      await settle(40);
    }
    await storm;
    await waitUntil(() => busOf(cluster.a).isConnected(), 5000, 'node A to reconnect to Redis');
    await aliceOnA.waitFor((events) => postedTexts(events, stream).length >= texts.length, 5000);
    await settle(200);
    aliceOnA.client.stop();
    gateway.resyncFromStorage = resync;

    expectExactlyOnce(aliceOnA, stream, texts);
    expect(resyncs).toBeGreaterThan(0);
  });
});

describe.skipIf(!redisReachable)('Redis rate limits', () => {
  const LIMIT = 6;
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ ...HIGH_LIMITS, postsPerUserPerMinute: LIMIT });
  });
  afterAll(async () => cluster.close());

  test('post limit shared across nodes', async () => {
    const alice = await buildUser(cluster.a.url, 'alice');
    const team = await buildTeam(alice);
    const nodes = [onNode(alice, cluster.a), onNode(alice, cluster.b)];

    const outcomes: string[] = [];
    for (let i = 0; i < LIMIT + 4; i += 1) {
      try {
        await postText(nodes[i % 2]!, team.generalId, `limited ${i}`);
        outcomes.push('created');
      } catch (error) {
        outcomes.push(error instanceof ApiError ? error.code : String(error));
      }
    }
    const redis = openRedis(REDIS_URL);
    await redis.connect();
    const [, counterKeys] = await redis.scan('0', 'MATCH', `${cluster.prefix}rl:post-user:*`, 'COUNT', 1000);
    redis.disconnect();

    expect(outcomes.filter((outcome) => outcome === 'created')).toHaveLength(LIMIT);
    expect(outcomes.slice(LIMIT)).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
    expect(counterKeys).toEqual([`${cluster.prefix}rl:post-user:${alice.id}`]);
  });

  test('post limits per user and address together', async () => {
    const ADDRESS_LIMIT = 9;
    const both = await startCluster({ ...HIGH_LIMITS, postsPerUserPerMinute: LIMIT, postsPerAddressPerMinute: ADDRESS_LIMIT });
    try {
      const alice = await buildUser(both.a.url, 'alice');
      const bob = await buildUser(both.a.url, 'bob');
      const team = await buildTeam(alice, [bob]);
      const post = async (user: TestUser, count: number) => {
        const outcomes: string[] = [];
        for (let i = 0; i < count; i += 1) {
          try {
            await postText(onNode(user, i % 2 === 0 ? both.a : both.b), team.generalId, `${user.username} ${i}`);
            outcomes.push('created');
          } catch (error) {
            outcomes.push(error instanceof ApiError ? error.code : String(error));
          }
        }
        return outcomes;
      };

      // Alice spends her own limit, and her two rejected posts still count against the shared address.
      const aliceOutcomes = await post(alice, LIMIT + 2);
      // Bob's own limit is untouched, so only the address limit stops his third post.
      const bobOutcomes = await post(bob, 3);

      expect(aliceOutcomes).toEqual([...Array<string>(LIMIT).fill('created'), 'RATE_LIMITED', 'RATE_LIMITED']);
      expect(bobOutcomes).toEqual(['created', 'RATE_LIMITED', 'RATE_LIMITED']);
    } finally {
      await both.close();
    }
  });

  test('post rejected with the longest wait', async () => {
    const alice = await buildUser(cluster.a.url, 'alice');
    const team = await buildTeam(alice);
    await postText(onNode(alice, cluster.a), team.generalId, 'opens both windows');
    const redis = openRedis(REDIS_URL);
    await redis.connect();
    const [, addressKeys] = await redis.scan('0', 'MATCH', `${cluster.prefix}rl:post-addr:*`, 'COUNT', 1000);
    // Spends both counters, and the address window ends later than the user window.
    await redis.set(`${cluster.prefix}rl:post-user:${alice.id}`, 1_000_000, 'PX', 20_000);
    await redis.set(addressKeys[0]!, 1_000_000, 'PX', 50_000);

    let rejected: RawResponse;
    try {
      rejected = await alice.api.raw('POST', `/api/conversations/${team.generalId}/messages`, { text: 'rejected' });
    } finally {
      // The other tests post from the same address.
      await redis.del(addressKeys[0]!);
      redis.disconnect();
    }

    expect(addressKeys).toHaveLength(1);
    expect(rejected.status).toBe(429);
    expect(rejected.headers.get('retry-after')).toBe('50');
  });

  test('post limits count without scripts', async () => {
    const alice = await buildUser(cluster.a.url, 'alice');
    const team = await buildTeam(alice);
    const monitor = openRedis(REDIS_URL);
    await monitor.connect();
    const counterCommands: string[] = [];
    const feed = await monitor.monitor();
    feed.on('monitor', (_time: string, args: string[]) => {
      const key = args.find((arg) => arg.startsWith(`${cluster.prefix}rl:post-`));
      if (key !== undefined) counterCommands.push(`${args[0]!.toLowerCase()} ${key.slice(cluster.prefix.length).split(':').slice(0, 2).join(':')}`);
    });

    await postText(onNode(alice, cluster.a), team.generalId, 'counted');
    await settle(100);
    feed.disconnect();
    monitor.disconnect();

    // A Lua script per limit cost Redis twice the CPU of these plain commands. An allowed post
    // reads no remaining time (PTTL). The test of the longest wait covers a rejected one.
    expect(counterCommands.sort()).toEqual(['expire rl:post-addr', 'expire rl:post-user', 'incr rl:post-addr', 'incr rl:post-user']);
  });

  test('post limit counted in memory while Redis is down', async () => {
    const redis = new URL(REDIS_URL);
    const proxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
    const node = await startServer({ redisUrl: proxy.url(REDIS_URL), redisKeyPrefix: `cbtest:${randomBytes(6).toString('hex')}:`, rateLimits: { ...HIGH_LIMITS, postsPerUserPerMinute: 3 } });
    try {
      const alice = await buildUser(node.url, 'alice');
      const team = await buildTeam(alice);
      proxy.cut();
      await waitUntil(() => !busOf(node).isConnected(), 5000, 'the node to notice Redis is gone');

      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) {
        statuses.push((await alice.api.raw('POST', `/api/conversations/${team.generalId}/messages`, { text: `offline ${i}` })).status);
      }

      expect(statuses).toEqual([201, 201, 201, 429]);
    } finally {
      proxy.restore();
      await node.close();
      await proxy.close();
    }
  });
});

/** Finds a free port on 127.0.0.1 by binding port 0 and releasing it. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('Redis unavailable at start', () => {
  let node: ChatterBox | undefined;
  let redisServer: ChildProcess | undefined;
  let dataDir: string;
  afterAll(async () => {
    await node?.close();
    redisServer?.kill('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('node reports not ready only until Redis first answers', async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-test-'));
    const port = await freePort();
    const config = buildConfig({ port: 0, dataDir, redisUrl: `redis://127.0.0.1:${port}`, redisKeyPrefix: `cbtest:${randomBytes(6).toString('hex')}:` });
    node = await buildChatterBox(config, createLogger(process.env.LOG_LEVEL ?? 'silent'));
    const url = await node.listen();
    const api = new ApiClient(url);

    // Without Redis the node serves requests: its own sockets get events and rate limits count in memory.
    const notReady = await api.raw('GET', '/readyz');
    const alice = await buildUser(url, 'alice');
    const team = await buildTeam(alice);
    const aliceSocket = await listen(url.replace(/^http/, 'ws') + '/api/realtime', alice.token);
    const posted = await postText(alice.api, team.generalId, 'without Redis');
    await aliceSocket.waitFor((events) => postedTexts(events, `c:${team.generalId}`).includes(posted.text), 2000);

    // A Redis started on the configured port is found by the reconnect attempts.
    let ready = notReady;
    if (spawnSync('redis-server', ['--version']).status === 0) {
      redisServer = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && ready.status !== 200) {
        await settle(50);
        ready = await api.raw('GET', '/readyz');
      }
    }
    // Once connected, losing Redis again keeps the node ready: a Redis restart must not empty the balancer.
    let readyAfterLoss = ready;
    if (redisServer !== undefined && ready.status === 200) {
      const exited = new Promise((resolve) => redisServer?.once('exit', resolve));
      redisServer.kill('SIGKILL');
      await exited;
      redisServer = undefined;
      await waitUntil(() => !node?.ctx.bus.isConnected(), 5000, 'the node to notice Redis is gone');
      readyAfterLoss = await api.raw('GET', '/readyz');
    }
    aliceSocket.client.stop();

    expect(notReady.status).toBe(503);
    expect((notReady.body as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    expect(posted.text).toBe('without Redis');
    if (spawnSync('redis-server', ['--version']).status === 0) {
      expect(ready.status).toBe(200);
      expect(readyAfterLoss.status).toBe(200);
    }
  });
});

describe('Redis configuration', () => {
  function configProblems(env: NodeJS.ProcessEnv): string {
    try {
      loadConfig(env);
      return '';
    } catch (error) {
      return (error as Error).message;
    }
  }

  test('Redis off by default', () => {
    const config = loadConfig({});

    expect(config.redisUrl).toBe('');
    expect(config.redisKeyPrefix).toBe('chatterbox:');
  });

  test('Redis settings read from environment', () => {
    const config = loadConfig({ REDIS_URL: 'rediss://cache.internal:6380/0', CHATTERBOX_REDIS_KEY_PREFIX: 'acme-chat:' });

    expect(config.redisUrl).toBe('rediss://cache.internal:6380/0');
    expect(config.redisKeyPrefix).toBe('acme-chat:');
  });

  test('invalid Redis settings listed at start', () => {
    const message = configProblems({ REDIS_URL: 'http://127.0.0.1:6379', CHATTERBOX_REDIS_KEY_PREFIX: 'two words' });

    expect(message).toContain('REDIS_URL must be a redis:// or rediss:// URL');
    expect(message).toContain('CHATTERBOX_REDIS_KEY_PREFIX must be');
  });
});

describe.skipIf(!redisReachable)('Redis bus subscription confirmation', () => {
  const prefix = `cbtest:${randomBytes(6).toString('hex')}:`;
  const logger = createLogger(process.env.LOG_LEVEL ?? 'silent');
  let proxy: TcpProxy;
  let slow: RedisEventBus;
  let direct: RedisEventBus;
  beforeAll(async () => {
    const redis = new URL(REDIS_URL);
    proxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
    // `slow` reaches Redis through the proxy, `direct` publishes without it.
    slow = new RedisEventBus({ url: proxy.url(REDIS_URL), keyPrefix: prefix, logger });
    direct = new RedisEventBus({ url: REDIS_URL, keyPrefix: prefix, logger });
    await waitUntil(() => slow.isConnected() && direct.isConnected(), 5000, 'both buses to connect');
  });
  afterAll(async () => {
    proxy.restore();
    proxy.setLatency(0);
    await Promise.all([slow.close(), direct.close()]);
    await proxy.close();
  });

  test('whenSubscribed waits for the SSUBSCRIBE reply', async () => {
    const stream = `c:confirm-${randomBytes(4).toString('hex')}`;
    const received: number[] = [];
    proxy.setLatency(100);
    try {
      const started = Date.now();
      slow.subscribe(stream, (event) => received.push(event.seq));
      await slow.whenSubscribed([stream]);
      const waitedMs = Date.now() - started;
      // Published at once, this reaches Redis long before the delayed SSUBSCRIBE would have.
      direct.publish([{ stream, seq: 1, type: 'message.posted', at: Date.now(), data: {} }]);
      await waitUntil(() => received.length === 1, 3000, 'the event published after whenSubscribed');

      expect(waitedMs).toBeGreaterThanOrEqual(190);
      expect(received).toEqual([1]);
      // A second listener of a confirmed stream does not wait.
      const again = Date.now();
      slow.subscribe(stream, () => {});
      await slow.whenSubscribed([stream]);
      expect(Date.now() - again).toBeLessThan(50);
    } finally {
      proxy.setLatency(0);
    }
  });

  test('whenSubscribed ends when the connection drops', async () => {
    const stream = `c:dropped-${randomBytes(4).toString('hex')}`;
    let missed = 0;
    slow.onEventsMissed(() => (missed += 1));
    proxy.setLatency(2000);
    slow.subscribe(stream, () => {});
    const waiting = slow.whenSubscribed([stream]).then(() => Date.now());
    const cutAt = Date.now();
    proxy.cut();
    // Without the release, the wait would last until the reconnect, which the cut proxy refuses.
    const releasedAt = await Promise.race([waiting, settle(3000).then(() => Number.POSITIVE_INFINITY)]);
    proxy.setLatency(0);
    proxy.restore();
    // The next connect subscribes again and then has sockets read from storage.
    await waitUntil(() => missed > 0, 10_000, 'the onEventsMissed callback after the reconnect');

    expect(releasedAt - cutAt).toBeLessThan(1000);
  });
});
