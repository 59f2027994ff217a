import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { RealtimeClient, type EventFrame, type WebSocketLike } from '../../src/client/realtime.js';
import type { Message } from '../../src/messages/schemas.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { listen, settle, waitUntil } from '../helpers/realtime.js';
import { removeDataDir, startServer, type TestServer } from '../helpers/server.js';

interface Frame {
  type: string;
  [key: string]: unknown;
}

interface HistoryPage {
  messages: Message[];
  has_more_after: boolean;
}

/** Opens a socket with a bearer token, sends hello with the given positions and records every frame. */
async function openWithPositions(wsUrl: string, token: string, positions: Record<string, number>) {
  const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'hello', positions }));
  await waitUntil(() => frames.some((frame) => frame.type === 'ready'), 5000, 'the ready frame');
  return { ws, frames, ready: frames.find((frame) => frame.type === 'ready') as Frame };
}

function postText(user: TestUser, conversationId: string, text: string): Promise<Message> {
  return user.api.post<Message>(`/api/conversations/${conversationId}/messages`, { text });
}

/** Reads a channel's whole history, oldest first, one page of 200 at a time. */
async function readAllMessageIds(api: ApiClient, conversationId: string): Promise<string[]> {
  const found: string[] = [];
  let after = 0;
  for (;;) {
    const page = await api.get<HistoryPage>(`/api/conversations/${conversationId}/messages?limit=200&after=${after}`);
    found.push(...page.messages.map((message) => message.id));
    if (!page.has_more_after) return found;
    after = page.messages.at(-1)?.seq ?? after;
  }
}

function postedIds(events: readonly EventFrame[], stream: string): string[] {
  return events
    .filter((event) => event.stream === stream && event.event === 'message.posted')
    .map((event) => (event.data.message as Message).id);
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

test('drops mid-stream lose nothing', async () => {
  const alice = await buildUser(server.url, 'alice');
  const bob = await buildUser(server.url, 'bob');
  const team = await buildTeam(alice, [bob]);
  const stream = `c:${team.generalId}`;
  const bobSocket = await listen(server.wsUrl, bob.token);

  const poster = (async () => {
    for (let i = 0; i < 300; i += 1) await postText(alice, team.generalId, `message ${i}`);
  })();
  for (const cutAt of [60, 150, 240]) {
    await bobSocket.waitFor((events) => postedIds(events, stream).length >= cutAt, 20_000);
    bobSocket.client.drop();
  }
  await poster;
  await bobSocket.waitFor((events) => postedIds(events, stream).length >= 300, 20_000);
  await settle();
  bobSocket.client.stop();

  const history = await readAllMessageIds(bob.api, team.generalId);
  const seqs = bobSocket.events.filter((event) => event.stream === stream).map((event) => event.seq);
  expect(bobSocket.client.connections).toBeGreaterThanOrEqual(4);
  expect(bobSocket.client.duplicates).toBe(0);
  expect(bobSocket.client.gaps).toBe(0);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => (seqs[0] ?? 0) + i));
  expect(history).toHaveLength(300);
  expect(postedIds(bobSocket.events, stream)).toEqual(history);
});

