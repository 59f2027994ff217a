import WebSocket from 'ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildTeam, buildUser, buildChannel, type TestUser } from '../helpers/factories.js';
import { listen, waitUntil } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

interface Socket {
  frames: Array<Record<string, unknown>>;
  send(frame: unknown): void;
  reply(id: string | number): Promise<Record<string, unknown>>;
  close(): void;
}

/** Opens a raw socket, sends hello and waits for ready. */
async function openSocket(user: TestUser, hello = true): Promise<Socket> {
  const ws = new WebSocket(server.wsUrl, { headers: { authorization: `Bearer ${user.token}` } });
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Record<string, unknown>));
  await new Promise((resolve) => ws.once('open', resolve));
  if (hello) {
    ws.send(JSON.stringify({ type: 'hello', positions: {} }));
    await waitUntil(() => frames.some((frame) => frame.type === 'ready'), 5000, 'ready');
  }
  return {
    frames,
    send: (frame) => ws.send(JSON.stringify(frame)),
    reply: async (id) => {
      const isReply = (frame: Record<string, unknown>) => (frame.type === 'ack' || frame.type === 'error') && frame.id === id;
      await waitUntil(() => frames.some(isReply), 5000, `reply ${id}`);
      return frames.find(isReply) as Record<string, unknown>;
    },
    close: () => ws.close(),
  };
}

test('post frame acks and fans out', async () => {
  const alice = await buildUser(server.url, 'alice');
  const bob = await buildUser(server.url, 'bob');
  const team = await buildTeam(alice, [bob]);
  const bobListener = await listen(server.wsUrl, bob.token);
  const socket = await openSocket(alice);

  socket.send({ type: 'post', id: 1, conversation_id: team.generalId, text: 'over the socket 🧦', client_msg_id: 'ws-1' });
  const ack = await socket.reply(1);
  expect(ack.type).toBe('ack');
  expect(ack.created).toBe(true);
  const message = ack.message as { id: string; text: string; author_id: string };
  expect(message.text).toBe('over the socket 🧦');
  expect(message.author_id).toBe(alice.id);

  await bobListener.waitFor((events) => events.some((event) => (event.data.message as { id?: string } | undefined)?.id === message.id));
  const history = await bob.api.get<{ messages: Array<{ id: string }> }>(`/api/conversations/${team.generalId}/messages`);
  expect(history.messages.map((row) => row.id)).toContain(message.id);

  socket.send({ type: 'post', id: 'again', conversation_id: team.generalId, text: 'over the socket 🧦', client_msg_id: 'ws-1' });
  const retry = await socket.reply('again');
  expect(retry.created).toBe(false);
  expect((retry.message as { id: string }).id).toBe(message.id);

  socket.close();
  bobListener.client.stop();
});

test('post frame rejects bad input', async () => {
  const alice = await buildUser(server.url, 'alice');
  const team = await buildTeam(alice);
  const socket = await openSocket(alice);

  socket.send({ type: 'post', id: 2, conversation_id: team.generalId, text: 5 });
  const wrongType = await socket.reply(2);
  expect(wrongType.type).toBe('error');
  expect((wrongType.error as { field: string }).field).toBe('text');

  socket.send({ type: 'post', id: 3, conversation_id: team.generalId, text: 'x', extra: true });
  expect(((await socket.reply(3)).error as { field: string }).field).toBe('extra');

  socket.send({ type: 'post', id: 4, conversation_id: team.generalId, text: '   ' });
  expect(((await socket.reply(4)).error as { code: string }).code).toBe('MESSAGE_EMPTY');
  socket.close();
});

test('post frame denies non-members', async () => {
  const alice = await buildUser(server.url, 'alice');
  const mallory = await buildUser(server.url, 'mallory');
  const team = await buildTeam(alice);
  const secret = await buildChannel(alice, team.id, { private: true });
  await buildTeam(mallory);
  const socket = await openSocket(mallory);

  socket.send({ type: 'post', id: 5, conversation_id: secret.id, text: 'let me in' });
  const denied = await socket.reply(5);
  expect(denied.type).toBe('error');
  expect((denied.error as { code: string }).code).toBe('CONVERSATION_NOT_FOUND');

  const history = await alice.api.get<{ messages: unknown[] }>(`/api/conversations/${secret.id}/messages`);
  expect(history.messages).toHaveLength(0);
  socket.close();
});

test('post before hello is rejected', async () => {
  const alice = await buildUser(server.url, 'alice');
  const team = await buildTeam(alice);
  const socket = await openSocket(alice, false);

  socket.send({ type: 'post', id: 6, conversation_id: team.generalId, text: 'too early' });
  const early = await socket.reply(6);
  expect(early.type).toBe('error');
  const history = await alice.api.get<{ messages: unknown[] }>(`/api/conversations/${team.generalId}/messages`);
  expect(history.messages).toHaveLength(0);
});

test('post ack, live event and replay agree', async () => {
  const alice = await buildUser(server.url, 'alice');
  const team = await buildTeam(alice);
  const raw: string[] = [];
  const ws = new WebSocket(server.wsUrl, { headers: { authorization: `Bearer ${alice.token}` } });
  ws.on('message', (data) => raw.push(String(data)));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'hello', positions: {} }));
  await waitUntil(() => raw.some((text) => text.includes('"type":"ready"')), 5000, 'ready');

  // Quotes, a backslash, a line break, U+2028 and an emoji all need care when JSON is spliced by hand.
  const text = 'say "hi" \\ there\nnext\u2028line 🧦';
  const id = 'id "7" \u2028';
  ws.send(JSON.stringify({ type: 'post', id, conversation_id: team.generalId, text }));
  const find = (type: string) => raw.find((frame) => (JSON.parse(frame) as { type: string }).type === type);
  await waitUntil(() => find('ack') !== undefined && find('event') !== undefined, 5000, 'ack and event');
  const ackText = find('ack')!;
  const liveText = find('event')!;
  ws.close();

  const ack = JSON.parse(ackText) as { id: string; created: boolean; message: { text: string } };
  const live = JSON.parse(liveText) as { stream: string; seq: number; event: string; at: number; data: { message: unknown } };
  // Each frame is what JSON.stringify gives for its fields in the order the server sends them.
  expect(ackText).toBe(JSON.stringify({ type: 'ack', id: ack.id, created: ack.created, message: ack.message }));
  expect(liveText).toBe(JSON.stringify({ type: 'event', stream: live.stream, seq: live.seq, event: live.event, at: live.at, data: live.data }));
  expect(ack.id).toBe(id);
  expect(ack.created).toBe(true);
  expect(ack.message.text).toBe(text);
  expect(live.data.message).toEqual(ack.message);

  // A socket resuming from before the post reads the event back from storage and encodes it anew.
  const resumed: string[] = [];
  const again = new WebSocket(server.wsUrl, { headers: { authorization: `Bearer ${alice.token}` } });
  again.on('message', (data) => resumed.push(String(data)));
  await new Promise((resolve) => again.once('open', resolve));
  again.send(JSON.stringify({ type: 'hello', positions: { [live.stream]: live.seq - 1 } }));
  await waitUntil(() => resumed.some((frame) => frame.includes(`"seq":${live.seq},`)), 5000, 'replayed event');
  again.close();
  expect(resumed.find((frame) => frame.includes(`"seq":${live.seq},`))).toBe(liveText);
});
