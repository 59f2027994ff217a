import WebSocket from 'ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { RealtimeClient, type WebSocketLike } from '../../src/client/realtime.js';
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
