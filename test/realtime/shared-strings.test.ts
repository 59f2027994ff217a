import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { listen, waitUntil } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * Sockets keep the node's shared copy of each stream and team id, counted per
 * holder. A count that is not given back grows for as long as the node runs.
 */

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

const gateway = () => server.server.gateway;

test('sockets share ids and give them back', async () => {
  const ada = await buildUser(server.url, 'ada');
  const carol = await buildUser(server.url, 'carol');
  const team = await buildTeam(ada, [carol]);
  const first = await listen(server.wsUrl, carol.token);
  const withOne = gateway().sharedStringCount;
  const second = await listen(server.wsUrl, carol.token);

  // Carol's own stream, the team's stream, #general and the team id.
  expect(withOne).toBe(4);
  expect(gateway().sharedStringCount).toBe(withOne);

  // A private channel she joins, leaves and joins again goes through follow and revoke.
  const channel = await ada.api.post<{ id: string }>(`/api/teams/${team.id}/channels`, { name: 'shared', private: true });
  await ada.api.post(`/api/conversations/${channel.id}/members`, { user_ids: [carol.id] });
  await first.waitFor((events) => events.some((event) => event.event === 'conversation.joined'));
  await waitUntil(() => gateway().sharedStringCount === withOne + 1, 5000, 'the channel stream to be shared');
  await ada.api.delete(`/api/conversations/${channel.id}/members/${carol.id}`);
  await waitUntil(() => gateway().sharedStringCount === withOne, 5000, 'the channel stream to be released');

  // Leaving the team releases its stream, its conversations and the team id.
  await ada.api.delete(`/api/teams/${team.id}/members/${carol.id}`);
  await waitUntil(() => gateway().sharedStringCount === 1, 5000, 'the team streams to be released');

  first.client.stop();
  second.client.stop();
  await waitUntil(() => gateway().connectionCount === 0, 5000, 'the sockets to close');
  expect(gateway().sharedStringCount).toBe(0);
});
