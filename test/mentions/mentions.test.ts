import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiError } from '../../src/client/api.js';
import { MAX_RESOLVED_USERNAMES } from '../../src/mentions/resolve.js';
import { buildChannel, buildTeam, buildUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

interface MessageBody {
  id: string;
  text: string;
  entities: { mentions: Array<Record<string, unknown>>; links: Array<Record<string, unknown>> };
}

async function expectCode(promise: Promise<unknown>, status: number, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ApiError);
  expect((error as ApiError).status).toBe(status);
  expect((error as ApiError).code).toBe(code);
}

describe('mention entities', () => {
  test('resolve teammates regardless of case', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const text = `hi @${bob.username.toUpperCase()} and @here`;

    const message = await alice.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text });
    expect(message.entities.mentions).toEqual([
      { type: 'user', user_id: bob.id, username: bob.username, offset: 3, length: bob.username.length + 1 },
      { type: 'here', offset: bob.username.length + 9, length: 5 },
    ]);
  });

  test('users outside the team stay text', async () => {
    const alice = await buildUser(server.url, 'alice');
    const stranger = await buildUser(server.url, 'stranger');
    const team = await buildTeam(alice);

    const message = await alice.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: `@${stranger.username} hi` });
    expect(message.entities.mentions).toEqual([]);
  });

  test('history and edits return entities', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const message = await alice.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: 'see https://example.test' });

    const edited = await alice.api.patch<MessageBody>(`/api/messages/${message.id}`, { text: `@${bob.username} see https://example.test` });
    expect(edited.entities.mentions).toHaveLength(1);
    const { messages } = await bob.api.get<{ messages: MessageBody[] }>(`/api/conversations/${team.generalId}/messages`);
    const fromHistory = messages.find((entry) => entry.id === message.id);
    expect(fromHistory?.entities).toEqual(edited.entities);
    expect(fromHistory?.entities.links).toEqual([{ url: 'https://example.test', offset: bob.username.length + 6, length: 20 }]);
  });
});

describe('broadcast limit', () => {
  test('members get BROADCAST_RESTRICTED above the limit', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    await alice.api.patch(`/api/teams/${team.id}/settings`, { broadcast_member_limit: 2 });

    for (const keyword of ['@channel', '@here', '@team']) {
      await expectCode(bob.api.post(`/api/conversations/${team.generalId}/messages`, { text: `${keyword} hello` }), 403, 'BROADCAST_RESTRICTED');
    }
    const { messages } = await bob.api.get<{ messages: MessageBody[] }>(`/api/conversations/${team.generalId}/messages`);
    expect(messages).toEqual([]);
  });

  test('admins may broadcast above the limit', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    await alice.api.patch(`/api/teams/${team.id}/settings`, { broadcast_member_limit: 2 });

    const message = await alice.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: '@channel hello' });
    expect(message.entities.mentions).toEqual([{ type: 'channel', offset: 0, length: 8 }]);
  });

  test('small channels allow member broadcasts', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    await alice.api.patch(`/api/teams/${team.id}/settings`, { broadcast_member_limit: 2 });
    const pair = await buildChannel(bob, team.id, { members: [carol] });

    await bob.api.post(`/api/conversations/${pair.id}/messages`, { text: '@channel ok' });
  });

  test('edits are checked too', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    const message = await bob.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: 'hello' });
    await alice.api.patch(`/api/teams/${team.id}/settings`, { broadcast_member_limit: 2 });

    await expectCode(bob.api.patch(`/api/messages/${message.id}`, { text: '@channel hello' }), 403, 'BROADCAST_RESTRICTED');
  });
});

describe('HTML is inert text', () => {
  const HOSTILE = [
    '<script>alert("x")</script>',
    '<img src=x onerror=alert(1)>',
    '"><svg/onload=alert(1)>',
    '<a href="javascript:alert(1)">click</a>',
    '&lt;b&gt; &amp; &#x3C;',
  ];

  test.each(HOSTILE)('message text %s', async (text) => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    const posted = await alice.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text });
    const response = await alice.api.raw('GET', `/api/messages/${posted.id}`);

    expect(posted.text).toBe(text);
    expect((response.body as MessageBody).text).toBe(text);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect((response.body as MessageBody).entities.links).toEqual([]);
  });

  test('names and topics come back unchanged', async () => {
    const hostile = '<script>alert(1)</script>';
    const alice = await buildUser(server.url, 'alice');
    const team = await alice.api.post<{ id: string; name: string }>('/api/teams', { name: hostile });
    const channel = await alice.api.post<{ id: string; topic: string; purpose: string }>(`/api/teams/${team.id}/channels`, {
      name: 'xss',
      topic: hostile,
      purpose: '<img src=x onerror=alert(1)>',
    });
    await alice.api.patch('/api/users/me', { display_name: hostile, status_text: '<b>bold</b>' });

    expect(team.name).toBe(hostile);
    expect((await alice.api.get<{ topic: string }>(`/api/conversations/${channel.id}`)).topic).toBe(hostile);
    expect((await alice.api.get<{ purpose: string }>(`/api/conversations/${channel.id}`)).purpose).toBe('<img src=x onerror=alert(1)>');
    const me = await alice.api.get<{ display_name: string; status_text: string }>('/api/users/me');
    expect(me.display_name).toBe(hostile);
    expect(me.status_text).toBe('<b>bold</b>');
  });
});

describe('mention limits', () => {
  test('usernames past the lookup limit stay text', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const others = (count: number) => Array.from({ length: count }, (_, index) => `@nobody${index}`).join(' ');

    const within = await alice.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, {
      text: `${others(MAX_RESOLVED_USERNAMES - 1)} @${bob.username}`,
    });
    const beyond = await alice.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, {
      text: `${others(MAX_RESOLVED_USERNAMES)} @${bob.username}`,
    });
    expect(within.entities.mentions.map((mention) => mention.user_id)).toEqual([bob.id]);
    expect(beyond.entities.mentions).toEqual([]);
  });

  test('reply mention added by edit follows the thread', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    const root = await alice.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: 'root' });
    const reply = await bob.api.post<MessageBody>(`/api/conversations/${team.generalId}/messages`, { text: 'reply', thread_root_id: root.id });
    expect((await carol.api.get<{ threads: unknown[] }>('/api/threads')).threads).toEqual([]);

    await bob.api.patch(`/api/messages/${reply.id}`, { text: `reply @${carol.username}` });
    const { threads } = await carol.api.get<{ threads: Array<{ thread_root_id: string; mention_count: number }> }>('/api/threads');
    expect(threads.map((thread) => [thread.thread_root_id, thread.mention_count])).toEqual([[root.id, 1]]);
  });
});
