import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { COUNT_CAP as CLIENT_COUNT_CAP } from '../../src/client/counts.js';
import { COUNT_CAP } from '../../src/reads/queries.js';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { listen, settle } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ rateLimits: { postsPerUserPerMinute: 100_000, postsPerAddressPerMinute: 100_000 } });
});
afterAll(async () => server.close());

interface Counts {
  conversation_id: string;
  last_read_seq: number;
  last_seq: number;
  unread_count: number;
  mention_count: number;
}

interface ThreadState {
  thread_root_id: string;
  following: boolean;
  last_read_seq: number;
  unread_count: number;
  mention_count: number;
}

async function sidebarOf(user: TestUser | ApiClient, conversationId: string): Promise<Counts | undefined> {
  const api = user instanceof ApiClient ? user : user.api;
  const { conversations } = await api.get<{ conversations: Counts[] }>('/api/sidebar');
  return conversations.find((entry) => entry.conversation_id === conversationId);
}

async function threadsOf(user: TestUser): Promise<ThreadState[]> {
  return (await user.api.get<{ threads: ThreadState[] }>('/api/threads')).threads;
}

function post(user: TestUser, conversationId: string, text: string, extra: Record<string, unknown> = {}) {
  return user.api.post<{ id: string; seq: number }>(`/api/conversations/${conversationId}/messages`, { text, ...extra });
}

async function secondSession(user: TestUser): Promise<{ api: ApiClient; token: string }> {
  const api = new ApiClient(server.url);
  const result = await api.post<{ token: string }>('/api/auth/login', { login: user.username, password: 'correct horse battery' });
  api.token = result.token;
  return { api, token: result.token };
}

async function buildPair(): Promise<{ alice: TestUser; bob: TestUser; team: TestTeam }> {
  const alice = await buildUser(server.url, 'alice');
  const bob = await buildUser(server.url, 'bob');
  const team = await buildTeam(alice, [bob]);
  return { alice, bob, team };
}

