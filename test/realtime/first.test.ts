import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { listen } from '../helpers/realtime.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

test('message reaches member socket', async () => {
  const alice = await buildUser(server.url, 'alice');
  const bob = await buildUser(server.url, 'bob');
  const team = await buildTeam(alice, [bob]);
  const bobSocket = await listen(server.wsUrl, bob.token);
  await alice.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'hello 👋🏽' });
  await bobSocket.waitFor((events) => events.some((event) => event.event === 'message.posted'));
  const posted = bobSocket.events.find((event) => event.event === 'message.posted');
  expect((posted?.data.message as { text: string }).text).toBe('hello 👋🏽');
  bobSocket.client.stop();
});
