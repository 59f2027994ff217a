import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { expectError } from '../helpers/assertions.js';
import { settle, waitUntil } from '../helpers/realtime.js';
import { removeDataDir, startServer, type TestServer } from '../helpers/server.js';
import { openFrameSocket, openReadySocket, type Frame, type FrameSocket } from '../helpers/sockets.js';

const IDLE_MS = 800;
const GRACE_MS = 400;
const BATCH_MS = 50;

interface View {
  user_id: string;
  status: string;
  since: number;
  last_active_at: number | null;
  dnd_until: number | null;
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ presence: { idleTimeoutMs: IDLE_MS, offlineGraceMs: GRACE_MS, batchIntervalMs: BATCH_MS, maxWatchedUsers: 5 } });
});
afterAll(async () => server.close());

/** Lists every view of one user that the socket received, in order. */
function viewsOf(socket: FrameSocket, userId: string): View[] {
  return socket.framesOf('presence').flatMap((frame) => (frame.users as View[]).filter((view) => view.user_id === userId));
}

function statusesOf(socket: FrameSocket, userId: string): string[] {
  return viewsOf(socket, userId).map((view) => view.status);
}

async function waitForStatus(socket: FrameSocket, userId: string, status: string, timeoutMs = 5000): Promise<View> {
  await waitUntil(() => viewsOf(socket, userId).at(-1)?.status === status, timeoutMs, `${userId} to show as ${status}`);
  return viewsOf(socket, userId).at(-1) as View;
}

/** Opens a socket for `watcher` that subscribes to `users` and waits for the snapshot. */
async function watch(watcher: TestUser, users: TestUser[]): Promise<FrameSocket> {
  const socket = await openReadySocket(server.wsUrl, watcher.token);
  socket.send({ type: 'presence.subscribe', user_ids: users.map((user) => user.id) });
  await socket.waitForFrame((frame) => frame.type === 'presence', 5000, 'the presence snapshot');
  return socket;
}

async function pair(): Promise<{ alice: TestUser; bob: TestUser; carol: TestUser; teamId: string }> {
  const alice = await buildUser(server.url, 'alice');
  const bob = await buildUser(server.url, 'bob');
  const carol = await buildUser(server.url, 'carol');
  const team = await buildTeam(alice, [bob, carol]);
  return { alice, bob, carol, teamId: team.id };
}

