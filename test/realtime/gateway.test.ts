import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { EventFrame } from '../../src/client/realtime.js';
import type { MemoryEventBus } from '../../src/realtime/event-bus.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { listen, settle, waitUntil, type Listener } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

const ALLOWED_ORIGIN = 'https://chat.example.test';
const HELLO_TIMEOUT_MS = 1000;
const MAX_FRAME_BYTES = 4096;

interface Frame {
  type: string;
  [key: string]: unknown;
}

interface RawSocket {
  ws: WebSocket;
  frames: Frame[];
  /** Resolves with the close code and reason once the socket has closed. */
  closed: Promise<{ code: number; reason: string }>;
  send(frame: unknown): void;
  waitForFrame(predicate: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
}

/** Opens a WebSocket and records every frame it receives, parsed as JSON. Rejects if the upgrade fails. */
async function openSocket(url: string, options: WebSocket.ClientOptions = {}): Promise<RawSocket> {
  const ws = new WebSocket(url, options);
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });

  return {
    ws,
    frames,
    closed,
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    waitForFrame: async (predicate, timeoutMs = 5000) => {
      await waitUntil(() => frames.some(predicate), timeoutMs, 'a matching frame');
      return frames.find(predicate) as Frame;
    },
  };
}

/** Opens a socket with a bearer token, sends hello and waits for the ready frame. */
async function openReady(url: string, token: string, positions: Record<string, number> = {}, options: WebSocket.ClientOptions = {}) {
  const socket = await openSocket(url, { ...options, headers: { authorization: `Bearer ${token}`, ...options.headers } });
  socket.send({ type: 'hello', positions });
  await socket.waitForFrame((frame) => frame.type === 'ready');
  return socket;
}

/** Attempts an upgrade and returns the HTTP status: 101 when the socket opened, else the rejection's status. */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('error', () => {});
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_request, response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    ws.once('close', () => reject(new Error('socket closed before the upgrade finished')));
  });
}

function eventsOf(listener: Listener, stream: string): EventFrame[] {
  return listener.events.filter((event) => event.stream === stream);
}

function isJoinOf(event: EventFrame, userId: string): boolean {
  return event.event === 'team.member_joined' && (event.data.user as { id: string }).id === userId;
}

function postText(user: TestUser, conversationId: string, text: string) {
  return user.api.post<{ id: string; seq: number }>(`/api/conversations/${conversationId}/messages`, { text });
}

function lastSeqOf(user: TestUser, conversationId: string): Promise<number> {
  return user.api.get<{ last_seq: number }>(`/api/conversations/${conversationId}`).then((conversation) => conversation.last_seq);
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    allowedOrigins: [ALLOWED_ORIGIN],
    ws: { helloTimeoutMs: HELLO_TIMEOUT_MS, maxFrameBytes: MAX_FRAME_BYTES },
  });
});
afterAll(async () => server.close());