describe('sidebar counts', () => {
  test('counts unread messages and mentions', async () => {
    const { alice, bob, team } = await buildPair();
    await post(bob, team.generalId, 'morning');
    await post(bob, team.generalId, `@${alice.username} look`);
    await post(bob, team.generalId, '@channel standup');
    await post(bob, team.generalId, '@here is not counted');

    const counts = await sidebarOf(alice, team.generalId);
    expect(counts?.unread_count).toBe(4);
    expect(counts?.mention_count).toBe(2);
    expect((await sidebarOf(bob, team.generalId))?.unread_count).toBe(0);
  });

  test('own posts mark the conversation read', async () => {
    const { alice, bob, team } = await buildPair();
    await post(bob, team.generalId, 'one');
    await post(bob, team.generalId, `two @${alice.username}`);
    expect((await sidebarOf(alice, team.generalId))?.unread_count).toBe(2);

    const mine = await post(alice, team.generalId, 'caught up');
    const counts = await sidebarOf(alice, team.generalId);
    expect(counts?.unread_count).toBe(0);
    expect(counts?.mention_count).toBe(0);
    expect(counts?.last_read_seq).toBe(mine.seq);
  });

  test('edits add and remove mentions', async () => {
    const { alice, bob, team } = await buildPair();
    const message = await post(bob, team.generalId, 'plain');
    expect((await sidebarOf(alice, team.generalId))?.mention_count).toBe(0);

    await bob.api.patch(`/api/messages/${message.id}`, { text: `now @${alice.username}` });
    expect((await sidebarOf(alice, team.generalId))?.mention_count).toBe(1);

    await bob.api.patch(`/api/messages/${message.id}`, { text: 'plain again' });
    expect((await sidebarOf(alice, team.generalId))?.mention_count).toBe(0);
    expect((await sidebarOf(alice, team.generalId))?.unread_count).toBe(1);
  });

  test('deletes drop unread and mentions', async () => {
    const { alice, bob, team } = await buildPair();
    await post(bob, team.generalId, 'keep');
    const gone = await post(bob, team.generalId, `@${alice.username} oops`);
    await bob.api.delete(`/api/messages/${gone.id}`);

    const counts = await sidebarOf(alice, team.generalId);
    expect(counts?.unread_count).toBe(1);
    expect(counts?.mention_count).toBe(0);
  });

  test('thread replies count in threads only', async () => {
    const { alice, bob, team } = await buildPair();
    const root = await post(alice, team.generalId, 'root');
    await post(bob, team.generalId, `reply @${alice.username}`, { thread_root_id: root.id });

    expect((await sidebarOf(alice, team.generalId))?.unread_count).toBe(0);
    const [thread] = await threadsOf(alice);
    expect(thread?.thread_root_id).toBe(root.id);
    expect(thread?.unread_count).toBe(1);
    expect(thread?.mention_count).toBe(1);
  });

  test('reply also in channel counts twice', async () => {
    const { alice, bob, team } = await buildPair();
    const root = await post(alice, team.generalId, 'root');
    await post(bob, team.generalId, 'shown', { thread_root_id: root.id, also_in_channel: true });

    expect((await sidebarOf(alice, team.generalId))?.unread_count).toBe(1);
    expect((await threadsOf(alice))[0]?.unread_count).toBe(1);
  });

  test('new members start read at join', async () => {
    const { alice, bob, team } = await buildPair();
    const channel = await buildChannel(alice, team.id);
    await post(alice, channel.id, '@channel before bob');
    await bob.api.post(`/api/conversations/${channel.id}/join`);

    const counts = await sidebarOf(bob, channel.id);
    expect(counts?.unread_count).toBe(0);
    expect(counts?.mention_count).toBe(0);
  });

  test('counts stop at the cap', async () => {
    const { alice, bob, team } = await buildPair();
    const channel = await buildChannel(alice, team.id, { members: [bob] });
    for (let index = 0; index < 105; index += 1) await post(bob, channel.id, `m${index}`);

    expect((await sidebarOf(alice, channel.id))?.unread_count).toBe(100);
  });

  test('client and server caps match', () => {
    expect(CLIENT_COUNT_CAP).toBe(COUNT_CAP);
  });

  test('team filter lists only that team', async () => {
    const { alice, team } = await buildPair();
    const other = await buildTeam(alice, [], 'Other');
    const { conversations } = await alice.api.get<{ conversations: Counts[] }>(`/api/sidebar?team_id=${other.id}`);
    expect(conversations.map((entry) => entry.conversation_id)).toEqual([other.generalId]);
    expect(conversations.some((entry) => entry.conversation_id === team.generalId)).toBe(false);
  });
});

