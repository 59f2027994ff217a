import { afterAll, beforeAll, expect, test } from 'vitest';
import { applyEvent, loadState, runEffects, type ClientState } from '../../src/client/state.js';
import { EVENT_TYPES } from '../../src/realtime/events.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { buildPng, uploadFile } from '../helpers/files.js';
import { listen, settle, waitUntil, type Listener } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

// The real-time contract: for every action, a user's state with the events
// their socket received applied must equal their state fetched fresh.

let server: TestServer;
const seenTypes = new Set<string>();

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

interface Observer {
  user: TestUser;
  listener: Listener;
  state: ClientState;
  applied: number;
}

async function observe(user: TestUser): Promise<Observer> {
  const listener = await listen(server.wsUrl, user.token);
  return { user, listener, state: await loadState(user.api), applied: 0 };
}

/**
 * Runs an action, waits for the expected event types on each observer's
 * socket, applies every new event with the shared reducer, and compares
 * with a fresh load.
 */
async function check(observers: Observer[], action: () => Promise<unknown>, expected: Record<string, string[]>): Promise<void> {
  await action();
  for (const observer of observers) {
    const wanted = expected[observer.user.username] ?? [];
    await waitUntil(
      () => {
        const types = observer.listener.events.slice(observer.applied).map((event) => event.event);
        return wanted.every((type) => types.includes(type));
      },
      5000,
      `${wanted.join(', ')} for ${observer.user.username}`,
    );
  }
  // Lets any further events of the same action arrive before comparing.
  await settle(150);

  for (const observer of observers) {
    const fresh = observer.listener.events.slice(observer.applied);
    observer.applied = observer.listener.events.length;
    for (const event of fresh) {
      seenTypes.add(event.event);
      await runEffects(observer.user.api, observer.state, applyEvent(observer.state, event));
    }
    expect(observer.listener.client.duplicates).toBe(0);
    expect(observer.listener.client.gaps).toBe(0);
    expect(observer.state).toEqual(await loadState(observer.user.api));
  }
}