describe('upgrade authentication', () => {
  let alice: TestUser;
  beforeAll(async () => {
    alice = await buildUser(server.url, 'alice');
  });

  test('no credentials is 401', async () => {
    expect(await upgradeStatus(server.wsUrl)).toBe(401);
  });

  test('bad bearer token is 401', async () => {
    expect(await upgradeStatus(server.wsUrl, { authorization: 'Bearer cbs_not_a_real_token' })).toBe(401);
    expect(await upgradeStatus(server.wsUrl, { authorization: `Basic ${alice.token}` })).toBe(401);
    expect(await upgradeStatus(server.wsUrl, { authorization: 'Bearer' })).toBe(401);
  });

  test('valid bearer token opens', async () => {
    expect(await upgradeStatus(server.wsUrl, { authorization: `Bearer ${alice.token}` })).toBe(101);
  });

  test('token in query is 400', async () => {
    expect(await upgradeStatus(`${server.wsUrl}?token=${alice.token}`)).toBe(400);
    expect(await upgradeStatus(`${server.wsUrl}?token=${alice.token}`, { authorization: `Bearer ${alice.token}` })).toBe(400);
  });

  test('unknown path is 404', async () => {
    const otherPath = server.wsUrl.replace(/\/api\/realtime$/, '/api/elsewhere');

    expect(await upgradeStatus(otherPath, { authorization: `Bearer ${alice.token}` })).toBe(404);
  });

  test('ticket works once', async () => {
    const { ticket } = await alice.api.post<{ ticket: string }>('/api/realtime/ticket');

    const first = await upgradeStatus(`${server.wsUrl}?ticket=${encodeURIComponent(ticket)}`);
    const replay = await upgradeStatus(`${server.wsUrl}?ticket=${encodeURIComponent(ticket)}`);
    const forged = await upgradeStatus(`${server.wsUrl}?ticket=cbt_forged`);

    expect(first).toBe(101);
    expect(replay).toBe(401);
    expect(forged).toBe(401);
  });

  test('ticket of revoked session is 401', async () => {
    const bob = await buildUser(server.url, 'bob');
    const { ticket } = await bob.api.post<{ ticket: string }>('/api/realtime/ticket');
    await bob.api.post('/api/auth/logout');

    expect(await upgradeStatus(`${server.wsUrl}?ticket=${encodeURIComponent(ticket)}`)).toBe(401);
  });

  test('cookie without Origin is 401', async () => {
    expect(await upgradeStatus(server.wsUrl, { cookie: `cb_session=${alice.token}` })).toBe(401);
  });

  test('cookie with own Origin opens', async () => {
    expect(await upgradeStatus(server.wsUrl, { cookie: `cb_session=${alice.token}`, origin: server.url })).toBe(101);
  });

  test('cookie with allowed Origin opens', async () => {
    expect(await upgradeStatus(server.wsUrl, { cookie: `cb_session=${alice.token}`, origin: ALLOWED_ORIGIN })).toBe(101);
  });

  test('foreign Origin is 403', async () => {
    const foreign = 'https://evil.example.test';

    expect(await upgradeStatus(server.wsUrl, { authorization: `Bearer ${alice.token}`, origin: foreign })).toBe(403);
    expect(await upgradeStatus(server.wsUrl, { cookie: `cb_session=${alice.token}`, origin: foreign })).toBe(403);
    expect(await upgradeStatus(server.wsUrl, { cookie: `cb_session=${alice.token}`, origin: 'null' })).toBe(403);
  });

  test('foreign Origin leaves ticket unspent', async () => {
    const { ticket } = await alice.api.post<{ ticket: string }>('/api/realtime/ticket');
    const url = `${server.wsUrl}?ticket=${encodeURIComponent(ticket)}`;

    expect(await upgradeStatus(url, { origin: 'https://evil.example.test' })).toBe(403);
    expect(await upgradeStatus(url, { origin: ALLOWED_ORIGIN })).toBe(101);
  });
});

