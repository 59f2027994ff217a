import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { waitForJobsIdle } from '../helpers/jobs.js';
import { settle } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openReadySocket, type FrameSocket } from '../helpers/sockets.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ jobs: { pollIntervalMs: 100 } });
});
afterAll(async () => server.close());

interface Notification {
  id: string;
  reason: string;
  team_id: string;
  conversation_id: string;
  conversation_kind: string;
  conversation_name: string | null;
  thread_root_id: string | null;
  author: { id: string; username: string; display_name: string };
  preview: string;
}

function notificationsOf(socket: FrameSocket): Notification[] {
  return socket.framesOf('notification').map((frame) => frame.notification as Notification);
}

/** Waits until every notification job ran, then a little longer, so absent notifications are really absent. */
async function drained(): Promise<void> {
  await waitForJobsIdle(server);
  await settle(150);
}

async function trio(): Promise<{ alice: TestUser; bob: TestUser; carol: TestUser; teamId: string; generalId: string }> {
  const alice = await buildUser(server.url, 'alice');
  const bob = await buildUser(server.url, 'bob');
  const carol = await buildUser(server.url, 'carol');
  const team = await buildTeam(alice, [bob, carol]);
  return { alice, bob, carol, teamId: team.id, generalId: team.generalId };
}

function post(user: TestUser, conversationId: string, body: Record<string, unknown>) {
  return user.api.post<{ id: string }>(`/api/conversations/${conversationId}/messages`, body);
}

