import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { applyEvent, loadState, runEffects } from '../../src/client/state.js';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { listen, settle } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

test('reconnecting client catches up', async () => {
  const alice = await buildUser(server.url, 'alice');
  const bob = await buildUser(server.url, 'bob');
  const team = await buildTeam(alice, [bob]);
  const root = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'plan' });
  const listener = await listen(server.wsUrl, alice.token);
  const state = await loadState(alice.api);
  listener.client.stop();
  await settle(100);

  // While the socket is away: changes on the conversation, user and team streams.
  const other = new ApiClient(server.url);
  other.token = (await other.post<{ token: string }>('/api/auth/login', { login: alice.username, password: 'correct horse battery' })).token;
  await bob.api.post(`/api/messages/${root.id}/reactions`, { emoji: ':tada:' });
  await bob.api.post(`/api/messages/${root.id}/pin`);
  await bob.api.post(`/api/conversations/${team.generalId}/messages`, { text: `@${alice.username} ok`, thread_root_id: root.id });
  await bob.api.post(`/api/conversations/${team.generalId}/messages`, { text: '@channel lunch' });
  await other.post(`/api/messages/${root.id}/save`);
  await other.post(`/api/messages/${root.id}/thread/read`, {});
  await other.patch(`/api/teams/${team.id}/settings`, { delete_window_seconds: 60 });

  await listener.client.start();
  const expected = ['reaction.added', 'message.pinned', 'thread.followed', 'message.saved', 'thread.read', 'team.settings_updated'];
  await listener.waitFor((events) => expected.every((type) => events.some((event) => event.event === type)));
  await settle(200);

  for (const event of listener.events) await runEffects(alice.api, state, applyEvent(state, event));
  expect(listener.client.duplicates).toBe(0);
  expect(state.conversations[team.generalId]?.mentionCount).toBe(1);
  expect(state).toEqual(await loadState(alice.api));
  listener.client.stop();
});
