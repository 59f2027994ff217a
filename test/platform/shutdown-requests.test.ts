import net from 'node:net';
import { expect, test } from 'vitest';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { startServer } from '../helpers/server.js';

// A request that reaches a stopping node gets the API's 503 body, so a client can tell it to retry.

test('request during shutdown gets UNAVAILABLE', async () => {
  const server = await startServer();
  const alice = await buildUser(server.url, 'alice');
  const team = await buildTeam(alice);
  const { port } = new URL(server.url);

  // A post whose body is half sent keeps the node stopping, with this connection open, until it ends.
  const body = JSON.stringify({ text: 'in flight during shutdown' });
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.write(
    `POST /api/conversations/${team.generalId}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice.token}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n${body.slice(0, 10)}`,
  );
  // Node sends 100 Continue as it hands the request to the app, so the post is in flight from here.
  await expect.poll(() => received.startsWith('HTTP/1.1 100 Continue'), { timeout: 10_000 }).toBe(true);
  received = '';

  const closed = server.close();
  // The listener stops accepting once the node is stopping; only then does the next request go out.
  await expect.poll(() => canConnect(Number(port)), { timeout: 10_000 }).toBe(false);
  socket.write(body.slice(10) + 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await closed;

  const responses = received.split(/(?=HTTP\/1\.1 )/);
  expect(responses[0]).toMatch(/^HTTP\/1\.1 201 /);
  expect(responses[1]).toMatch(/^HTTP\/1\.1 503 /);
  expect(responses[1]).toMatch(/connection: close/i);
  expect(responses[1]).toContain('"code":"UNAVAILABLE"');
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(port, '127.0.0.1');
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