describe('presence over sockets', () => {
  test('snapshot shows a connected user online', async () => {
    const { alice, bob } = await pair();
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    const aliceSocket = await watch(alice, [bob]);

    const view = viewsOf(aliceSocket, bob.id)[0];
    expect(view?.status).toBe('online');
    expect(view?.last_active_at).toBeGreaterThan(Date.now() - 5000);
    await bobSocket.close();
    await aliceSocket.close();
  });

  test('connect, then offline after the grace period', async () => {
    const { alice, bob } = await pair();
    const aliceSocket = await watch(alice, [bob]);
    expect(statusesOf(aliceSocket, bob.id)).toEqual(['offline']);

    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    await waitForStatus(aliceSocket, bob.id, 'online');
    const closedAt = Date.now();
    await bobSocket.close();

    await settle(GRACE_MS / 2);
    expect(statusesOf(aliceSocket, bob.id)).toEqual(['offline', 'online']);
    await waitForStatus(aliceSocket, bob.id, 'offline');
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(GRACE_MS);
    await aliceSocket.close();
  });

  test('reconnect within grace does not flicker', async () => {
    const { alice, bob } = await pair();
    const first = await openReadySocket(server.wsUrl, bob.token);
    const aliceSocket = await watch(alice, [bob]);
    await first.close();
    const second = await openReadySocket(server.wsUrl, bob.token);

    await settle(GRACE_MS + 300);
    // A repeated 'online' view was seen under load with Redis presence, which is harmless.
    // What must never appear is 'offline'.
    expect(statusesOf(aliceSocket, bob.id)).not.toContain('offline');
    expect(statusesOf(aliceSocket, bob.id).at(-1)).toBe('online');
    await second.close();
    await aliceSocket.close();
  });

  test('one of two devices leaving keeps the user online', async () => {
    const { alice, bob } = await pair();
    const laptop = await openReadySocket(server.wsUrl, bob.token);
    const phone = await openReadySocket(server.wsUrl, bob.token);
    const aliceSocket = await watch(alice, [bob]);

    await phone.close();
    await settle(GRACE_MS + 300);
    expect(statusesOf(aliceSocket, bob.id)).not.toContain('offline');

    await laptop.close();
    await waitForStatus(aliceSocket, bob.id, 'offline');
    await aliceSocket.close();
  });

  test('idle device turns away, activity brings it back', async () => {
    const { alice, bob } = await pair();
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    const aliceSocket = await watch(alice, [bob]);

    const away = await waitForStatus(aliceSocket, bob.id, 'away', IDLE_MS * 4);
    expect(away.since - (viewsOf(aliceSocket, bob.id)[0]?.last_active_at ?? 0)).toBeGreaterThanOrEqual(IDLE_MS - 50);

    bobSocket.send({ type: 'activity' });
    const online = await waitForStatus(aliceSocket, bob.id, 'online');
    expect(online.last_active_at).toBeGreaterThan(away.since - 1);
    await bobSocket.close();
    await aliceSocket.close();
  });

  test('activity on a second device keeps the user online', async () => {
    const { alice, bob } = await pair();
    const idle = await openReadySocket(server.wsUrl, bob.token);
    const busy = await openReadySocket(server.wsUrl, bob.token);
    const aliceSocket = await watch(alice, [bob]);

    const keepBusy = setInterval(() => busy.send({ type: 'activity' }), IDLE_MS / 4);
    await settle(IDLE_MS * 2);
    clearInterval(keepBusy);
    expect(statusesOf(aliceSocket, bob.id)).toEqual(['online']);
    await idle.close();
    await busy.close();
    await aliceSocket.close();
  });

  test('manual away and back', async () => {
    const { alice, bob } = await pair();
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    const aliceSocket = await watch(alice, [bob]);

    const own = await bob.api.patch<{ status: string; manual_status: string }>('/api/presence/me', { manual_status: 'away' });
    expect(own.manual_status).toBe('away');
    expect(own.status).toBe('away');
    await waitForStatus(aliceSocket, bob.id, 'away');

    // Activity does not end an away set by hand.
    bobSocket.send({ type: 'activity' });
    await settle(200);
    expect(statusesOf(aliceSocket, bob.id)).toEqual(['online', 'away']);

    await bob.api.patch('/api/presence/me', { manual_status: null });
    await waitForStatus(aliceSocket, bob.id, 'online');
    await bobSocket.close();
    await aliceSocket.close();
  });

  test('dnd with an end time ends by itself', async () => {
    const { alice, bob } = await pair();
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    const aliceSocket = await watch(alice, [bob]);

    const until = new Date(Date.now() + 700).toISOString();
    const own = await bob.api.patch<{ status: string; dnd_until: string }>('/api/presence/me', { dnd_until: until });
    expect(own.status).toBe('dnd');
    expect(own.dnd_until).toBe(until);
    const dnd = await waitForStatus(aliceSocket, bob.id, 'dnd');
    expect(dnd.dnd_until).toBe(Date.parse(until));

    bobSocket.send({ type: 'activity' });
    const online = await waitForStatus(aliceSocket, bob.id, 'online', 3000);
    expect(online.since).toBeGreaterThanOrEqual(Date.parse(until));
    await bobSocket.close();
    await aliceSocket.close();
  });

  test('dnd schedule follows the time zone', async () => {
    const { alice, bob } = await pair();
    await bob.api.patch('/api/users/me', { time_zone: 'Asia/Tokyo' });
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    const aliceSocket = await watch(alice, [bob]);

    // A window from one hour before to one hour after the current time in Tokyo.
    const tokyoHour = Number(new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Tokyo', hour: '2-digit', hourCycle: 'h23' }).format(new Date()));
    const clock = (hour: number) => `${String((hour + 24) % 24).padStart(2, '0')}:00`;
    const schedule = { start: clock(tokyoHour - 1), end: clock(tokyoHour + 2) };
    const own = await bob.api.patch<{ status: string; dnd_schedule: { days: number[] } }>('/api/presence/me', { dnd_schedule: schedule });
    expect(own.status).toBe('dnd');
    expect(own.dnd_schedule.days).toEqual([0, 1, 2, 3, 4, 5, 6]);
    await waitForStatus(aliceSocket, bob.id, 'dnd');

    // Twelve hours away from Tokyo, the same local window is closed.
    await bob.api.patch('/api/users/me', { time_zone: 'America/Puerto_Rico' });
    await waitForStatus(aliceSocket, bob.id, 'online');
    await bobSocket.close();
    await aliceSocket.close();
  });

  test('watcher receives only watched users', async () => {
    const { alice, bob, carol } = await pair();
    const aliceSocket = await watch(alice, [bob]);
    const carolSocket = await openReadySocket(server.wsUrl, carol.token);
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    await waitForStatus(aliceSocket, bob.id, 'online');
    await settle(BATCH_MS * 3);

    expect(viewsOf(aliceSocket, carol.id)).toEqual([]);
    aliceSocket.send({ type: 'presence.unsubscribe', user_ids: [bob.id] });
    await settle(100);
    await bobSocket.close();
    await settle(GRACE_MS + 300);
    expect(statusesOf(aliceSocket, bob.id)).toEqual(['offline', 'online']);
    await carolSocket.close();
    await aliceSocket.close();
  });

  test('changes in one interval arrive in one frame', async () => {
    const slow = await startServer({ presence: { batchIntervalMs: 400, offlineGraceMs: GRACE_MS } });
    try {
      const alice = await buildUser(slow.url, 'alice');
      const bob = await buildUser(slow.url, 'bob');
      const carol = await buildUser(slow.url, 'carol');
      await buildTeam(alice, [bob, carol]);
      const aliceSocket = await openReadySocket(slow.wsUrl, alice.token);
      aliceSocket.send({ type: 'presence.subscribe', user_ids: [bob.id, carol.id] });
      await aliceSocket.waitForFrame((frame) => frame.type === 'presence');

      const sockets = await Promise.all([openReadySocket(slow.wsUrl, bob.token), openReadySocket(slow.wsUrl, carol.token)]);
      await waitUntil(() => aliceSocket.framesOf('presence').length >= 2, 3000, 'the batch');
      await settle(450);
      const batches = aliceSocket.framesOf('presence').slice(1);
      expect(batches).toHaveLength(1);
      expect((batches[0]?.users as View[]).map((view) => view.user_id).sort()).toEqual([bob.id, carol.id].sort());
      for (const socket of [...sockets, aliceSocket]) await socket.close();
    } finally {
      await slow.close();
    }
  });

  test('last activity is kept across a restart', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-presence-'));
    let again: TestServer | undefined;
    try {
      const first = await startServer({ dataDir, presence: { offlineGraceMs: 100 } });
      const alice = await buildUser(first.url, 'alice');
      const bob = await buildUser(first.url, 'bob');
      await buildTeam(alice, [bob]);
      const bobSocket = await openReadySocket(first.wsUrl, bob.token);
      bobSocket.send({ type: 'activity' });
      await bobSocket.close();
      let lastActive: string | null = null;
      await waitForAsync(async () => {
        const { users } = await alice.api.get<{ users: Array<{ status: string; last_active_at: string | null }> }>(`/api/presence?user_ids=${bob.id}`);
        lastActive = users[0]?.status === 'offline' ? (users[0]?.last_active_at ?? null) : null;
        return lastActive !== null;
      });
      await first.close();

      again = await startServer({ dataDir });
      const api = new ApiClient(again.url, alice.token);
      const { users } = await api.get<{ users: Array<{ status: string; last_active_at: string | null }> }>(`/api/presence?user_ids=${bob.id}`);
      expect(users[0]?.status).toBe('offline');
      expect(users[0]?.last_active_at).toBe(lastActive);
    } finally {
      await again?.close();
      await removeDataDir(dataDir);
    }
  });
});