// About 3,000 requests of fresh loads: on PostgreSQL this takes tens of seconds on two busy cores.
test('every action reduces to fresh state', async () => {
  const alice = await buildUser(server.url, 'alice');
  const bob = await buildUser(server.url, 'bob');
  const carol = await buildUser(server.url, 'carol');
  const team = await buildTeam(alice, [bob]);

  const a = await observe(alice);
  const b = await observe(bob);
  const c = await observe(carol);
  const all = [a, b, c];

  // Team membership: carol joins and receives #general and the member list.
  await check(all, () => alice.api.post(`/api/teams/${team.id}/members`, { user_id: carol.id }), {
    [alice.username]: ['team.member_joined', 'member.joined'],
    [carol.username]: ['team.joined', 'conversation.joined'],
  });

  // Channels: a public one appears in everyone's directory.
  let channelId = '';
  await check(
    all,
    async () => {
      channelId = (await buildChannel(alice, team.id, { name: 'launch' })).id;
    },
    { [bob.username]: ['channel.created'], [alice.username]: ['conversation.joined'] },
  );
  await check(all, () => bob.api.post(`/api/conversations/${channelId}/join`), {
    [alice.username]: ['member.joined'],
    [bob.username]: ['conversation.joined'],
  });
  await check(all, () => alice.api.patch(`/api/conversations/${channelId}`, { name: 'launch-2027', topic: 'Ship it' }), {
    [bob.username]: ['channel.updated', 'conversation.updated'],
  });

  // Messages, threads, edits and deletes.
  let rootId = '';
  await check(
    all,
    async () => {
      rootId = (await alice.api.post<{ id: string }>(`/api/conversations/${channelId}/messages`, { text: 'Root 🚀' })).id;
    },
    { [bob.username]: ['message.posted'] },
  );
  let replyId = '';
  await check(
    all,
    async () => {
      replyId = (
        await bob.api.post<{ id: string }>(`/api/conversations/${channelId}/messages`, { text: 'reply', thread_root_id: rootId })
      ).id;
    },
    { [alice.username]: ['message.posted', 'thread.updated'] },
  );
  let shownId = '';
  await check(
    all,
    async () => {
      const body = { text: 'shown too', thread_root_id: rootId, also_in_channel: true };
      shownId = (await bob.api.post<{ id: string }>(`/api/conversations/${channelId}/messages`, body)).id;
    },
    { [alice.username]: ['thread.updated'] },
  );
  await check(all, () => bob.api.patch(`/api/messages/${replyId}`, { text: 'reply, edited' }), { [alice.username]: ['message.edited'] });
  await check(all, () => alice.api.delete(`/api/messages/${rootId}`), { [bob.username]: ['message.deleted'] });
  await check(all, () => bob.api.delete(`/api/messages/${replyId}`), { [alice.username]: ['message.deleted', 'thread.updated'] });
  // The deleted root's last reply goes, and the placeholder with it.
  await check(all, () => bob.api.delete(`/api/messages/${shownId}`), { [alice.username]: ['message.deleted', 'thread.updated'] });

  // Private channel and direct messages.
  let secretId = '';
  await check(
    all,
    async () => {
      secretId = (await buildChannel(alice, team.id, { name: 'secret', private: true, members: [carol] })).id;
    },
    { [carol.username]: ['conversation.joined'] },
  );
  await check(all, () => carol.api.patch(`/api/conversations/${secretId}`, { purpose: 'Plans' }), { [alice.username]: ['conversation.updated'] });
  await check(all, () => carol.api.post(`/api/conversations/${secretId}/messages`, { text: 'psst' }), { [alice.username]: ['message.posted'] });
  await check(all, () => alice.api.delete(`/api/conversations/${secretId}/members/${carol.id}`), {
    [alice.username]: ['member.left'],
    [carol.username]: ['conversation.left'],
  });
  await check(all, () => bob.api.post(`/api/teams/${team.id}/dms`, { user_ids: [carol.id, alice.id] }), {
    [carol.username]: ['conversation.joined'],
  });
  await check(all, () => alice.api.post(`/api/conversations/${channelId}/archive`), { [bob.username]: ['conversation.updated'] });

  // Profiles and roles.
  await check(all, () => bob.api.patch('/api/users/me', { display_name: 'Bobby', status_text: 'On call' }), {
    [bob.username]: ['user.updated'],
    [alice.username]: ['team.user_updated'],
  });
  await check(all, () => alice.api.patch(`/api/teams/${team.id}/members/${bob.id}`, { role: 'admin' }), {
    [bob.username]: ['team.updated'],
    [carol.username]: ['team.member_updated'],
  });

  // Sessions: a second session of carol's logs out; her observed socket stays.
  await check(
    all,
    async () => {
      const second = await buildSecondSession(carol);
      await second.post('/api/auth/logout');
    },
    { [carol.username]: ['session.revoked'] },
  );

  // Mentions: a teammate outside a private channel is named only to the author.
  const ops = await buildChannel(alice, team.id, { name: 'ops', private: true, members: [bob] });
  await check(all, () => alice.api.post(`/api/conversations/${ops.id}/messages`, { text: `@${carol.username} could you look?` }), {
    [alice.username]: ['message.posted', 'mention.not_in_channel'],
    [bob.username]: ['message.posted'],
  });
  let askId = '';
  await check(
    all,
    async () => {
      askId = (await bob.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: `@${alice.username} and @channel: ship?` })).id;
    },
    { [alice.username]: ['message.posted'], [carol.username]: ['message.posted'] },
  );

  // Reactions, pins and read positions.
  await check(all, () => alice.api.post(`/api/messages/${askId}/reactions`, { emoji: '👍' }), { [bob.username]: ['reaction.added'] });
  await check(all, () => carol.api.post(`/api/messages/${askId}/reactions`, { emoji: ':+1:' }), { [alice.username]: ['reaction.added'] });
  await check(all, () => alice.api.delete(`/api/messages/${askId}/reactions/${encodeURIComponent('👍')}`), { [bob.username]: ['reaction.removed'] });
  await check(all, () => bob.api.post(`/api/messages/${askId}/pin`), { [carol.username]: ['message.pinned'] });
  await check(all, () => carol.api.delete(`/api/messages/${askId}/pin`), { [alice.username]: ['message.unpinned'] });
  await check(all, () => alice.api.post(`/api/conversations/${team.generalId}/read`, {}), { [alice.username]: ['conversation.read'] });

  // Threads: replying follows; the root's author and mentioned members follow too.
  await check(
    all,
    () => carol.api.post(`/api/conversations/${team.generalId}/messages`, { text: `yes, @${alice.username}`, thread_root_id: askId }),
    {
      [alice.username]: ['message.posted', 'thread.updated', 'thread.followed'],
      [bob.username]: ['thread.followed'],
      [carol.username]: ['thread.followed'],
    },
  );
  await check(all, () => alice.api.post(`/api/messages/${askId}/thread/read`, {}), { [alice.username]: ['thread.read'] });
  await check(all, () => bob.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'merged', thread_root_id: askId }), {
    [alice.username]: ['message.posted', 'thread.updated'],
  });
  await check(all, () => alice.api.delete(`/api/messages/${askId}/follow`), { [alice.username]: ['thread.unfollowed'] });
  await check(all, () => alice.api.post(`/api/messages/${askId}/follow`), { [alice.username]: ['thread.followed'] });

  // Saved items and team settings.
  await check(all, () => bob.api.post(`/api/messages/${askId}/save`), { [bob.username]: ['message.saved'] });
  await check(all, () => bob.api.delete(`/api/messages/${askId}/save`), { [bob.username]: ['message.unsaved'] });
  await check(all, () => carol.api.post(`/api/messages/${askId}/save`), { [carol.username]: ['message.saved'] });
  // An edit that adds a mention, then deleting a reacted, pinned and saved thread root.
  await check(all, () => bob.api.patch(`/api/messages/${askId}`, { text: `@${carol.username} ship?` }), { [carol.username]: ['message.edited'] });
  await check(all, () => alice.api.post(`/api/messages/${askId}/pin`), { [bob.username]: ['message.pinned'] });
  await check(all, () => bob.api.delete(`/api/messages/${askId}`), { [carol.username]: ['message.deleted'] });
  await check(all, () => alice.api.patch(`/api/teams/${team.id}/settings`, { edit_window_seconds: 600, broadcast_member_limit: 50 }), {
    [bob.username]: ['team.settings_updated'],
    [carol.username]: ['team.settings_updated'],
  });

  // Files: an image in a message gets its thumbnail later, then leaves the message.
  let photoId = '';
  await check(
    all,
    async () => {
      photoId = (await uploadFile(server.url, alice, team.generalId, await buildPng(64, 32), { name: 'photo.png', type: 'image/png' })).id;
      await alice.api.post(`/api/conversations/${team.generalId}/messages`, { text: '', file_ids: [photoId] });
    },
    { [bob.username]: ['message.posted', 'file.updated'], [carol.username]: ['message.posted', 'file.updated'] },
  );
  await check(all, () => alice.api.delete(`/api/files/${photoId}`), { [bob.username]: ['file.deleted'] });

  // Leaving the team ends every scope of it at once.
  await check(all, () => alice.api.delete(`/api/teams/${team.id}/members/${carol.id}`), {
    [alice.username]: ['team.member_left'],
    [carol.username]: ['team.left'],
  });

  for (const observer of all) observer.listener.client.stop();
  expect([...EVENT_TYPES].filter((type) => !seenTypes.has(type))).toEqual([]);
}, 90_000);

async function buildSecondSession(user: TestUser) {
  const { ApiClient } = await import('../../src/client/api.js');
  const api = new ApiClient(server.url);
  const result = await api.post<{ token: string }>('/api/auth/login', { login: user.username, password: 'correct horse battery' });
  api.token = result.token;
  return api;
}