test('resume after restart replays stored events', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-restart-'));
  let first: TestServer | undefined = await startServer({ dataDir });
  let second: TestServer | undefined;
  try {
    const alice = await buildUser(first.url, 'alice');
    const bob = await buildUser(first.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const stream = `c:${team.generalId}`;
    let wsUrl = first.wsUrl;
    const events: EventFrame[] = [];
    const bobClient = new RealtimeClient({
      connect: () => new WebSocket(wsUrl, { headers: { authorization: `Bearer ${bob.token}` } }) as unknown as WebSocketLike,
      onEvent: (event) => events.push(event),
      maxBackoffMs: 200,
    });
    await bobClient.start();

    const live = [await postText(alice, team.generalId, 'live 1'), await postText(alice, team.generalId, 'live 2')];
    await waitUntil(() => postedIds(events, stream).length === 2);
    bobClient.stop();
    const whileAway = [await postText(alice, team.generalId, 'away 1'), await postText(alice, team.generalId, 'away 2')];
    await first.close();
    first = undefined;

    second = await startServer({ dataDir });
    const aliceAgain = new ApiClient(second.url, alice.token);
    const afterRestart = [
      await aliceAgain.post<Message>(`/api/conversations/${team.generalId}/messages`, { text: 'restarted 1' }),
      await aliceAgain.post<Message>(`/api/conversations/${team.generalId}/messages`, { text: 'restarted 2' }),
    ];
    wsUrl = second.wsUrl;
    await bobClient.start();
    await waitUntil(() => postedIds(events, stream).length === 6, 5000, 'the replayed messages');
    const liveAgain = await aliceAgain.post<Message>(`/api/conversations/${team.generalId}/messages`, { text: 'live 3' });
    await waitUntil(() => postedIds(events, stream).length === 7, 5000, 'the live message after resuming');
    bobClient.stop();

    const expected = [...live, ...whileAway, ...afterRestart, liveAgain].map((message) => message.id);
    expect(postedIds(events, stream)).toEqual(expected);
    expect(await readAllMessageIds(new ApiClient(second.url, bob.token), team.generalId)).toEqual(expected);
    expect(bobClient.duplicates).toBe(0);
    expect(bobClient.gaps).toBe(0);
  } finally {
    await first?.close();
    await second?.close();
    await removeDataDir(dataDir);
  }
});

test('reconnect follows server restart', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-restart-'));
  let first: TestServer | undefined = await startServer({ dataDir });
  let second: TestServer | undefined;
  try {
    const alice = await buildUser(first.url, 'alice');
    const bob = await buildUser(first.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const stream = `c:${team.generalId}`;
    let wsUrl = first.wsUrl;
    const events: EventFrame[] = [];
    const closes: number[] = [];
    const bobClient = new RealtimeClient({
      connect: () => new WebSocket(wsUrl, { headers: { authorization: `Bearer ${bob.token}` } }) as unknown as WebSocketLike,
      onEvent: (event) => events.push(event),
      onClose: (code) => closes.push(code),
      maxBackoffMs: 100,
    });
    await bobClient.start();
    const before = await postText(alice, team.generalId, 'before restart');
    await waitUntil(() => postedIds(events, stream).length === 1);

    await first.close();
    first = undefined;
    second = await startServer({ dataDir });
    const aliceAgain = new ApiClient(second.url, alice.token);
    const missed = await aliceAgain.post<Message>(`/api/conversations/${team.generalId}/messages`, { text: 'while reconnecting' });
    // The client keeps retrying the old address and reaches the new server once it moves there.
    wsUrl = second.wsUrl;
    await waitUntil(() => postedIds(events, stream).length === 2, 10_000, 'the message missed during the restart');
    bobClient.stop();

    expect(closes[0]).toBe(1001);
    expect(postedIds(events, stream)).toEqual([before.id, missed.id]);
    expect(bobClient.duplicates).toBe(0);
    expect(bobClient.gaps).toBe(0);
  } finally {
    await first?.close();
    await second?.close();
    await removeDataDir(dataDir);
  }
});

test('position beyond head resyncs', async () => {
  const alice = await buildUser(server.url, 'alice');
  const team = await buildTeam(alice);
  const stream = `c:${team.generalId}`;
  await postText(alice, team.generalId, 'existing');
  const head = (await alice.api.get<{ last_seq: number }>(`/api/conversations/${team.generalId}`)).last_seq;

  const socket = await openWithPositions(server.wsUrl, alice.token, { [stream]: head + 100 });
  await waitUntil(() => socket.frames.some((frame) => frame.type === 'resync'), 5000, 'the resync frame');
  const next = await postText(alice, team.generalId, 'after resync');
  await waitUntil(() => socket.frames.some((frame) => frame.type === 'event' && frame.stream === stream), 5000, 'the next event');
  socket.ws.close();

  const resync = socket.frames.find((frame) => frame.type === 'resync') as Frame;
  const event = socket.frames.find((frame) => frame.type === 'event' && frame.stream === stream) as Frame;
  expect((socket.ready.streams as Record<string, number>)[stream]).toBe(head);
  expect(resync).toEqual({ type: 'resync', stream, seq: head });
  expect(socket.frames.indexOf(resync)).toBeLessThan(socket.frames.indexOf(event));
  expect(event.seq).toBe(next.seq);
  expect(event.seq).toBe(head + 1);
});