describe('frames', () => {
  let alice: TestUser;
  beforeAll(async () => {
    alice = await buildUser(server.url, 'alice');
  });

  test('ready lists own streams', async () => {
    const owner = await buildUser(server.url, 'owner');
    const team = await buildTeam(owner);
    const socket = await openReady(server.wsUrl, owner.token);
    const ready = socket.frames.find((frame) => frame.type === 'ready') as Frame;
    socket.ws.close();

    expect(ready.user_id).toBe(owner.id);
    expect(ready.session_id).toBe(owner.sessionId);
    expect(Object.keys(ready.streams as object).sort()).toEqual([`c:${team.generalId}`, `t:${team.id}`, `u:${owner.id}`].sort());
    expect(ready.unavailable).toEqual([]);
  });

  test('ready leaves out a left team', async () => {
    const owner = await buildUser(server.url, 'owner');
    const alice = await buildUser(server.url, 'alice');
    const stayed = await buildTeam(owner, [alice]);
    const left = await buildTeam(owner, [alice]);
    const channel = await buildChannel(owner, left.id, { private: true, members: [alice] });
    const direct = await owner.api.post<{ id: string }>(`/api/teams/${left.id}/dms`, { user_ids: [alice.id] });
    await postText(owner, stayed.generalId, 'before the removal');
    await owner.api.delete(`/api/teams/${left.id}/members/${alice.id}`);

    const socket = await openReady(server.wsUrl, alice.token);
    const ready = socket.frames.find((frame) => frame.type === 'ready') as Frame;
    socket.ws.close();

    const streams = ready.streams as Record<string, number>;
    expect(Object.keys(streams).sort()).toEqual([`c:${stayed.generalId}`, `t:${stayed.id}`, `u:${alice.id}`].sort());
    expect(streams[`c:${stayed.generalId}`]).toBe(await lastSeqOf(owner, stayed.generalId));
    for (const stream of [`t:${left.id}`, `c:${left.generalId}`, `c:${channel.id}`, `c:${direct.id}`]) expect(streams, stream).not.toHaveProperty([stream]);
  });

  test('hello timeout closes 4002', async () => {
    const opened = Date.now();
    const socket = await openSocket(server.wsUrl, { headers: { authorization: `Bearer ${alice.token}` } });

    const { code } = await socket.closed;

    expect(code).toBe(4002);
    expect(Date.now() - opened).toBeGreaterThanOrEqual(HELLO_TIMEOUT_MS - 50);
  });

  test('ping does not count as hello', async () => {
    const socket = await openSocket(server.wsUrl, { headers: { authorization: `Bearer ${alice.token}` } });

    socket.send({ type: 'ping', id: 'early' });
    const pong = await socket.waitForFrame((frame) => frame.type === 'pong');
    const { code } = await socket.closed;

    expect(pong.id).toBe('early');
    expect(code).toBe(4002);
  });

  test('invalid hello closes 4400', async () => {
    const user = `u:${alice.id}`;
    const cases: Array<{ frame: unknown; code: string; field: string }> = [
      { frame: { type: 'hello', positions: [] }, code: 'VALIDATION_FAILED', field: 'positions' },
      { frame: { type: 'hello', positions: 'all' }, code: 'VALIDATION_FAILED', field: 'positions' },
      { frame: { type: 'hello', positions: { 'x:nope': 1 } }, code: 'VALIDATION_FAILED', field: 'positions/x:nope' },
      { frame: { type: 'hello', positions: { [user]: -1 } }, code: 'VALIDATION_FAILED', field: `positions/${user}` },
      { frame: { type: 'hello', positions: { [user]: 1.5 } }, code: 'VALIDATION_FAILED', field: `positions/${user}` },
      { frame: { type: 'hello', positions: { [user]: '3' } }, code: 'VALIDATION_FAILED', field: `positions/${user}` },
      { frame: { type: 'hello', positions: {}, extra: true }, code: 'VALIDATION_FAILED', field: 'extra' },
      { frame: { type: 'subscribe' }, code: 'VALIDATION_FAILED', field: 'type' },
      { frame: [1, 2], code: 'VALIDATION_FAILED', field: 'frame' },
      { frame: '{"type":"hello"', code: 'INVALID_JSON', field: 'frame' },
    ];

    for (const { frame, code, field } of cases) {
      const socket = await openSocket(server.wsUrl, { headers: { authorization: `Bearer ${alice.token}` } });
      socket.send(frame);
      const closed = await socket.closed;
      const label = JSON.stringify(frame);

      expect(socket.frames, label).toHaveLength(1);
      expect(socket.frames[0]?.type, label).toBe('error');
      expect((socket.frames[0]?.error as { code: string }).code, label).toBe(code);
      expect((socket.frames[0]?.error as { field: string }).field, label).toBe(field);
      expect(closed.code, label).toBe(4400);
    }
  });

  test('binary hello closes 4400', async () => {
    const socket = await openSocket(server.wsUrl, { headers: { authorization: `Bearer ${alice.token}` } });

    socket.ws.send(Buffer.from(JSON.stringify({ type: 'hello', positions: {} })), { binary: true });
    const closed = await socket.closed;

    expect((socket.frames[0]?.error as { field: string }).field).toBe('frame');
    expect(closed.code).toBe(4400);
  });

  test('ping answered with pong', async () => {
    const socket = await openReady(server.wsUrl, alice.token);

    socket.send({ type: 'ping', id: 'abc' });
    socket.send({ type: 'ping', id: 7 });
    socket.send({ type: 'ping' });
    await waitUntil(() => socket.frames.filter((frame) => frame.type === 'pong').length === 3);
    socket.ws.close();

    const pongs = socket.frames.filter((frame) => frame.type === 'pong');
    expect(pongs).toEqual([{ type: 'pong', id: 'abc' }, { type: 'pong', id: 7 }, { type: 'pong' }]);
  });

  test('second hello rejected, socket kept', async () => {
    const socket = await openReady(server.wsUrl, alice.token);

    socket.send({ type: 'hello', positions: {} });
    const error = await socket.waitForFrame((frame) => frame.type === 'error');
    socket.send({ type: 'ping', id: 'still-open' });
    await socket.waitForFrame((frame) => frame.type === 'pong');
    socket.ws.close();

    expect((error.error as { field: string }).field).toBe('type');
  });

  test('oversized frame closes 1009', async () => {
    const socket = await openReady(server.wsUrl, alice.token);

    socket.send({ type: 'ping', id: 'x'.repeat(MAX_FRAME_BYTES) });
    const closed = await socket.closed;

    expect(closed.code).toBe(1009);
  });

  test('frame at limit accepted', async () => {
    const socket = await openReady(server.wsUrl, alice.token);
    const envelope = JSON.stringify({ type: 'ping', id: '' }).length;

    socket.send({ type: 'ping', id: 'y'.repeat(MAX_FRAME_BYTES - envelope) });
    const pong = await socket.waitForFrame((frame) => frame.type === 'pong');
    socket.ws.close();

    expect((pong.id as string).length).toBe(MAX_FRAME_BYTES - envelope);
  });
});

