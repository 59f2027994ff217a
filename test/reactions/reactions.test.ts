import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiError } from '../../src/client/api.js';
import { findEmoji } from '../../src/reactions/emoji.js';
import { buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { listen } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

interface ReactionGroup {
  emoji: string;
  shortcode: string;
  count: number;
  user_ids: string[];
}

async function reactionsOf(user: TestUser, messageId: string): Promise<ReactionGroup[]> {
  return (await user.api.get<{ reactions: ReactionGroup[] }>(`/api/messages/${messageId}`)).reactions;
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (error instanceof ApiError ? error.code : String(error)),
  );
}

describe('emoji validation', () => {
  const KNOWN: Array<[string, string]> = [
    ['👍', '👍'],
    [':+1:', '👍'],
    ['thumbsup', '👍'],
    [':THUMBSUP:', '👍'],
    ['❤', '❤️'],
    ['❤️', '❤️'],
    [':heart:', '❤️'],
    ['👍🏽', '👍🏽'],
    ['👨‍👩‍👧', '👨‍👩‍👧'],
    ['🇫🇷', '🇫🇷'],
  ];

  test.each(KNOWN)('%s is %s', (input, emoji) => {
    expect(findEmoji(input)?.emoji).toBe(emoji);
  });

  test.each(['', 'qqq', ':notanemoji:', '👍👍', '<script>', '1'])('rejects %j', (input) => {
    expect(findEmoji(input)).toBeUndefined();
  });
});

describe('reactions', () => {
  test('add, repeat and remove', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'vote' });

    const first = await bob.api.raw('POST', `/api/messages/${message.id}/reactions`, { emoji: ':+1:' });
    const again = await bob.api.raw('POST', `/api/messages/${message.id}/reactions`, { emoji: '👍' });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(await reactionsOf(alice, message.id)).toEqual([{ emoji: '👍', shortcode: '+1', count: 1, user_ids: [bob.id] }]);

    await bob.api.delete(`/api/messages/${message.id}/reactions/${encodeURIComponent(':thumbsup:')}`);
    expect(await reactionsOf(alice, message.id)).toEqual([]);
    await bob.api.delete(`/api/messages/${message.id}/reactions/${encodeURIComponent('👍')}`);
  });

  test('unknown emoji answers UNKNOWN_EMOJI', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'x' });
    expect(await codeOf(alice.api.post(`/api/messages/${message.id}/reactions`, { emoji: ':nope:' }))).toBe('UNKNOWN_EMOJI');
  });

  test('many users at once count exactly', async () => {
    const alice = await buildUser(server.url, 'alice');
    const users = await Promise.all(Array.from({ length: 12 }, () => buildUser(server.url, 'fan')));
    const team = await buildTeam(alice, users);
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'party' });
    const listener = await listen(server.wsUrl, alice.token);

    // Every user adds three emoji, twice each, all at once.
    const emoji = ['🎉', ':tada:', '🚀', ':heart:'];
    await Promise.all(users.flatMap((user) => emoji.map((name) => user.api.post(`/api/messages/${message.id}/reactions`, { emoji: name }))));

    const groups = await reactionsOf(alice, message.id);
    expect(groups.map((group) => [group.emoji, group.count])).toEqual([
      ['❤️', 12],
      ['🎉', 12],
      ['🚀', 12],
    ]);
    for (const group of groups) expect(new Set(group.user_ids).size).toBe(12);
    await listener.waitFor((events) => events.filter((event) => event.event === 'reaction.added').length === 36);
    listener.client.stop();
  });

  test('history shows counts and users', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'x' });
    await alice.api.post(`/api/messages/${message.id}/reactions`, { emoji: '😀' });
    await bob.api.post(`/api/messages/${message.id}/reactions`, { emoji: '😀' });

    const { messages } = await bob.api.get<{ messages: Array<{ reactions: ReactionGroup[] }> }>(`/api/conversations/${team.generalId}/messages`);
    expect(messages[0]?.reactions).toEqual([{ emoji: '😀', shortcode: 'grinning', count: 2, user_ids: [alice.id, bob.id] }]);
  });

  test('deleted message loses reactions', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const root = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'root' });
    await bob.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'reply', thread_root_id: root.id });
    await bob.api.post(`/api/messages/${root.id}/reactions`, { emoji: '👀' });
    await alice.api.delete(`/api/messages/${root.id}`);

    expect(await reactionsOf(bob, root.id)).toEqual([]);
    expect(await codeOf(bob.api.post(`/api/messages/${root.id}/reactions`, { emoji: '👀' }))).toBe('MESSAGE_NOT_FOUND');
  });

  test('archived channel rejects reactions', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    const channel = await alice.api.post<{ id: string }>(`/api/teams/${team.id}/channels`, { name: 'old' });
    const message = await alice.api.post<{ id: string }>(`/api/conversations/${channel.id}/messages`, { text: 'x' });
    await alice.api.post(`/api/conversations/${channel.id}/archive`);

    expect(await codeOf(alice.api.post(`/api/messages/${message.id}/reactions`, { emoji: '👍' }))).toBe('CONVERSATION_ARCHIVED');
  });
});