describe('presence subscriptions and access', () => {
  test('users of other teams are unavailable', async () => {
    const { alice } = await pair();
    const outsider = await buildUser(server.url, 'dave');
    await buildTeam(outsider);
    const socket = await openReadySocket(server.wsUrl, alice.token);
    const unknown = '00000000-0000-4000-8000-000000000000';
    socket.send({ type: 'presence.subscribe', user_ids: [outsider.id, unknown, alice.id] });
    const frame = await socket.waitForFrame((candidate) => candidate.type === 'presence');

    expect((frame.unavailable as string[]).sort()).toEqual([outsider.id, unknown].sort());
    expect((frame.users as View[]).map((view) => view.user_id)).toEqual([alice.id]);
    await socket.close();
  });

  test('removed teammate is dropped from watching', async () => {
    const { alice, bob, teamId } = await pair();
    const aliceSocket = await watch(alice, [bob]);

    await alice.api.delete(`/api/teams/${teamId}/members/${bob.id}`);
    const dropped = await aliceSocket.waitForFrame((frame) => frame.type === 'presence' && Array.isArray(frame.unavailable));
    expect(dropped.unavailable).toEqual([bob.id]);

    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    await settle(BATCH_MS * 4);
    expect(statusesOf(aliceSocket, bob.id)).toEqual(['offline']);
    await bobSocket.close();
    await aliceSocket.close();
  });

  test('subscribe limit is enforced', async () => {
    const { alice, bob } = await pair();
    const socket = await openReadySocket(server.wsUrl, alice.token);
    const ids = [bob.id, ...Array.from({ length: 5 }, (_unused, index) => `00000000-0000-4000-8000-00000000000${index}`)];
    socket.send({ type: 'presence.subscribe', id: 9, user_ids: ids });
    const error = await socket.waitForFrame((frame) => frame.type === 'error');
    expect(error.id).toBe(9);
    expect((error.error as { code: string; field: string; max: number })).toMatchObject({ code: 'VALIDATION_FAILED', field: 'user_ids', max: 5 });
    await socket.close();
  });

  test.each([
    ['user_ids missing', { type: 'presence.subscribe' }, 'user_ids'],
    ['user_ids empty', { type: 'presence.subscribe', user_ids: [] }, 'user_ids'],
    ['user id invalid', { type: 'presence.subscribe', user_ids: ['nope'] }, 'user_ids/0'],
    ['unknown field', { type: 'presence.unsubscribe', user_ids: ['00000000-0000-4000-8000-000000000000'], extra: 1 }, 'extra'],
    ['activity with a field', { type: 'activity', busy: true }, 'busy'],
    ['typing without conversation', { type: 'typing' }, 'conversation_id'],
  ])('invalid frame: %s', async (_name, frame, field) => {
    const { alice } = await pair();
    const socket = await openReadySocket(server.wsUrl, alice.token);
    socket.send(frame);
    const error = await socket.waitForFrame((candidate) => candidate.type === 'error');
    expect(error.error as { code: string; field: string }).toMatchObject({ code: 'VALIDATION_FAILED', field });
    await socket.close();
  });

  test('presence frame before hello is rejected', async () => {
    const { alice } = await pair();
    const socket = await openFrameSocket(server.wsUrl, { headers: { authorization: `Bearer ${alice.token}` } });
    socket.send({ type: 'presence.subscribe', id: 'early', user_ids: [alice.id] });
    const error = await socket.waitForFrame((frame: Frame) => frame.type === 'error');
    expect(error.id).toBe('early');
    expect((error.error as { field: string }).field).toBe('type');

    // Like a post sent too early, it does not end the connection.
    socket.send({ type: 'hello', positions: {} });
    await socket.waitForFrame((frame: Frame) => frame.type === 'ready');
    await socket.close();
  });
});