describe('session revocation', () => {
  test('logout closes 4001 within 1 s', async () => {
    const alice = await buildUser(server.url, 'alice');
    const socket = await listen(server.wsUrl, alice.token);

    await alice.api.post('/api/auth/logout');
    const loggedOut = Date.now();
    await waitUntil(() => socket.closes.length > 0, 1000, 'the socket to close');
    const closedAfterMs = Date.now() - loggedOut;
    await settle();

    expect(socket.closes.map((close) => close.code)).toEqual([4001]);
    expect(closedAfterMs).toBeLessThanOrEqual(1000);
    expect(socket.client.connections).toBe(1);
  });

  test('logout before hello closes 4001', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const socket = await openSocket(server.wsUrl, { headers: { authorization: `Bearer ${alice.token}` } });

    await alice.api.post('/api/auth/logout');
    socket.send({ type: 'hello', positions: {} });
    await postText(bob, team.generalId, 'after alice logged out');
    const closed = await socket.closed;

    expect(closed.code).toBe(4001);
    expect(socket.frames.filter((frame) => frame.type === 'event')).toEqual([]);
  });

  test('logout spares other sessions', async () => {
    const alice = await buildUser(server.url, 'alice');
    const login = await alice.api.post<{ token: string }>('/api/auth/login', { login: alice.username, password: 'correct horse battery' });
    const current = await listen(server.wsUrl, alice.token);
    const other = await listen(server.wsUrl, login.token);

    await alice.api.post('/api/auth/logout');
    await waitUntil(() => current.closes.length > 0, 1000, 'the logged-out socket to close');
    await settle();
    const otherOpen = other.client.isOpen;
    other.client.stop();

    expect(current.closes.map((close) => close.code)).toEqual([4001]);
    expect(otherOpen).toBe(true);
    expect(other.closes).toEqual([]);
  });

  test('password change closes other sessions', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    const login = await alice.api.post<{ token: string }>('/api/auth/login', { login: alice.username, password: 'correct horse battery' });
    const current = await listen(server.wsUrl, alice.token);
    const other = await listen(server.wsUrl, login.token);

    await alice.api.post('/api/users/me/password', { current_password: 'correct horse battery', new_password: 'a newer passphrase' });
    await waitUntil(() => other.closes.length > 0, 1000, 'the other session socket to close');
    const posted = await postText(alice, team.generalId, 'still here');
    await current.waitFor((events) => events.some((event) => (event.data.message as { id: string } | undefined)?.id === posted.id));
    const currentOpen = current.client.isOpen;
    current.client.stop();

    expect(other.closes.map((close) => close.code)).toEqual([4001]);
    expect(currentOpen).toBe(true);
    expect(current.closes).toEqual([]);
    expect(await upgradeStatus(server.wsUrl, { authorization: `Bearer ${login.token}` })).toBe(401);
  });
});

