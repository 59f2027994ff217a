import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { storagePresenceStore } from '../../src/presence/presence.js';
import { RedisPresence } from '../../src/presence/redis-presence.js';
import type { PresenceView } from '../../src/presence/status.js';
import type { Storage } from '../../src/storage/database.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { settle, waitUntil } from '../helpers/realtime.js';
import { deleteRedisKeys, isRedisReachable, openRedis, TEST_REDIS_URL } from '../helpers/redis.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openReadySocket, type FrameSocket } from '../helpers/sockets.js';

const REDIS_URL = TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisReachable = await isRedisReachable(REDIS_URL);
if (!redisReachable) {
  console.warn(`Skipping the Redis presence tests: no Redis replies at ${REDIS_URL}. Start redis-server or set TEST_REDIS_URL.`);
}

const GRACE_MS = 300;
const PRESENCE = { offlineGraceMs: GRACE_MS, batchIntervalMs: 50, typingThrottleMs: 200, typingExpiryMs: 2000 };

function statusesOf(socket: FrameSocket, userId: string): string[] {
  return socket.framesOf('presence').flatMap((frame) => (frame.users as PresenceView[]).filter((view) => view.user_id === userId).map((view) => view.status));
}

async function waitForStatus(socket: FrameSocket, userId: string, status: string): Promise<void> {
  await waitUntil(() => statusesOf(socket, userId).at(-1) === status, 5000, `${userId} to show as ${status}`);
}

describe.skipIf(!redisReachable)('presence on two nodes', () => {
  let a: TestServer;
  let b: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let channelId: string;

  beforeAll(async () => {
    const prefix = `cbtest:${randomBytes(6).toString('hex')}:`;
    a = await startServer({ redisUrl: REDIS_URL, redisKeyPrefix: prefix, presence: PRESENCE });
    b = await startServer({ redisUrl: REDIS_URL, redisKeyPrefix: prefix, presence: PRESENCE, dataDir: a.dataDir });
    alice = await buildUser(a.url, 'alice');
    bob = await buildUser(a.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    channelId = (await buildChannel(alice, team.id, { members: [bob] })).id;
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  test('devices on two nodes count together', async () => {
    const watcher = await openReadySocket(b.wsUrl, alice.token);
    watcher.send({ type: 'presence.subscribe', user_ids: [bob.id] });
    await watcher.waitForFrame((frame) => frame.type === 'presence');

    const onA = await openReadySocket(a.wsUrl, bob.token);
    await waitForStatus(watcher, bob.id, 'online');
    const onB = await openReadySocket(b.wsUrl, bob.token);
    await onA.close();
    await settle(GRACE_MS + 300);
    expect(statusesOf(watcher, bob.id).slice(-1)).toEqual(['online']);

    await onB.close();
    await waitForStatus(watcher, bob.id, 'offline');
    await watcher.close();
  });

  test('manual away set on one node reaches the other', async () => {
    const watcher = await openReadySocket(a.wsUrl, alice.token);
    const device = await openReadySocket(b.wsUrl, bob.token);
    watcher.send({ type: 'presence.subscribe', user_ids: [bob.id] });
    await waitForStatus(watcher, bob.id, 'online');

    await bob.api.patch('/api/presence/me', { manual_status: 'away' });
    await waitForStatus(watcher, bob.id, 'away');
    await bob.api.patch('/api/presence/me', { manual_status: null });
    await waitForStatus(watcher, bob.id, 'online');
    await device.close();
    await watcher.close();
  });

  test('notification reaches a socket on the other node', async () => {
    const reader = await openReadySocket(b.wsUrl, bob.token);
    await settle(100);
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${channelId}/messages`, { text: `@${bob.username} across nodes` });
    const frame = await reader.waitForFrame((candidate) => candidate.type === 'notification');
    expect(frame.notification).toMatchObject({ id: message.id, reason: 'mention', conversation_id: channelId });
    await reader.close();
  });

  test('typing crosses nodes', async () => {
    const typist = await openReadySocket(a.wsUrl, alice.token);
    const reader = await openReadySocket(b.wsUrl, bob.token);
    await settle(100);
    typist.send({ type: 'typing', conversation_id: channelId });
    const frame = await reader.waitForFrame((candidate) => candidate.type === 'typing');
    expect(frame).toMatchObject({ conversation_id: channelId, user_id: alice.id, active: true });
    await typist.close();
    await reader.waitForFrame((candidate) => candidate.type === 'typing' && candidate.active === false);
    await reader.close();
  });
});

describe.skipIf(!redisReachable)('stopped node', () => {
  // The server only provides storage (SQLite, or a PostgreSQL schema of its own); the presence below is separate.
  let host: TestServer;
  let storage: Storage;
  const prefix = `cbtest:${randomBytes(6).toString('hex')}:`;

  beforeAll(async () => {
    host = await startServer();
    storage = host.server.ctx.storage;
  });
  afterAll(async () => {
    await host.close();
    await deleteRedisKeys(REDIS_URL, prefix);
  }, 60_000);

  test('sockets of a stopped node stop counting', async () => {
    const redis = openRedis(REDIS_URL);
    await redis.connect();
    const userId = '11111111-1111-4111-8111-111111111111';
    const presenceKey = `${prefix}presence:`;
    // A node that counted one socket of the user and stopped renewing its entry a minute ago.
    await redis.hset(`${presenceKey}u:${userId}`, { 'n:deadnode': '1', v: '1', status: 'online', since: String(Date.now() - 60_000), active: String(Date.now() - 60_000) });
    await redis.sadd(`${presenceKey}node:deadnode`, userId);
    await redis.zadd(`${presenceKey}nodes`, Date.now() - 60_000, 'deadnode');

    const config = buildConfig({ presence: { offlineGraceMs: 200 } });
    const views: PresenceView[] = [];
    const survivor = new RedisPresence({
      url: REDIS_URL,
      keyPrefix: prefix,
      client: redis,
      config: config.presence,
      store: storagePresenceStore(storage.db),
      logger: createLogger('silent'),
      heartbeatMs: 100,
      nodeTimeoutMs: 1000,
    });
    survivor.onChange((changed) => views.push(...changed));
    try {
      await waitUntil(() => views.some((view) => view.user_id === userId && view.status === 'offline'), 5000, 'the user to go offline');
      expect(await redis.zscore(`${presenceKey}nodes`, 'deadnode')).toBeNull();
      expect(await redis.exists(`${presenceKey}node:deadnode`)).toBe(0);
      expect((await survivor.deliveryStates([userId])).get(userId)).toEqual({ connected: false, active: false });
    } finally {
      await survivor.close();
      redis.disconnect();
    }
  });
});
