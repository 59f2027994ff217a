import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import type { PushMessage, PushRegistration, PushResult, PushSender } from '../../src/notifications/push/sender.js';
import { AppError } from '../../src/platform/errors.js';
import type { PushSubscriptionRow } from '../../src/storage/schema.js';
import { expectError } from '../helpers/assertions.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { countPendingJobs, waitForJobsIdle } from '../helpers/jobs.js';
import { TestPushService, type PushDevice } from '../helpers/push-service.js';
import { settle, waitUntil } from '../helpers/realtime.js';
import { removeDataDir, startServer, type TestServer } from '../helpers/server.js';

const SUBJECT = 'mailto:ops@chatterbox.test';
let pushService: TestPushService;
let server: TestServer;

/** Settings of a server that may push to the test push service. */
function pushSettings(extra: Record<string, unknown> = {}) {
  return {
    push: { allowedAddresses: ['127.0.0.1'], caFile: pushService.caFile, vapidSubject: SUBJECT, ...extra },
    jobs: { pollIntervalMs: 100, retryBaseDelayMs: 100, retryMaxDelayMs: 300 },
  };
}

beforeAll(async () => {
  pushService = await TestPushService.start();
  server = await startServer(pushSettings());
});
afterAll(async () => {
  await server.close();
  await pushService.close();
});

async function subscribe(user: TestUser, device: PushDevice): Promise<{ id: string }> {
  return user.api.post<{ id: string }>('/api/push/subscriptions', { endpoint: device.endpoint, keys: device.keys, expiration_time: null });
}

/** Alice and Bob share a team; Bob has a push device and no socket. */
async function buildPair(target: TestServer = server): Promise<{ alice: TestUser; bob: TestUser; teamId: string; generalId: string; device: PushDevice; subscriptionId: string }> {
  const alice = await buildUser(target.url, 'alice');
  const bob = await buildUser(target.url, 'bob');
  const team = await buildTeam(alice, [bob]);
  const device = pushService.createDevice();
  const { id } = await subscribe(bob, device);
  return { alice, bob, teamId: team.id, generalId: team.generalId, device, subscriptionId: id };
}

function post(user: Pick<TestUser, 'api'>, conversationId: string, text: string) {
  return user.api.post<{ id: string; seq: number }>(`/api/conversations/${conversationId}/messages`, { text });
}