describe('membership changes', () => {
  test('removed channel member stops receiving', async () => {
    const owner = await buildUser(server.url, 'owner');
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(owner, [alice, bob]);
    const channel = await buildChannel(owner, team.id, { members: [alice, bob] });
    const stream = `c:${channel.id}`;
    const aliceSocket = await listen(server.wsUrl, alice.token);
    const bobSocket = await listen(server.wsUrl, bob.token);
    const before = await postText(owner, channel.id, 'before removal');
    await aliceSocket.waitFor((events) => events.some((event) => event.seq === before.seq && event.stream === stream));

    await owner.api.delete(`/api/conversations/${channel.id}/members/${alice.id}`);
    await aliceSocket.waitFor((events) => events.some((event) => event.event === 'conversation.left'));
    const after = await postText(owner, channel.id, 'after removal');
    await bobSocket.waitFor((events) => events.some((event) => event.stream === stream && event.seq === after.seq));
    await settle();
    aliceSocket.client.stop();
    bobSocket.client.stop();

    const aliceChannelEvents = eventsOf(aliceSocket, stream);
    expect(aliceChannelEvents.at(-1)?.event).toBe('member.left');
    expect(aliceChannelEvents.at(-1)?.data.user_id).toBe(alice.id);
    expect(aliceChannelEvents.some((event) => event.seq >= after.seq)).toBe(false);
  });

  test('removed team member stops receiving', async () => {
    const owner = await buildUser(server.url, 'owner');
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(owner, [alice, bob]);
    const channel = await buildChannel(owner, team.id, { members: [alice, bob] });
    const direct = await owner.api.post<{ id: string }>(`/api/teams/${team.id}/dms`, { user_ids: [alice.id, bob.id] });
    const aliceSocket = await listen(server.wsUrl, alice.token);
    const bobSocket = await listen(server.wsUrl, bob.token);

    await owner.api.delete(`/api/teams/${team.id}/members/${alice.id}`);
    await aliceSocket.waitFor((events) => events.some((event) => event.event === 'team.left'));
    const inGeneral = await postText(owner, team.generalId, 'general after removal');
    const inChannel = await postText(owner, channel.id, 'channel after removal');
    const inDirect = await postText(owner, direct.id, 'group DM after removal');
    const newcomer = await buildUser(server.url, 'carol');
    await owner.api.post(`/api/teams/${team.id}/members`, { user_id: newcomer.id });
    await bobSocket.waitFor((events) => events.filter((event) => event.event === 'message.posted').length === 3);
    await bobSocket.waitFor((events) => events.some((event) => isJoinOf(event, newcomer.id)));
    await settle();
    aliceSocket.client.stop();
    bobSocket.client.stop();

    const leaked = aliceSocket.events.filter((event) => event.event === 'message.posted' || isJoinOf(event, newcomer.id));
    expect(leaked).toEqual([]);
    expect(eventsOf(aliceSocket, `c:${team.generalId}`).some((event) => event.seq >= inGeneral.seq)).toBe(false);
    expect(eventsOf(aliceSocket, `c:${channel.id}`).some((event) => event.seq >= inChannel.seq)).toBe(false);
    expect(eventsOf(aliceSocket, `c:${direct.id}`).some((event) => event.seq >= inDirect.seq)).toBe(false);
  });

  test('added team member receives general', async () => {
    const owner = await buildUser(server.url, 'owner');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(owner);
    const bobSocket = await listen(server.wsUrl, bob.token);

    await owner.api.post(`/api/teams/${team.id}/members`, { user_id: bob.id });
    await bobSocket.waitFor((events) => events.some((event) => event.event === 'conversation.joined'));
    const posted = await postText(owner, team.generalId, 'welcome to the team');
    await bobSocket.waitFor((events) => events.some((event) => event.stream === `c:${team.generalId}` && event.seq === posted.seq));
    bobSocket.client.stop();

    expect(eventsOf(bobSocket, `u:${bob.id}`).map((event) => event.event)).toEqual(['team.joined', 'conversation.joined']);
    expect(eventsOf(bobSocket, `c:${team.generalId}`).map((event) => event.event)).toEqual(['member.joined', 'message.posted']);
    expect(bobSocket.client.connections).toBe(1);
  });

  test('joined channel delivers without reconnect', async () => {
    const owner = await buildUser(server.url, 'owner');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(owner, [bob]);
    const channel = await buildChannel(owner, team.id);
    const stream = `c:${channel.id}`;
    const bobSocket = await listen(server.wsUrl, bob.token);
    await postText(owner, channel.id, 'before bob joined');

    await bob.api.post(`/api/conversations/${channel.id}/join`);
    await bobSocket.waitFor((events) => events.some((event) => event.event === 'conversation.joined'));
    const after = await postText(owner, channel.id, 'after bob joined');
    await bobSocket.waitFor((events) => events.some((event) => event.stream === stream && event.seq === after.seq));
    bobSocket.client.stop();

    const channelEvents = eventsOf(bobSocket, stream);
    expect(channelEvents.map((event) => event.event)).toEqual(['member.joined', 'message.posted']);
    expect(channelEvents[0]?.data.user_id).toBe(bob.id);
    expect(channelEvents[1]?.seq).toBe((channelEvents[0]?.seq ?? 0) + 1);
    expect(bobSocket.client.connections).toBe(1);
  });

  test('invited member delivers without reconnect', async () => {
    const owner = await buildUser(server.url, 'owner');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(owner, [bob]);
    const channel = await buildChannel(owner, team.id, { private: true });
    const stream = `c:${channel.id}`;
    const bobSocket = await listen(server.wsUrl, bob.token);

    await owner.api.post(`/api/conversations/${channel.id}/members`, { user_ids: [bob.id] });
    const after = await postText(owner, channel.id, 'welcome, bob');
    await bobSocket.waitFor((events) => events.some((event) => event.stream === stream && event.seq === after.seq));
    bobSocket.client.stop();

    expect(eventsOf(bobSocket, stream).map((event) => event.event)).toEqual(['member.joined', 'message.posted']);
    expect(bobSocket.client.connections).toBe(1);
  });
});