describe('presence routes', () => {
  test('routes need a session', async () => {
    const anonymous = new ApiClient(server.url);
    expectError(await anonymous.raw('GET', '/api/presence/me'), 401, 'UNAUTHENTICATED');
    expectError(await anonymous.raw('PATCH', '/api/presence/me', { manual_status: 'away' }), 401, 'UNAUTHENTICATED');
    expectError(await anonymous.raw('GET', `/api/presence?user_ids=00000000-0000-4000-8000-000000000000`), 401, 'UNAUTHENTICATED');
  });

  test('own presence defaults', async () => {
    const { alice } = await pair();
    const own = await alice.api.get<Record<string, unknown>>('/api/presence/me');
    expect(own).toMatchObject({ user_id: alice.id, status: 'offline', manual_status: null, dnd_until: null, dnd_schedule: null, time_zone: 'UTC' });
  });

  test.each([
    ['empty body', {}, 'body'],
    ['unknown status', { manual_status: 'busy' }, 'manual_status'],
    ['bad time', { dnd_until: 'tomorrow' }, 'dnd_until'],
    ['bad schedule hour', { dnd_schedule: { start: '25:00', end: '07:00' } }, 'dnd_schedule/start'],
    ['bad schedule day', { dnd_schedule: { start: '22:00', end: '07:00', days: [7] } }, 'dnd_schedule/days/0'],
    ['empty schedule window', { dnd_schedule: { start: '22:00', end: '22:00' } }, 'dnd_schedule/end'],
    ['unknown field', { status: 'away' }, 'status'],
  ])('invalid update: %s', async (_name, body, field) => {
    const { alice } = await pair();
    const response = await alice.api.raw('PATCH', '/api/presence/me', body);
    expect(response.status).toBe(400);
    expect((response.body as { error: { field: string } }).error.field).toBe(field);
  });

  test('query returns teammates and omits outsiders', async () => {
    const { alice, bob } = await pair();
    const outsider = await buildUser(server.url, 'erin');
    const { users } = await alice.api.get<{ users: Array<{ user_id: string }> }>(`/api/presence?user_ids=${bob.id},${outsider.id}`);
    expect(users.map((user) => user.user_id)).toEqual([bob.id]);
    expectError(await alice.api.raw('GET', '/api/presence?user_ids=nope'), 400, 'VALIDATION_FAILED', 'user_ids');
  });
});

async function waitForAsync(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms`);
    await settle(50);
  }
}