describe('web push delivery', () => {
  test('payload decrypts with the device keys', async () => {
    const { alice, bob, generalId, device, teamId } = await buildPair();
    const message = await post(alice, generalId, `@${bob.username} the build is green`);
    await waitUntil(() => device.received.length === 1, 5000, 'the push');

    expect(device.errors).toEqual([]);
    const push = device.received[0]!;
    expect(push.payload).toMatchObject({
      id: message.id,
      reason: 'mention',
      team_id: teamId,
      conversation_id: generalId,
      conversation_kind: 'public',
      conversation_name: 'general',
      message_id: message.id,
      thread_root_id: null,
      author: { id: alice.id, username: alice.username },
      preview: `@${bob.username} the build is green`,
      badge: 1,
    });
    expect(push.headers['content-encoding']).toBe('aes128gcm');
    expect(push.headers.urgency).toBe('high');
    expect(push.headers.ttl).toBe('86400');
    expect(push.headers.topic).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const { public_key: publicKey } = await bob.api.get<{ public_key: string }>('/api/push/vapid-public-key');
    expect(push.vapidPublicKey).toBe(publicKey);
    expect(push.vapidClaims.sub).toBe(SUBJECT);
    expect(push.vapidClaims.aud).toBe(pushService.origin);
  });

  test('badge follows the read state', async () => {
    const { alice, bob, teamId, device } = await buildPair();
    const dm = await alice.api.post<{ id: string }>(`/api/teams/${teamId}/dms`, { user_ids: [bob.id] });
    await post(alice, dm.id, 'one');
    await waitUntil(() => device.received.length === 1, 5000, 'the first push');
    await post(alice, dm.id, 'two');
    await waitUntil(() => device.received.length === 2, 5000, 'the second push');
    await waitForJobsIdle(server);

    const sidebar = await bob.api.get<{ conversations: Array<{ conversation_id: string; unread_count: number }> }>('/api/sidebar');
    const unread = sidebar.conversations.find((row) => row.conversation_id === dm.id)?.unread_count;
    expect(unread).toBe(2);
    expect((await bob.api.get<{ badge: number }>('/api/notifications/badge')).badge).toBe(2);
    expect(device.received.map((push) => push.payload.badge)).toEqual([1, 2]);

    await bob.api.post(`/api/conversations/${dm.id}/read`);
    expect((await bob.api.get<{ badge: number }>('/api/notifications/badge')).badge).toBe(0);
    await post(alice, dm.id, 'three');
    await waitUntil(() => device.received.length === 3, 5000, 'the third push');
    expect(device.received[2]!.payload.badge).toBe(1);

    // A muted conversation leaves the badge.
    await bob.api.request('PUT', `/api/conversations/${dm.id}/notifications`, { muted: true });
    expect((await bob.api.get<{ badge: number }>('/api/notifications/badge')).badge).toBe(0);
  });

  test('410 removes the subscription', async () => {
    const { alice, bob, generalId, device, subscriptionId } = await buildPair();
    device.answerWith([410]);
    await post(alice, generalId, `@${bob.username} are you there`);
    await waitUntil(() => device.refused === 1, 5000, 'the refused push');
    await waitForJobsIdle(server);

    const { subscriptions } = await bob.api.get<{ subscriptions: Array<{ id: string }> }>('/api/push/subscriptions');
    expect(subscriptions.map((row) => row.id)).not.toContain(subscriptionId);
    await post(alice, generalId, `@${bob.username} still there?`);
    await waitForJobsIdle(server);
    expect(device.refused + device.received.length).toBe(1);
  });

  test('404 removes the subscription', async () => {
    const { alice, bob, generalId, device } = await buildPair();
    device.answerWith([404]);
    await post(alice, generalId, `@${bob.username} ping`);
    await waitUntil(() => device.refused === 1, 5000, 'the refused push');
    await waitForJobsIdle(server);
    expect((await bob.api.get<{ subscriptions: unknown[] }>('/api/push/subscriptions')).subscriptions).toEqual([]);
  });

  test('failures retry with backoff, then deliver once', async () => {
    const { alice, bob, generalId, device } = await buildPair();
    device.answerWith([500, 503]);
    const message = await post(alice, generalId, `@${bob.username} retry me`);
    await waitUntil(() => device.received.length === 1, 10_000, 'the push after retries');
    await waitForJobsIdle(server);
    await settle(300);

    expect(device.refused).toBe(2);
    expect(device.received).toHaveLength(1);
    const job = await server.server.ctx.storage.db.selectFrom('jobs').selectAll().where('dedupe_key', 'like', `push:${message.id}:%`).executeTakeFirstOrThrow();
    expect(job.status).toBe('done');
    expect(Number(job.attempts)).toBe(3);
  });

  test('no push while a device is active', async () => {
    const { alice, bob, generalId, device } = await buildPair();
    const { openReadySocket } = await import('../helpers/sockets.js');
    const socket = await openReadySocket(server.wsUrl, bob.token);
    const message = await post(alice, generalId, `@${bob.username} you are here`);
    const frame = await socket.waitForFrame((candidate) => candidate.type === 'notification');
    expect((frame.notification as { id: string }).id).toBe(message.id);
    await waitForJobsIdle(server);
    await settle(200);
    expect(device.received).toEqual([]);
    await socket.close();
  });

  test('ended session stops its pushes', async () => {
    const { alice, bob, generalId, device } = await buildPair();
    await bob.api.post('/api/auth/logout');
    await post(alice, generalId, `@${bob.username} after logout`);
    await waitForJobsIdle(server);
    await settle(200);
    expect(device.received).toEqual([]);
    const rows = await server.server.ctx.storage.db.selectFrom('push_subscriptions').select('id').where('user_id', '=', bob.id).execute();
    expect(rows).toEqual([]);
  });

  test('deleted message is not pushed', async () => {
    const { alice, bob, generalId, device } = await buildPair();
    device.answerWith([503]);
    const message = await post(alice, generalId, `@${bob.username} oops`);
    await waitUntil(() => device.refused === 1, 5000, 'the first attempt');
    await alice.api.delete(`/api/messages/${message.id}`);
    await waitForJobsIdle(server);
    expect(device.received).toEqual([]);
  });
});