test('events arrive in seq order without gaps', async () => {
  const owner = await buildUser(server.url, 'owner');
  const posters = await Promise.all(Array.from({ length: 4 }, () => buildUser(server.url, 'poster')));
  const team = await buildTeam(owner, posters);
  const channel = await buildChannel(owner, team.id, { members: posters });
  const listener = await listen(server.wsUrl, owner.token);
  const conversations = [team.generalId, channel.id];

  const work: Array<Promise<unknown>> = posters.map(async (poster, p) => {
    for (let i = 0; i < 10; i += 1) {
      const conversationId = conversations[i % 2] as string;
      const message = await postText(poster, conversationId, `poster ${p} post ${i}`);
      if (i % 3 === 0) await poster.api.patch(`/api/messages/${message.id}`, { text: `poster ${p} post ${i} (edited)` });
      if (i % 4 === 0) await poster.api.post(`/api/conversations/${conversationId}/messages`, { text: 'reply', thread_root_id: message.id });
    }
  });
  const joiner = await buildUser(server.url, 'joiner');
  work.push(owner.api.post(`/api/teams/${team.id}/members`, { user_id: joiner.id }));
  await Promise.all(work);

  const heads = new Map<string, number>();
  for (const conversationId of conversations) heads.set(`c:${conversationId}`, await lastSeqOf(owner, conversationId));
  for (const [stream, head] of heads) {
    await listener.waitFor((events) => events.some((event) => event.stream === stream && event.seq === head), 10_000);
  }
  listener.client.stop();

  expect(listener.client.duplicates).toBe(0);
  expect(listener.client.gaps).toBe(0);
  for (const stream of new Set(listener.events.map((event) => event.stream))) {
    const seqs = eventsOf(listener, stream).map((event) => event.seq);
    const first = seqs[0] ?? 0;
    expect(seqs, stream).toEqual(Array.from({ length: seqs.length }, (_, i) => first + i));
  }
  for (const [stream, head] of heads) expect(eventsOf(listener, stream).at(-1)?.seq, stream).toBe(head);
});

