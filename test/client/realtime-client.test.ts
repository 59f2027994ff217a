import net from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { RealtimeClient, type SignalFrame, type WebSocketLike } from '../../src/client/realtime.js';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { waitUntil } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

test('start rejects refused credentials', async () => {
  let attempts = 0;
  const client = new RealtimeClient({
    connect: () => {
      attempts += 1;
      return new WebSocket(server.wsUrl, { headers: { authorization: 'Bearer cbs_wrong' } }) as unknown as WebSocketLike;
    },
    maxBackoffMs: 50,
  });

  await expect(client.start()).rejects.toThrow(/closed before ready/);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(attempts).toBe(1);
});

test('signals: send, presence and typing frames', async () => {
  const ada = await buildUser(server.url, 'ada');
  const bob = await buildUser(server.url, 'bob');
  const team = await buildTeam(ada, [bob]);
  const signals: SignalFrame[] = [];
  const connect = (token: string) => () => new WebSocket(server.wsUrl, { headers: { authorization: `Bearer ${token}` } }) as unknown as WebSocketLike;
  const watcher = new RealtimeClient({ connect: connect(ada.token), onSignal: (frame) => signals.push(frame) });

  // Signals are not queued: before ready there is no socket to send on.
  expect(watcher.send({ type: 'presence.subscribe', user_ids: [bob.id] })).toBe(false);
  await watcher.start();
  expect(watcher.send({ type: 'presence.subscribe', user_ids: [bob.id] })).toBe(true);
  await waitUntil(() => signals.some((frame) => frame.type === 'presence'), 5000, 'the presence snapshot');
  expect(signals[0]).toMatchObject({ type: 'presence', users: [{ user_id: bob.id, status: 'offline' }] });

  const typist = new RealtimeClient({ connect: connect(bob.token) });
  await typist.start();
  await waitUntil(() => signals.some((frame) => frame.type === 'presence' && frame.users.some((user) => user.status === 'online')), 5000, 'bob online');

  expect(typist.send({ type: 'typing', conversation_id: team.generalId })).toBe(true);
  await waitUntil(() => signals.some((frame) => frame.type === 'typing'), 5000, 'the typing frame');
  expect(signals.find((frame) => frame.type === 'typing')).toMatchObject({ conversation_id: team.generalId, user_id: bob.id, active: true });

  typist.stop();
  watcher.stop();
  expect(watcher.send({ type: 'activity' })).toBe(false);
});

test('heartbeat keeps a live connection', async () => {
  const user = await buildUser(server.url, 'pinger');
  const client = new RealtimeClient({
    connect: () => new WebSocket(server.wsUrl, { headers: { authorization: `Bearer ${user.token}` } }) as unknown as WebSocketLike,
    heartbeatMs: 50,
  });
  await client.start();
  await new Promise((resolve) => setTimeout(resolve, 400));
  client.stop();

  // Eight pings went out, and each pong arrived within its 50 ms timeout.
  expect(client.timeouts).toBe(0);
  expect(client.connections).toBe(1);
});

test('silent server fails the connect timeout', async () => {
  // Accepts TCP connections and never responds to the WebSocket upgrade.
  const accepted: net.Socket[] = [];
  const silent = net.createServer((socket) => void accepted.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as net.AddressInfo).port;
  const client = new RealtimeClient({
    connect: () => new WebSocket(`ws://127.0.0.1:${port}/api/realtime`) as unknown as WebSocketLike,
    connectTimeoutMs: 200,
  });

  const started = Date.now();
  await expect(client.start()).rejects.toThrow(/closed before ready \(code 1006\)/);
  const waitedMs = Date.now() - started;
  for (const socket of accepted) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));

  expect(client.timeouts).toBe(1);
  expect(waitedMs).toBeLessThan(2000);
});