describe('mark read', () => {
  test('reaches the other device', async () => {
    const { alice, bob, team } = await buildPair();
    const other = await secondSession(alice);
    const listener = await listen(server.wsUrl, other.token);
    const last = await post(bob, team.generalId, `@${alice.username} ping`);

    const result = await alice.api.post<Counts>(`/api/conversations/${team.generalId}/read`, {});
    expect(result.unread_count).toBe(0);
    expect(result.last_read_seq).toBe(last.seq);

    await listener.waitFor((events) => events.some((event) => event.event === 'conversation.read'));
    const event = listener.events.find((frame) => frame.event === 'conversation.read');
    expect(event?.data).toEqual({ conversation_id: team.generalId, last_read_seq: last.seq });
    expect((await sidebarOf(other.api, team.generalId))?.mention_count).toBe(0);
    listener.client.stop();
  });

  test('works without a body', async () => {
    const { alice, bob, team } = await buildPair();
    const last = await post(bob, team.generalId, 'one');
    const result = await alice.api.post<Counts>(`/api/conversations/${team.generalId}/read`);
    expect(result.last_read_seq).toBe(last.seq);
    expect(result.unread_count).toBe(0);
  });

  test('reads up to a given seq', async () => {
    const { alice, bob, team } = await buildPair();
    const first = await post(bob, team.generalId, 'one');
    await post(bob, team.generalId, 'two');

    const result = await alice.api.post<Counts>(`/api/conversations/${team.generalId}/read`, { seq: first.seq });
    expect(result.last_read_seq).toBe(first.seq);
    expect(result.unread_count).toBe(1);
  });

  test('never moves back', async () => {
    const { alice, bob, team } = await buildPair();
    const first = await post(bob, team.generalId, 'one');
    await post(bob, team.generalId, 'two');
    const ahead = await alice.api.post<Counts>(`/api/conversations/${team.generalId}/read`, {});
    const listener = await listen(server.wsUrl, alice.token);

    const result = await alice.api.post<Counts>(`/api/conversations/${team.generalId}/read`, { seq: first.seq });
    expect(result.last_read_seq).toBe(ahead.last_read_seq);
    await settle(200);
    expect(listener.events.filter((event) => event.event === 'conversation.read')).toEqual([]);
    listener.client.stop();
  });

  test('beyond the head stops at it', async () => {
    const { alice, bob, team } = await buildPair();
    await post(bob, team.generalId, 'one');
    const result = await alice.api.post<Counts>(`/api/conversations/${team.generalId}/read`, { seq: 1_000_000 });
    expect(result.last_read_seq).toBe(result.last_seq);
  });

  test('thread read reaches the other device', async () => {
    const { alice, bob, team } = await buildPair();
    const root = await post(alice, team.generalId, 'root');
    const reply = await post(bob, team.generalId, 'reply', { thread_root_id: root.id });
    const other = await secondSession(alice);
    const listener = await listen(server.wsUrl, other.token);

    const result = await alice.api.post<ThreadState>(`/api/messages/${reply.id}/thread/read`, {});
    expect(result.unread_count).toBe(0);
    await listener.waitFor((events) => events.some((event) => event.event === 'thread.read'));
    expect((await threadsOf(alice))[0]?.unread_count).toBe(0);
    listener.client.stop();
  });
});

describe('threads view', () => {
  test('lists unread threads first', async () => {
    const { alice, bob, team } = await buildPair();
    const older = await post(alice, team.generalId, 'older root');
    const newer = await post(alice, team.generalId, 'newer root');
    await post(bob, team.generalId, 'on older', { thread_root_id: older.id });
    await post(bob, team.generalId, 'on newer', { thread_root_id: newer.id });
    await alice.api.post(`/api/messages/${newer.id}/thread/read`, {});

    const threads = await threadsOf(alice);
    expect(threads.map((thread) => thread.thread_root_id)).toEqual([older.id, newer.id]);
    expect(threads.map((thread) => thread.unread_count)).toEqual([1, 0]);
  });

  test('follows replied and mentioned threads', async () => {
    const { alice, bob, team } = await buildPair();
    const carol = await buildUser(server.url, 'carol');
    await alice.api.post(`/api/teams/${team.id}/members`, { user_id: carol.id });
    const root = await post(alice, team.generalId, 'root');
    await post(bob, team.generalId, `asking @${carol.username}`, { thread_root_id: root.id });

    expect((await threadsOf(alice)).map((thread) => thread.thread_root_id)).toEqual([root.id]);
    expect((await threadsOf(bob))[0]?.unread_count).toBe(0);
    expect((await threadsOf(carol))[0]?.mention_count).toBe(1);
  });

  test('unfollow hides until the next reply', async () => {
    const { alice, bob, team } = await buildPair();
    const root = await post(bob, team.generalId, 'root');
    await post(alice, team.generalId, 'mine', { thread_root_id: root.id });
    await alice.api.delete(`/api/messages/${root.id}/follow`);
    expect(await threadsOf(alice)).toEqual([]);

    await post(bob, team.generalId, 'more', { thread_root_id: root.id });
    expect(await threadsOf(alice)).toEqual([]);
    await post(alice, team.generalId, 'again', { thread_root_id: root.id });
    expect((await threadsOf(alice)).map((thread) => thread.thread_root_id)).toEqual([root.id]);
  });

  test('root author keeps an unfollow', async () => {
    const { alice, bob, team } = await buildPair();
    const root = await post(alice, team.generalId, 'root');
    await post(bob, team.generalId, 'first', { thread_root_id: root.id });
    await alice.api.delete(`/api/messages/${root.id}/follow`);
    await post(bob, team.generalId, 'second', { thread_root_id: root.id });
    expect(await threadsOf(alice)).toEqual([]);
  });

  test('follow by hand lists the thread', async () => {
    const { alice, bob, team } = await buildPair();
    const root = await post(bob, team.generalId, 'no replies yet');
    const followed = await alice.api.post<ThreadState>(`/api/messages/${root.id}/follow`);
    expect(followed.following).toBe(true);
    expect((await threadsOf(alice)).map((thread) => thread.thread_root_id)).toEqual([root.id]);
  });

  test('leaving forgets thread states', async () => {
    const { alice, bob, team } = await buildPair();
    const channel = await buildChannel(alice, team.id, { members: [bob] });
    const root = await post(alice, channel.id, 'root');
    await post(bob, channel.id, 'reply', { thread_root_id: root.id });
    await bob.api.post(`/api/conversations/${channel.id}/leave`);
    expect(await threadsOf(bob)).toEqual([]);
  });
});