describe('push subscriptions', () => {
  test('routes need a session', async () => {
    const anonymous = new ApiClient(server.url);
    expectError(await anonymous.raw('GET', '/api/push/subscriptions'), 401, 'UNAUTHENTICATED');
    expectError(await anonymous.raw('POST', '/api/push/subscriptions', { endpoint: 'https://127.0.0.1/x', keys: { p256dh: 'a', auth: 'b' } }), 401, 'UNAUTHENTICATED');
    expectError(await anonymous.raw('DELETE', '/api/push/subscriptions/00000000-0000-4000-8000-000000000000'), 401, 'UNAUTHENTICATED');
    expectError(await anonymous.raw('GET', '/api/push/vapid-public-key'), 401, 'UNAUTHENTICATED');
  });

  test('list and delete own subscriptions only', async () => {
    const { bob, subscriptionId } = await buildPair();
    const mallory = await buildUser(server.url, 'mallory');
    const { subscriptions } = await bob.api.get<{ subscriptions: Array<{ id: string; kind: string }> }>('/api/push/subscriptions');
    expect(subscriptions).toMatchObject([{ id: subscriptionId, kind: 'webpush' }]);
    expect((await mallory.api.get<{ subscriptions: unknown[] }>('/api/push/subscriptions')).subscriptions).toEqual([]);

    expectError(await mallory.api.raw('DELETE', `/api/push/subscriptions/${subscriptionId}`), 404, 'NOT_FOUND');
    expect((await bob.api.raw('DELETE', `/api/push/subscriptions/${subscriptionId}`)).status).toBe(204);
    expectError(await bob.api.raw('DELETE', `/api/push/subscriptions/${subscriptionId}`), 404, 'NOT_FOUND');
    expectError(await bob.api.raw('DELETE', '/api/push/subscriptions/nope'), 400, 'VALIDATION_FAILED', 'subscriptionId');
  });

  test('registering again renews, another user takes it over', async () => {
    const { bob, device, subscriptionId } = await buildPair();
    const again = await bob.api.raw('POST', '/api/push/subscriptions', { endpoint: device.endpoint, keys: device.keys });
    expect(again.status).toBe(200);
    expect((again.body as { id: string }).id).toBe(subscriptionId);

    const carol = await buildUser(server.url, 'carol');
    const taken = await carol.api.raw('POST', '/api/push/subscriptions', { endpoint: device.endpoint, keys: device.keys });
    expect((taken.body as { id: string }).id).toBe(subscriptionId);
    expect((await bob.api.get<{ subscriptions: unknown[] }>('/api/push/subscriptions')).subscriptions).toEqual([]);
  });

  test('subscription limit', { timeout: 60_000 }, async () => {
    const limited = await startServer(pushSettings({ maxSubscriptionsPerUser: 2 }));
    try {
      const user = await buildUser(limited.url, 'dora');
      for (let index = 0; index < 2; index += 1) await subscribe(user, pushService.createDevice());
      const device = pushService.createDevice();
      const response = await user.api.raw('POST', '/api/push/subscriptions', { endpoint: device.endpoint, keys: device.keys });
      expectError(response, 409, 'PUSH_SUBSCRIPTION_LIMIT');
      expect((response.body as { error: { max: number } }).error.max).toBe(2);
    } finally {
      await limited.close();
    }
  });

  test.each([
    ['plain http', 'http://push.example.test/abc', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
    ['not a URL', 'push service', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
    ['credentials in URL', 'https://user:pass@8.8.8.8/x', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
    ['private address', 'https://10.1.2.3/x', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
    ['link-local metadata address', 'https://169.254.169.254/latest', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
    ['loopback IPv6', 'https://[::1]:8443/x', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
    ['IPv4-mapped loopback', 'https://[::ffff:127.0.0.2]/x', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
    ['unique local IPv6', 'https://[fd00::1]/x', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
    ['loopback outside the allowed address', 'https://127.0.0.2/x', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
    ['loopback written as one number', 'https://2130706434/x', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
    ['private address in hex', 'https://0xa000001/x', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
    ['NAT64 form of a private address', 'https://[64:ff9b::a00:1]/x', 'PUSH_ENDPOINT_REJECTED', 'endpoint'],
  ])('endpoint rejected: %s', async (_name, endpoint, code, field) => {
    const user = await buildUser(server.url, 'eve');
    const keys = pushService.createDevice().keys;
    expectError(await user.api.raw('POST', '/api/push/subscriptions', { endpoint, keys }), 400, code, field);
  });

  test('without exceptions, loopback is rejected by address and by name', { timeout: 60_000 }, async () => {
    const strict = await startServer({ push: { caFile: pushService.caFile } });
    try {
      const user = await buildUser(strict.url, 'gus');
      const device = pushService.createDevice();
      const byName = device.endpoint.replace('127.0.0.1', 'localhost');
      for (const endpoint of [device.endpoint, byName]) {
        expectError(await user.api.raw('POST', '/api/push/subscriptions', { endpoint, keys: device.keys }), 400, 'PUSH_ENDPOINT_REJECTED', 'endpoint');
      }
    } finally {
      await strict.close();
    }
  });

  test.each([
    ['missing keys', (device: PushDevice) => ({ endpoint: device.endpoint }), 'keys'],
    ['short p256dh', (device: PushDevice) => ({ endpoint: device.endpoint, keys: { p256dh: 'AAAA', auth: device.keys.auth } }), 'keys/p256dh'],
    ['short auth', (device: PushDevice) => ({ endpoint: device.endpoint, keys: { p256dh: device.keys.p256dh, auth: 'AAAA' } }), 'keys/auth'],
    ['unknown kind', (device: PushDevice) => ({ kind: 'carrier-pigeon', endpoint: device.endpoint, keys: device.keys }), 'kind'],
    ['unknown field', (device: PushDevice) => ({ endpoint: device.endpoint, keys: device.keys, extra: true }), 'extra'],
    ['endpoint too long', (device: PushDevice) => ({ endpoint: `${device.endpoint}?${'x'.repeat(2100)}`, keys: device.keys }), 'endpoint'],
  ])('registration invalid: %s', async (_name, body, field) => {
    const user = await buildUser(server.url, 'fay');
    expectError(await user.api.raw('POST', '/api/push/subscriptions', body(pushService.createDevice())), 400, 'VALIDATION_FAILED', field);
  });

  test('endpoint is checked again at send time', { timeout: 60_000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-push-recheck-'));
    let second: TestServer | undefined;
    try {
      const first = await startServer({ dataDir, ...pushSettings() });
      const { alice, bob, generalId, device } = await buildPair(first);
      await first.close();

      // The operator withdrew the exception: the stored endpoint now points at a refused address.
      second = await startServer({ dataDir, ...pushSettings({ allowedAddresses: [] }) });
      await post(new ApiClientUser(alice, second), generalId, `@${bob.username} hello again`);
      await waitForJobsIdle(second);
      await settle(200);
      expect(device.received).toEqual([]);
      const rows = await second.server.ctx.storage.db.selectFrom('push_subscriptions').select('id').where('user_id', '=', bob.id).execute();
      expect(rows).toEqual([]);
    } finally {
      await second?.close();
      await removeDataDir(dataDir);
    }
  });
});

describe('push sender extension point', () => {
  /** A native sender kept in memory, as an APNs or FCM sender would plug in. */
  class RecordingSender implements PushSender {
    readonly kind = 'test-native';
    readonly sent: Array<{ subscription: PushSubscriptionRow; message: PushMessage }> = [];

    async validate(registration: PushRegistration): Promise<void> {
      if (!/^[0-9a-f]{64}$/.test(registration.endpoint)) throw new AppError('VALIDATION_FAILED', 'endpoint must be a 64-digit hex token', { field: 'endpoint' });
    }

    async send(subscription: PushSubscriptionRow, message: PushMessage): Promise<PushResult> {
      this.sent.push({ subscription, message });
      return { outcome: 'delivered' };
    }
  }

  test('a registered native sender delivers its kind', { timeout: 60_000 }, async () => {
    const sender = new RecordingSender();
    const native = await startServer(pushSettings(), { pushSenders: [sender] });
    try {
      const alice = await buildUser(native.url, 'alice');
      const bob = await buildUser(native.url, 'bob');
      const team = await buildTeam(alice, [bob]);
      const token = 'ab'.repeat(32);
      const created = await bob.api.raw('POST', '/api/push/subscriptions', { kind: 'test-native', endpoint: token });
      expect(created.status).toBe(201);

      const channel = await buildChannel(alice, team.id, { members: [bob] });
      await post(alice, channel.id, `@${bob.username} native`);
      await waitUntil(() => sender.sent.length === 1, 5000, 'the native push');
      expect(sender.sent[0]!.subscription.endpoint).toBe(token);
      expect(sender.sent[0]!.message.payload).toMatchObject({ reason: 'mention', conversation_id: channel.id, badge: 1 });
      await waitForJobsIdle(native);
      expect(await countPendingJobs(native)).toBe(0);
    } finally {
      await native.close();
    }
  });
});

/** A user's API client pointed at another server, for a restarted node. */
class ApiClientUser implements Pick<TestUser, 'api'> {
  readonly api: ApiClient;
  constructor(user: TestUser, target: TestServer) {
    this.api = new ApiClient(target.url, user.token);
  }
}