describe('heartbeat', () => {
  const HEARTBEAT_MS = 100;
  let heartbeatServer: TestServer;
  beforeAll(async () => {
    heartbeatServer = await startServer({ ws: { heartbeatIntervalMs: HEARTBEAT_MS } });
  });
  afterAll(async () => heartbeatServer.close());

  test('silent client terminated', async () => {
    const alice = await buildUser(heartbeatServer.url, 'alice');
    const silent = await openReady(heartbeatServer.wsUrl, alice.token, {}, { autoPong: false });
    const answering = await openReady(heartbeatServer.wsUrl, alice.token);
    const opened = Date.now();

    const closed = await silent.closed;
    const closedAfterMs = Date.now() - opened;
    await settle(4 * HEARTBEAT_MS);

    // terminate() sends no close frame, so the client sees an abnormal closure.
    expect(closed.code).toBe(1006);
    expect(closedAfterMs).toBeLessThan(20 * HEARTBEAT_MS);
    expect(answering.ws.readyState).toBe(WebSocket.OPEN);
    expect(heartbeatServer.server.gateway.connectionCount).toBe(1);
    answering.ws.close();
  });
});

describe('session expiry', () => {
  const HEARTBEAT_MS = 100;
  const SESSION_TTL_MS = 2000;
  let expiringServer: TestServer;
  beforeAll(async () => {
    expiringServer = await startServer({ sessionTtlMs: SESSION_TTL_MS, ws: { heartbeatIntervalMs: HEARTBEAT_MS } });
  });
  afterAll(async () => expiringServer.close());

  test('expired session closes 4001', async () => {
    const alice = await buildUser(expiringServer.url, 'alice');
    const socket = await openReady(expiringServer.wsUrl, alice.token);
    const opened = Date.now();

    const closed = await socket.closed;
    const closedAfterMs = Date.now() - opened;

    expect(closed.code).toBe(4001);
    expect(closedAfterMs).toBeLessThan(SESSION_TTL_MS + 20 * HEARTBEAT_MS);
  });
});