describe('private channel outsider', () => {
  test('learns nothing of a mention', async () => {
    const { alice, bob, team } = await buildPair();
    const carol = await buildUser(server.url, 'carol');
    await alice.api.post(`/api/teams/${team.id}/members`, { user_id: carol.id });
    const secret = await buildChannel(alice, team.id, { private: true, members: [bob] });
    const carolSocket = await listen(server.wsUrl, carol.token);
    const aliceSocket = await listen(server.wsUrl, alice.token);
    const bobSocket = await listen(server.wsUrl, bob.token);

    const message = await post(alice, secret.id, `@${carol.username} @channel read this`);
    const reply = await post(bob, secret.id, `@${carol.username} too`, { thread_root_id: message.id });
    await aliceSocket.waitFor((events) => events.some((event) => event.event === 'mention.not_in_channel'));
    await settle(300);

    const notice = aliceSocket.events.find((event) => event.event === 'mention.not_in_channel');
    expect(notice?.data).toEqual({ conversation_id: secret.id, message_id: message.id, users: [{ id: carol.id, username: carol.username }] });
    expect(bobSocket.events.filter((event) => event.event === 'mention.not_in_channel').map((event) => event.data.message_id)).toEqual([reply.id]);
    expect(carolSocket.events).toEqual([]);
    expect(await sidebarOf(carol, secret.id)).toBeUndefined();
    expect(await threadsOf(carol)).toEqual([]);
    expect((await carol.api.get<{ items: unknown[] }>('/api/saved')).items).toEqual([]);
    const { conversations } = await carol.api.get<{ conversations: Array<{ id: string }> }>('/api/conversations');
    expect(conversations.some((conversation) => conversation.id === secret.id)).toBe(false);
    for (const socket of [carolSocket, aliceSocket, bobSocket]) socket.client.stop();
  });
});

describe('departed root author', () => {
  test('gets no follow from new replies', async () => {
    const { alice, bob, team } = await buildPair();
    const channel = await buildChannel(alice, team.id, { private: true, members: [bob] });
    const root = await post(bob, channel.id, 'my root');
    await alice.api.delete(`/api/conversations/${channel.id}/members/${bob.id}`);
    const socket = await listen(server.wsUrl, bob.token);

    await post(alice, channel.id, 'reply after bob left', { thread_root_id: root.id });
    await settle(200);
    expect(socket.events.some((event) => event.event === 'thread.followed')).toBe(false);
    expect(await threadsOf(bob)).toEqual([]);
    socket.client.stop();
  });
});