test('position at head replays nothing', async () => {
  const alice = await buildUser(server.url, 'alice');
  const team = await buildTeam(alice);
  const stream = `c:${team.generalId}`;
  await postText(alice, team.generalId, 'already seen');
  const head = (await alice.api.get<{ last_seq: number }>(`/api/conversations/${team.generalId}`)).last_seq;

  const atHead = await openWithPositions(server.wsUrl, alice.token, { [stream]: head });
  const fromStart = await openWithPositions(server.wsUrl, alice.token, { [stream]: 0 });
  await waitUntil(() => fromStart.frames.filter((frame) => frame.type === 'event').length === head, 5000, 'the full replay');
  await settle();
  atHead.ws.close();
  fromStart.ws.close();

  expect(atHead.frames.map((frame) => frame.type)).toEqual(['ready']);
  expect(fromStart.frames.filter((frame) => frame.type === 'event').map((frame) => frame.seq)).toEqual(
    Array.from({ length: head }, (_, i) => i + 1),
  );
});

test('unavailable streams never delivered', async () => {
  const alice = await buildUser(server.url, 'alice');
  const mallory = await buildUser(server.url, 'mallory');
  const team = await buildTeam(alice, [mallory]);
  const privateChannel = await buildChannel(alice, team.id, { private: true });
  const otherTeam = await buildTeam(alice);
  const unknown = 'c:00000000-0000-4000-8000-000000000000';
  const foreign = [`c:${privateChannel.id}`, `c:${otherTeam.generalId}`, `t:${otherTeam.id}`, `u:${alice.id}`];

  const socket = await openWithPositions(server.wsUrl, mallory.token, Object.fromEntries([unknown, ...foreign].map((stream) => [stream, 0])));
  await postText(alice, privateChannel.id, 'private');
  await postText(alice, otherTeam.generalId, 'other team');
  await alice.api.patch('/api/users/me', { status_text: 'busy' });
  const visible = await postText(alice, team.generalId, 'shared');
  await waitUntil(
    () => socket.frames.some((frame) => frame.type === 'event' && frame.seq === visible.seq && frame.stream === `c:${team.generalId}`),
    5000,
    'the message in the shared channel',
  );
  await settle();
  socket.ws.close();

  const delivered = new Set(socket.frames.filter((frame) => frame.type === 'event').map((frame) => frame.stream as string));
  expect([...(socket.ready.unavailable as string[])].sort()).toEqual([unknown, ...foreign].sort());
  for (const stream of [unknown, ...foreign]) {
    expect(delivered.has(stream), stream).toBe(false);
    expect(Object.keys(socket.ready.streams as object), stream).not.toContain(stream);
  }
});

test('graceful close sends 1001', async () => {
  const closing = await startServer();
  let closed = false;
  try {
    const alice = await buildUser(closing.url, 'alice');
    const listener = await listen(closing.wsUrl, alice.token, { reconnect: false });
    const raw = await openWithPositions(closing.wsUrl, alice.token, {});
    const rawClosed = new Promise<number>((resolve) => raw.ws.on('close', (code) => resolve(code)));

    await closing.close();
    closed = true;
    await waitUntil(() => listener.closes.length > 0, 5000, 'the listener to close');

    expect(listener.closes.map((close) => close.code)).toEqual([1001]);
    expect(await rawClosed).toBe(1001);
  } finally {
    if (!closed) await closing.close();
  }
});