describe('slow consumer', () => {
  const MAX_BUFFERED_BYTES = 64 * 1024;
  let slowServer: TestServer;
  beforeAll(async () => {
    slowServer = await startServer({ ws: { maxBufferedBytes: MAX_BUFFERED_BYTES } });
  });
  afterAll(async () => slowServer.close());

  test('stalled reader dropped with 4003', async () => {
    const alice = await buildUser(slowServer.url, 'alice');
    const bob = await buildUser(slowServer.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const bus = slowServer.server.ctx.bus as MemoryEventBus;
    const streamsBeforeBob = bus.streamCount;
    const stalled = await openReady(slowServer.wsUrl, bob.token);
    // Only Bob's socket listens to his user stream, so the count drops by one when the server drops him.
    const streamsWithBob = bus.streamCount;
    (stalled.ws as unknown as { _socket: Socket })._socket.pause();

    // Each event frame is about 160 KB of UTF-8. How much a stalled socket absorbs depends on the
    // kernel's TCP buffers, so posting goes on until the server drops the socket, for at most 400 posts (64 MB).
    const big = '😀'.repeat(40_000);
    let posts = 0;
    while (bus.streamCount === streamsWithBob && posts < 400) {
      await postText(alice, team.generalId, big);
      posts += 1;
    }
    const droppedAfterPosts = posts;
    (stalled.ws as unknown as { _socket: Socket })._socket.resume();
    const closed = await stalled.closed;

    const health = await alice.api.raw('GET', '/healthz');
    const carol = await buildUser(slowServer.url, 'carol');
    await alice.api.post(`/api/teams/${team.id}/members`, { user_id: carol.id });
    const fresh = await listen(slowServer.wsUrl, carol.token);
    const after = await postText(alice, team.generalId, 'after the drop');
    await fresh.waitFor((events) => events.some((event) => event.seq === after.seq && event.stream === `c:${team.generalId}`));
    fresh.client.stop();

    expect(streamsWithBob).toBeGreaterThan(streamsBeforeBob);
    expect(droppedAfterPosts).toBeLessThan(400);
    expect(closed.code).toBe(4003);
    expect(health.status).toBe(200);
  });
});

describe('node buffer budget', () => {
  // The per-socket limit is far above the budget, so only the node-wide budget can drop a socket.
  const BUDGET_BYTES = 256 * 1024;
  let budgetServer: TestServer;
  beforeAll(async () => {
    budgetServer = await startServer({ ws: { maxBufferedBytes: 256 * 1024 * 1024, maxTotalBufferedBytes: BUDGET_BYTES } });
  });
  afterAll(async () => budgetServer.close());

  test('stalled readers dropped past the budget', async () => {
    const alice = await buildUser(budgetServer.url, 'alice');
    const bob = await buildUser(budgetServer.url, 'bob');
    const dave = await buildUser(budgetServer.url, 'dave');
    const carol = await buildUser(budgetServer.url, 'carol');
    const team = await buildTeam(alice, [bob, dave, carol]);
    const reader = await listen(budgetServer.wsUrl, carol.token);
    const bus = budgetServer.server.ctx.bus as MemoryEventBus;
    // Each stalled user's own stream has only that user's socket, so the count falls by two when both are dropped.
    const streamsWithoutStalled = bus.streamCount;
    const stalled = [await openReady(budgetServer.wsUrl, bob.token), await openReady(budgetServer.wsUrl, dave.token)];
    const closes = stalled.map((socket) => socket.closed);
    for (const socket of stalled) (socket.ws as unknown as { _socket: Socket })._socket.pause();

    // About 160 KB of UTF-8 per event frame; the kernel's buffers absorb an unknown share first.
    const big = '😀'.repeat(40_000);
    let posts = 0;
    while (bus.streamCount > streamsWithoutStalled && posts < 400) {
      await postText(alice, team.generalId, big);
      posts += 1;
      if (posts % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 300));
    }
    for (const socket of stalled) (socket.ws as unknown as { _socket: Socket })._socket.resume();
    const closed = await Promise.all(closes);
    const last = await postText(alice, team.generalId, 'after the drops');
    await reader.waitFor((events) => events.some((event) => event.seq === last.seq && event.stream === `c:${team.generalId}`));
    reader.client.stop();

    expect(posts).toBeLessThan(400);
    expect(closed.map((entry) => entry.code)).toEqual([4003, 4003]);
    expect(reader.client.connections).toBe(1);
  });
});