describe('notification pipeline', () => {
  test('socket notification carries what a client shows', async () => {
    const { alice, bob, generalId, teamId } = await trio();
    const socket = await openReadySocket(server.wsUrl, bob.token);
    const long = `@${bob.username} ${'word '.repeat(100)}`;
    const message = await post(alice, generalId, { text: long });
    await drained();

    const [notification] = notificationsOf(socket);
    expect(notification).toMatchObject({ id: message.id, reason: 'mention', conversation_id: generalId, conversation_kind: 'public', conversation_name: 'general', thread_root_id: null });
    expect(notification?.author).toEqual({ id: alice.id, username: alice.username, display_name: expect.any(String) });
    expect([...(notification?.preview ?? '')]).toHaveLength(200);
    expect(notification?.preview.endsWith('…')).toBe(true);
    expect(notification?.team_id).toBe(teamId);
    await socket.close();
  });

  test('direct message notifies with its kind', async () => {
    const { alice, bob, teamId } = await trio();
    const socket = await openReadySocket(server.wsUrl, bob.token);
    const dm = await alice.api.post<{ id: string }>(`/api/teams/${teamId}/dms`, { user_ids: [bob.id] });
    await post(alice, dm.id, { text: 'lunch?' });
    await drained();
    expect(notificationsOf(socket)).toMatchObject([{ reason: 'dm', conversation_kind: 'dm', conversation_name: null, preview: 'lunch?' }]);
    await socket.close();
  });

  test('thread replies notify its followers only', async () => {
    const { alice, bob, carol, generalId } = await trio();
    const root = await post(bob, generalId, { text: 'design review notes' });
    await carol.api.post(`/api/messages/${root.id}/follow`);
    await carol.api.delete(`/api/messages/${root.id}/follow`);
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    const carolSocket = await openReadySocket(server.wsUrl, carol.token);

    const reply = await post(alice, generalId, { text: 'one more point', thread_root_id: root.id });
    await drained();
    // Bob wrote the root, so the first reply makes him a follower.
    expect(notificationsOf(bobSocket)).toMatchObject([{ id: reply.id, reason: 'thread', thread_root_id: root.id }]);
    expect(notificationsOf(carolSocket)).toEqual([]);
    await bobSocket.close();
    await carolSocket.close();
  });

  test('own messages never notify', async () => {
    const { alice, generalId } = await trio();
    await alice.api.patch('/api/notifications/preferences', { level: 'all', keywords: ['alice'] });
    const socket = await openReadySocket(server.wsUrl, alice.token);
    const root = await post(alice, generalId, { text: `@${alice.username} @channel alice notes` });
    await post(alice, generalId, { text: 'and my own reply', thread_root_id: root.id });
    await drained();
    expect(notificationsOf(socket)).toEqual([]);
    await socket.close();
  });

  test('muted conversation stays silent while unread grows', async () => {
    const { alice, bob, generalId } = await trio();
    await bob.api.request('PUT', `/api/conversations/${generalId}/notifications`, { muted: true });
    const socket = await openReadySocket(server.wsUrl, bob.token);
    await post(alice, generalId, { text: `@${bob.username} first` });
    await post(alice, generalId, { text: '@channel second' });
    await drained();

    expect(notificationsOf(socket)).toEqual([]);
    const sidebar = await bob.api.get<{ conversations: Array<{ conversation_id: string; unread_count: number; mention_count: number }> }>('/api/sidebar');
    expect(sidebar.conversations.find((row) => row.conversation_id === generalId)).toMatchObject({ unread_count: 2, mention_count: 2 });
    await socket.close();
  });

  test('keywords match whole words only', async () => {
    const { alice, bob, generalId } = await trio();
    await bob.api.patch('/api/notifications/preferences', { keywords: ['deploy'] });
    const socket = await openReadySocket(server.wsUrl, bob.token);
    await post(alice, generalId, { text: 'redeployment planned' });
    const hit = await post(alice, generalId, { text: 'We DEPLOY at five.' });
    await drained();
    expect(notificationsOf(socket).map((notification) => [notification.id, notification.reason])).toEqual([[hit.id, 'keyword']]);
    await socket.close();
  });

  test('edit that adds a mention notifies once', async () => {
    const { alice, bob, carol, generalId } = await trio();
    const bobSocket = await openReadySocket(server.wsUrl, bob.token);
    const carolSocket = await openReadySocket(server.wsUrl, carol.token);
    const message = await post(alice, generalId, { text: 'who can review this?' });
    await drained();
    expect(notificationsOf(bobSocket)).toEqual([]);

    await alice.api.patch(`/api/messages/${message.id}`, { text: `@${bob.username} can you review this?` });
    await drained();
    expect(notificationsOf(bobSocket)).toMatchObject([{ id: message.id, reason: 'mention' }]);

    // Further edits keep, drop and restore the mention: none notifies again.
    await alice.api.patch(`/api/messages/${message.id}`, { text: `@${bob.username} could you review this?` });
    await alice.api.patch(`/api/messages/${message.id}`, { text: 'never mind' });
    await alice.api.patch(`/api/messages/${message.id}`, { text: `@${bob.username} please review after all` });
    await drained();
    expect(notificationsOf(bobSocket)).toHaveLength(1);
    expect(notificationsOf(carolSocket)).toEqual([]);

    // Adding @channel notifies the rest of the channel once.
    await alice.api.patch(`/api/messages/${message.id}`, { text: `@channel @${bob.username} please review` });
    await alice.api.patch(`/api/messages/${message.id}`, { text: `@channel @${bob.username} please review today` });
    await drained();
    expect(notificationsOf(carolSocket)).toMatchObject([{ id: message.id, reason: 'broadcast' }]);
    expect(notificationsOf(bobSocket)).toHaveLength(1);
    await bobSocket.close();
    await carolSocket.close();
  });

  test('edit keeps an earlier mention from notifying again', async () => {
    const { alice, bob, generalId } = await trio();
    const socket = await openReadySocket(server.wsUrl, bob.token);
    const message = await post(alice, generalId, { text: `@${bob.username} ship it` });
    await drained();
    await alice.api.patch(`/api/messages/${message.id}`, { text: `@${bob.username} ship it now` });
    await drained();
    expect(notificationsOf(socket)).toHaveLength(1);
    await socket.close();
  });

  test('removed member is not notified', async () => {
    const { alice, bob, teamId } = await trio();
    const channel = await buildChannel(alice, teamId, { private: true, members: [bob] });
    await bob.api.patch('/api/notifications/preferences', { level: 'all' });
    await alice.api.delete(`/api/conversations/${channel.id}/members/${bob.id}`);
    const socket = await openReadySocket(server.wsUrl, bob.token);
    await post(alice, channel.id, { text: `@${bob.username} secret plans @channel` });
    await drained();
    expect(notificationsOf(socket)).toEqual([]);
    await socket.close();
  });

  test('plain message enqueues a job only when needed', async () => {
    const { alice, bob, generalId } = await trio();
    const jobsFor = async (messageId: string) => {
      const rows = await server.server.ctx.storage.db.selectFrom('jobs').select('id').where('dedupe_key', '=', `notify:${messageId}`).execute();
      return rows.length;
    };

    // No member of the channel is notified of every message, so the job would decide nothing.
    const plain = await post(alice, generalId, { text: 'nothing for anyone' });
    expect(await jobsFor(plain.id)).toBe(0);

    const mention = await post(alice, generalId, { text: `@${bob.username} look` });
    expect(await jobsFor(mention.id)).toBe(1);

    await bob.api.request('PUT', `/api/conversations/${generalId}/notifications`, { level: 'all' });
    const socket = await openReadySocket(server.wsUrl, bob.token);
    const followed = await post(alice, generalId, { text: 'for those who follow everything' });
    expect(await jobsFor(followed.id)).toBe(1);
    await drained();
    expect(notificationsOf(socket).map((notification) => notification.id)).toContain(followed.id);
    await socket.close();
  });

  test('plain message job follows each preference', async () => {
    const { alice, bob, carol, generalId } = await trio();
    const jobsAfterPlainPost = async () => {
      const message = await post(alice, generalId, { text: 'a plain line' });
      const rows = await server.server.ctx.storage.db.selectFrom('jobs').select('id').where('dedupe_key', '=', `notify:${message.id}`).execute();
      return rows.length;
    };

    // The author's own preferences never make a job for their post.
    await alice.api.patch('/api/notifications/preferences', { level: 'all', keywords: ['plain'] });
    await alice.api.request('PUT', `/api/conversations/${generalId}/notifications`, { level: 'all' });
    expect(await jobsAfterPlainPost()).toBe(0);

    await bob.api.patch('/api/notifications/preferences', { level: 'all' });
    expect(await jobsAfterPlainPost()).toBe(1);

    // The channel's own level overrides the account's.
    await bob.api.request('PUT', `/api/conversations/${generalId}/notifications`, { level: 'mentions' });
    expect(await jobsAfterPlainPost()).toBe(0);

    await carol.api.patch('/api/notifications/preferences', { keywords: ['deploy'] });
    expect(await jobsAfterPlainPost()).toBe(1);
  });
});
