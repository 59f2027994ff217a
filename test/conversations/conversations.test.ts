import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RawResponse } from '../../src/client/api.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { expectError } from '../helpers/assertions.js';

interface Conversation {
  id: string;
  team_id: string;
  kind: 'public' | 'private' | 'dm' | 'group';
  name: string | null;
  topic: string;
  purpose: string;
  created_by: string;
  archived: boolean;
  is_general: boolean;
  is_member?: boolean;
  member_ids?: string[];
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

function createChannel(actor: TestUser, teamId: string, body: Record<string, unknown>): Promise<RawResponse> {
  return actor.api.raw('POST', `/api/teams/${teamId}/channels`, body);
}

async function memberIdsOf(viewer: TestUser, conversationId: string): Promise<string[]> {
  const { user_ids: memberIds } = await viewer.api.get<{ user_ids: string[] }>(`/api/conversations/${conversationId}/members`);
  return memberIds;
}

async function listMine(viewer: TestUser, teamId?: string): Promise<Conversation[]> {
  const query = teamId === undefined ? '' : `?team_id=${teamId}`;
  const { conversations } = await viewer.api.get<{ conversations: Conversation[] }>(`/api/conversations${query}`);
  return conversations;
}

/** Builds `count` users and a team owned by the first that contains them all. */
async function buildCrew(count: number): Promise<{ users: TestUser[]; teamId: string; generalId: string }> {
  const users = await Promise.all(Array.from({ length: count }, (_, index) => buildUser(server.url, `crew${index}`)));
  const [owner, ...rest] = users;
  if (owner === undefined) throw new Error('buildCrew needs at least one user');
  const team = await buildTeam(owner, rest);
  return { users, teamId: team.id, generalId: team.generalId };
}

describe('create channel', () => {
  test('create public channel', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const response = await createChannel(alice, team.id, { name: 'launch-plans', topic: 'T-minus 10', purpose: 'Plan the launch' });

    expect(response.status).toBe(201);
    const channel = response.body as Conversation;
    expect(channel).toMatchObject({
      team_id: team.id,
      kind: 'public',
      name: 'launch-plans',
      topic: 'T-minus 10',
      purpose: 'Plan the launch',
      created_by: alice.id,
      archived: false,
      is_general: false,
      is_member: true,
    });
    expect(await memberIdsOf(alice, channel.id)).toEqual([alice.id]);
  });

  test('create private channel', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    const response = await createChannel(alice, team.id, { name: 'secret', private: true });

    expect(response.status).toBe(201);
    const channel = response.body as Conversation;
    expect(channel.kind).toBe('private');
    expectError(await bob.api.raw('GET', `/api/conversations/${channel.id}`), 404, 'CONVERSATION_NOT_FOUND');
  });

  test('create channel as non-member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const eve = await buildUser(server.url, 'eve');
    const team = await buildTeam(alice);

    const response = await createChannel(eve, team.id, { name: 'intrusion' });

    expectError(response, 404, 'TEAM_NOT_FOUND');
  });

  test.each([
    ['uppercase', 'Launch'],
    ['space', 'launch plans'],
    ['punctuation', 'launch!'],
    ['dot', 'launch.plans'],
    ['hash', '#launch'],
    ['emoji', 'launch🚀'],
  ])('channel name %s', async (_case, name) => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const response = await createChannel(alice, team.id, { name });

    expectError(response, 400, 'INVALID_CHANNEL_NAME', 'name');
  });

  test('channel name too long', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const longest = await createChannel(alice, team.id, { name: 'a'.repeat(80) });
    const tooLong = await createChannel(alice, team.id, { name: 'a'.repeat(81) });

    expect(longest.status).toBe(201);
    expectError(tooLong, 400, 'INVALID_CHANNEL_NAME', 'name');
  });

  test('channel name empty', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const response = await createChannel(alice, team.id, { name: '' });

    expectError(response, 400, 'INVALID_CHANNEL_NAME', 'name');
  });

  test('channel name allowed forms', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    for (const name of ['ops_2024', 'front-end', 'café', '日本語']) {
      const response = await createChannel(alice, team.id, { name });
      expect({ name, status: response.status }).toEqual({ name, status: 201 });
    }
  });

  test('channel name taken in team', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    await createChannel(alice, team.id, { name: 'design' });

    const again = await createChannel(alice, team.id, { name: 'design' });
    const privateAgain = await createChannel(alice, team.id, { name: 'design', private: true });
    const general = await createChannel(alice, team.id, { name: 'general' });

    expectError(again, 409, 'CHANNEL_NAME_TAKEN', 'name');
    expectError(privateAgain, 409, 'CHANNEL_NAME_TAKEN', 'name');
    expectError(general, 409, 'CHANNEL_NAME_TAKEN', 'name');
  });

  test('channel name taken concurrently', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const responses = await Promise.all([1, 2, 3].map(() => createChannel(alice, team.id, { name: 'race' })));

    expect(responses.map((response) => response.status).sort()).toEqual([201, 409, 409]);
  });

  test('channel name free in other team', async () => {
    const alice = await buildUser(server.url, 'alice');
    const first = await buildTeam(alice, [], 'First');
    const second = await buildTeam(alice, [], 'Second');
    await createChannel(alice, first.id, { name: 'design' });

    const response = await createChannel(alice, second.id, { name: 'design' });

    expect(response.status).toBe(201);
  });
});

describe('list channels', () => {
  test('list public channels', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const joined = await buildChannel(alice, team.id, { name: 'joined', members: [bob] });
    const other = await buildChannel(alice, team.id, { name: 'other' });
    await buildChannel(alice, team.id, { name: 'hidden', private: true });

    const response = await bob.api.raw('GET', `/api/teams/${team.id}/channels`);

    expect(response.status).toBe(200);
    const { conversations } = response.body as { conversations: Conversation[] };
    expect(conversations.map((channel) => [channel.name, channel.is_member])).toEqual([
      ['general', true],
      ['joined', true],
      ['other', false],
    ]);
    expect(conversations.map((channel) => channel.id)).toEqual([team.generalId, joined.id, other.id]);
  });

  test('list public channels as non-member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const eve = await buildUser(server.url, 'eve');
    const team = await buildTeam(alice);

    const response = await eve.api.raw('GET', `/api/teams/${team.id}/channels`);

    expectError(response, 404, 'TEAM_NOT_FOUND');
  });

  test('list my conversations', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const first = await buildTeam(alice, [bob], 'First');
    const second = await buildTeam(bob, [alice], 'Second');
    const secret = await buildChannel(alice, first.id, { private: true, members: [bob] });
    await buildChannel(alice, first.id, { name: 'not-joined' });
    const dm = await alice.api.post<Conversation>(`/api/teams/${first.id}/dms`, { user_ids: [bob.id] });

    const all = await listMine(bob);
    const inFirst = await listMine(bob, first.id);
    const inSecond = await listMine(bob, second.id);

    expect(new Set(all.map((conversation) => conversation.id))).toEqual(new Set([first.generalId, secret.id, dm.id, second.generalId]));
    expect(new Set(inFirst.map((conversation) => conversation.id))).toEqual(new Set([first.generalId, secret.id, dm.id]));
    expect(inSecond.map((conversation) => conversation.id)).toEqual([second.generalId]);
    expect(all.every((conversation) => conversation.is_member === true)).toBe(true);
    expect(all.find((conversation) => conversation.id === dm.id)?.member_ids?.sort()).toEqual([alice.id, bob.id].sort());
  });

  test('list my conversations bad team id', async () => {
    const alice = await buildUser(server.url, 'alice');

    const response = await alice.api.raw('GET', '/api/conversations?team_id=nope');

    expectError(response, 400, 'VALIDATION_FAILED', 'team_id');
  });
});

describe('join and leave', () => {
  test('join public channel', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id);

    const response = await bob.api.raw('POST', `/api/conversations/${channel.id}/join`);

    expect(response.status).toBe(200);
    expect((response.body as Conversation).is_member).toBe(true);
    expect(await memberIdsOf(alice, channel.id)).toEqual([alice.id, bob.id]);
    expect((await bob.api.raw('POST', `/api/conversations/${channel.id}/join`)).status).toBe(200);
    expect(await memberIdsOf(alice, channel.id)).toEqual([alice.id, bob.id]);
  });

  test('join public channel concurrently', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id);

    const responses = await Promise.all([1, 2, 3].map(() => bob.api.raw('POST', `/api/conversations/${channel.id}/join`)));

    expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
    expect(await memberIdsOf(alice, channel.id)).toEqual([alice.id, bob.id]);
  });

  test('join private channel', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id, { private: true });

    const response = await bob.api.raw('POST', `/api/conversations/${channel.id}/join`);
    const missing = await bob.api.raw('POST', `/api/conversations/${randomUUID()}/join`);

    expectError(response, 404, 'CONVERSATION_NOT_FOUND');
    expect(response.body).toEqual(missing.body);
    expect(await memberIdsOf(alice, channel.id)).toEqual([alice.id]);
  });

  test('leave channel', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const publicChannel = await buildChannel(alice, team.id, { members: [bob] });
    const privateChannel = await buildChannel(alice, team.id, { private: true, members: [bob] });

    const leftPublic = await bob.api.raw('POST', `/api/conversations/${publicChannel.id}/leave`);
    const leftPrivate = await bob.api.raw('POST', `/api/conversations/${privateChannel.id}/leave`);

    expect(leftPublic.status).toBe(204);
    expect(leftPrivate.status).toBe(204);
    expect((await bob.api.get<Conversation>(`/api/conversations/${publicChannel.id}`)).is_member).toBe(false);
    expectError(await bob.api.raw('GET', `/api/conversations/${privateChannel.id}`), 404, 'CONVERSATION_NOT_FOUND');
    expectError(
      await bob.api.raw('POST', `/api/conversations/${publicChannel.id}/messages`, { text: 'after leaving' }),
      403,
      'NOT_IN_CONVERSATION',
    );
  });

  test('leave general', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    const response = await bob.api.raw('POST', `/api/conversations/${team.generalId}/leave`);

    expectError(response, 403, 'FORBIDDEN');
    expect(await memberIdsOf(alice, team.generalId)).toContain(bob.id);
  });

  test('leave direct message', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    const dm = await alice.api.post<Conversation>(`/api/teams/${team.id}/dms`, { user_ids: [bob.id] });
    const group = await alice.api.post<Conversation>(`/api/teams/${team.id}/dms`, { user_ids: [bob.id, carol.id] });

    const leftDm = await bob.api.raw('POST', `/api/conversations/${dm.id}/leave`);
    const leftGroup = await bob.api.raw('POST', `/api/conversations/${group.id}/leave`);

    expectError(leftDm, 403, 'FORBIDDEN');
    expectError(leftGroup, 403, 'FORBIDDEN');
  });

  test('leave channel not joined', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id);

    const response = await bob.api.raw('POST', `/api/conversations/${channel.id}/leave`);

    expectError(response, 403, 'NOT_IN_CONVERSATION');
  });
});

describe('channel members', () => {
  test('invite team members', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    const channel = await buildChannel(alice, team.id, { private: true, members: [bob] });

    const response = await bob.api.raw('POST', `/api/conversations/${channel.id}/members`, { user_ids: [alice.id, carol.id] });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ added: [carol.id] });
    expect(await memberIdsOf(carol, channel.id)).toEqual([alice.id, bob.id, carol.id]);
  });

  test('invite concurrently', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    const channel = await buildChannel(alice, team.id, { private: true, members: [bob] });

    const responses = await Promise.all(
      [alice, bob, alice].map((inviter) => inviter.api.raw('POST', `/api/conversations/${channel.id}/members`, { user_ids: [carol.id] })),
    );

    expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
    expect(responses.flatMap((response) => (response.body as { added: string[] }).added)).toEqual([carol.id]);
    expect(await memberIdsOf(alice, channel.id)).toEqual([alice.id, bob.id, carol.id]);
  });

  test('invite outsider', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const outsider = await buildUser(server.url, 'outsider');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id, { private: true });

    const response = await alice.api.raw('POST', `/api/conversations/${channel.id}/members`, { user_ids: [bob.id, outsider.id] });
    const unknown = await alice.api.raw('POST', `/api/conversations/${channel.id}/members`, { user_ids: [randomUUID()] });

    expectError(response, 404, 'USER_NOT_FOUND', 'user_ids');
    expectError(unknown, 404, 'USER_NOT_FOUND', 'user_ids');
    expect(await memberIdsOf(alice, channel.id)).toEqual([alice.id]);
  });

  test('invite by non-member of channel', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    const channel = await buildChannel(alice, team.id);

    const response = await bob.api.raw('POST', `/api/conversations/${channel.id}/members`, { user_ids: [carol.id] });

    expectError(response, 403, 'NOT_IN_CONVERSATION');
  });

  test('invite into direct message', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    const dm = await alice.api.post<Conversation>(`/api/teams/${team.id}/dms`, { user_ids: [bob.id] });

    const response = await alice.api.raw('POST', `/api/conversations/${dm.id}/members`, { user_ids: [carol.id] });

    expectError(response, 403, 'FORBIDDEN');
  });

  test('invite empty list', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    const channel = await buildChannel(alice, team.id);

    const empty = await alice.api.raw('POST', `/api/conversations/${channel.id}/members`, { user_ids: [] });
    const badId = await alice.api.raw('POST', `/api/conversations/${channel.id}/members`, { user_ids: ['nope'] });

    expectError(empty, 400, 'VALIDATION_FAILED', 'user_ids');
    expectError(badId, 400, 'VALIDATION_FAILED', 'user_ids/0');
  });

  test('remove member by creator', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id, { private: true, members: [bob] });

    const response = await alice.api.raw('DELETE', `/api/conversations/${channel.id}/members/${bob.id}`);

    expect(response.status).toBe(204);
    expect(await memberIdsOf(alice, channel.id)).toEqual([alice.id]);
    expectError(await bob.api.raw('GET', `/api/conversations/${channel.id}`), 404, 'CONVERSATION_NOT_FOUND');
  });

  test('remove member by team admin', async () => {
    const alice = await buildUser(server.url, 'alice');
    const admin = await buildUser(server.url, 'admin');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [admin, bob]);
    await alice.api.patch(`/api/teams/${team.id}/members/${admin.id}`, { role: 'admin' });
    const channel = await buildChannel(bob, team.id, { members: [admin] });

    const response = await admin.api.raw('DELETE', `/api/conversations/${channel.id}/members/${bob.id}`);

    expect(response.status).toBe(204);
    expect(await memberIdsOf(admin, channel.id)).toEqual([admin.id]);
  });

  test('remove member by plain member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    const channel = await buildChannel(alice, team.id, { members: [bob, carol] });

    const response = await bob.api.raw('DELETE', `/api/conversations/${channel.id}/members/${carol.id}`);

    expectError(response, 403, 'FORBIDDEN');
    expect(await memberIdsOf(alice, channel.id)).toContain(carol.id);
  });

  test('remove member not in channel', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id);

    const response = await alice.api.raw('DELETE', `/api/conversations/${channel.id}/members/${bob.id}`);

    expectError(response, 409, 'NOT_A_MEMBER', 'userId');
  });

  test('remove member from general', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    const response = await alice.api.raw('DELETE', `/api/conversations/${team.generalId}/members/${bob.id}`);

    expectError(response, 403, 'FORBIDDEN');
  });
});

describe('update channel', () => {
  test('rename by creator', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(bob, team.id);

    const response = await bob.api.raw('PATCH', `/api/conversations/${channel.id}`, { name: 'renamed' });

    expect(response.status).toBe(200);
    expect((response.body as Conversation).name).toBe('renamed');
    expect((await alice.api.get<Conversation>(`/api/conversations/${channel.id}`)).name).toBe('renamed');
  });

  test('rename by team admin', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(bob, team.id, { members: [alice] });

    const response = await alice.api.raw('PATCH', `/api/conversations/${channel.id}`, { name: 'by-owner' });

    expect(response.status).toBe(200);
    expect((response.body as Conversation).name).toBe('by-owner');
  });

  test('rename by plain member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id, { name: 'original', members: [bob] });

    const response = await bob.api.raw('PATCH', `/api/conversations/${channel.id}`, { name: 'hijacked' });

    expectError(response, 403, 'FORBIDDEN');
    expect((await alice.api.get<Conversation>(`/api/conversations/${channel.id}`)).name).toBe('original');
  });

  test('rename invalid name', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    const channel = await buildChannel(alice, team.id);

    const response = await alice.api.raw('PATCH', `/api/conversations/${channel.id}`, { name: 'Bad Name' });

    expectError(response, 400, 'INVALID_CHANNEL_NAME', 'name');
  });

  test('rename to taken name', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    await buildChannel(alice, team.id, { name: 'taken' });
    const channel = await buildChannel(alice, team.id);

    const response = await alice.api.raw('PATCH', `/api/conversations/${channel.id}`, { name: 'taken' });

    expectError(response, 409, 'CHANNEL_NAME_TAKEN', 'name');
  });

  test('topic and purpose by member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id, { members: [bob] });

    const response = await bob.api.raw('PATCH', `/api/conversations/${channel.id}`, { topic: 'Launch on Friday', purpose: 'Launch logistics' });

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ topic: 'Launch on Friday', purpose: 'Launch logistics' });
  });

  test('topic in direct message', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const dm = await alice.api.post<Conversation>(`/api/teams/${team.id}/dms`, { user_ids: [bob.id] });

    const topic = await bob.api.raw('PATCH', `/api/conversations/${dm.id}`, { topic: 'weekly sync' });
    const rename = await bob.api.raw('PATCH', `/api/conversations/${dm.id}`, { name: 'named-dm' });

    expect(topic.status).toBe(200);
    expectError(rename, 400, 'VALIDATION_FAILED', 'name');
  });

  test('topic by non-member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id);

    const response = await bob.api.raw('PATCH', `/api/conversations/${channel.id}`, { topic: 'drive-by' });

    expectError(response, 403, 'NOT_IN_CONVERSATION');
  });

  test('topic too long', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    const channel = await buildChannel(alice, team.id);

    const response = await alice.api.raw('PATCH', `/api/conversations/${channel.id}`, { topic: 't'.repeat(251) });

    expectError(response, 400, 'VALIDATION_FAILED', 'topic');
  });

  test('update empty body', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    const channel = await buildChannel(alice, team.id);

    const response = await alice.api.raw('PATCH', `/api/conversations/${channel.id}`, {});

    expectError(response, 400, 'VALIDATION_FAILED', 'body');
  });
});

describe('archive', () => {
  test('archive blocks writes', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);
    const channel = await buildChannel(bob, team.id);
    const message = await bob.api.post<{ id: string }>(`/api/conversations/${channel.id}/messages`, { text: 'before archive' });

    const response = await bob.api.raw('POST', `/api/conversations/${channel.id}/archive`);

    expect(response.status).toBe(200);
    expect((response.body as Conversation).archived).toBe(true);
    const post = await bob.api.raw('POST', `/api/conversations/${channel.id}/messages`, { text: 'after archive' });
    const edit = await bob.api.raw('PATCH', `/api/messages/${message.id}`, { text: 'edited' });
    const remove = await bob.api.raw('DELETE', `/api/messages/${message.id}`);
    const join = await carol.api.raw('POST', `/api/conversations/${channel.id}/join`);
    const topic = await bob.api.raw('PATCH', `/api/conversations/${channel.id}`, { topic: 'archived topic' });
    expectError(post, 409, 'CONVERSATION_ARCHIVED');
    expectError(edit, 409, 'CONVERSATION_ARCHIVED');
    expectError(remove, 409, 'CONVERSATION_ARCHIVED');
    expectError(join, 409, 'CONVERSATION_ARCHIVED');
    expectError(topic, 409, 'CONVERSATION_ARCHIVED');
    const history = await bob.api.get<{ messages: Array<{ text: string }> }>(`/api/conversations/${channel.id}/messages`);
    expect(history.messages.map((item) => item.text)).toEqual(['before archive']);
  });

  test('unarchive allows posts', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    const channel = await buildChannel(alice, team.id);
    await alice.api.post(`/api/conversations/${channel.id}/archive`);

    const response = await alice.api.raw('POST', `/api/conversations/${channel.id}/unarchive`);

    expect(response.status).toBe(200);
    expect((response.body as Conversation).archived).toBe(false);
    expect((await alice.api.raw('POST', `/api/conversations/${channel.id}/messages`, { text: 'back' })).status).toBe(201);
  });

  test('archive by team admin', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(bob, team.id);

    const response = await alice.api.raw('POST', `/api/conversations/${channel.id}/archive`);

    expect(response.status).toBe(200);
    expect((response.body as Conversation).archived).toBe(true);
  });

  test('archive by plain member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id, { members: [bob] });

    const archive = await bob.api.raw('POST', `/api/conversations/${channel.id}/archive`);

    expectError(archive, 403, 'FORBIDDEN');
    expect((await bob.api.get<Conversation>(`/api/conversations/${channel.id}`)).archived).toBe(false);
  });

  test('unarchive by plain member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id, { members: [bob] });
    await alice.api.post(`/api/conversations/${channel.id}/archive`);

    const response = await bob.api.raw('POST', `/api/conversations/${channel.id}/unarchive`);

    expectError(response, 403, 'FORBIDDEN');
  });

  test('archive general', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const response = await alice.api.raw('POST', `/api/conversations/${team.generalId}/archive`);

    expectError(response, 403, 'FORBIDDEN');
    expect((await alice.api.get<Conversation>(`/api/conversations/${team.generalId}`)).archived).toBe(false);
  });

  test('archive direct message', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const dm = await alice.api.post<Conversation>(`/api/teams/${team.id}/dms`, { user_ids: [bob.id] });

    const response = await alice.api.raw('POST', `/api/conversations/${dm.id}/archive`);

    expectError(response, 403, 'FORBIDDEN');
  });
});

describe('direct messages', () => {
  test('open dm twice', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    const first = await alice.api.raw('POST', `/api/teams/${team.id}/dms`, { user_ids: [bob.id] });
    const second = await alice.api.raw('POST', `/api/teams/${team.id}/dms`, { user_ids: [bob.id] });
    const fromBob = await bob.api.raw('POST', `/api/teams/${team.id}/dms`, { user_ids: [alice.id] });

    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(fromBob.status).toBe(200);
    const dm = first.body as Conversation;
    expect(dm.kind).toBe('dm');
    expect(dm.name).toBeNull();
    expect([...(dm.member_ids ?? [])].sort()).toEqual([alice.id, bob.id].sort());
    expect((second.body as Conversation).id).toBe(dm.id);
    expect((fromBob.body as Conversation).id).toBe(dm.id);
  });

  test('open dm concurrently', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    const responses = await Promise.all(
      [alice, bob, alice, bob].map((opener, index) =>
        opener.api.raw('POST', `/api/teams/${team.id}/dms`, { user_ids: [index % 2 === 0 ? bob.id : alice.id] }),
      ),
    );

    expect(responses.map((response) => response.status).sort()).toEqual([200, 200, 200, 201]);
    expect(new Set(responses.map((response) => (response.body as Conversation).id)).size).toBe(1);
  });

  test('open dm in other team is separate', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const first = await buildTeam(alice, [bob], 'First');
    const second = await buildTeam(alice, [bob], 'Second');

    const inFirst = await alice.api.post<Conversation>(`/api/teams/${first.id}/dms`, { user_ids: [bob.id] });
    const inSecond = await alice.api.post<Conversation>(`/api/teams/${second.id}/dms`, { user_ids: [bob.id] });

    expect(inSecond.id).not.toBe(inFirst.id);
    expect(inSecond.team_id).toBe(second.id);
  });

  test('group dm order ignored', async () => {
    const { users, teamId } = await buildCrew(4);
    const [alice, bob, carol, dave] = users as [TestUser, TestUser, TestUser, TestUser];

    const first = await alice.api.raw('POST', `/api/teams/${teamId}/dms`, { user_ids: [bob.id, carol.id, dave.id] });
    const reordered = await alice.api.raw('POST', `/api/teams/${teamId}/dms`, { user_ids: [dave.id, bob.id, carol.id] });
    const fromCarol = await carol.api.raw('POST', `/api/teams/${teamId}/dms`, { user_ids: [alice.id, dave.id, bob.id] });

    expect(first.status).toBe(201);
    expect(reordered.status).toBe(200);
    expect(fromCarol.status).toBe(200);
    const group = first.body as Conversation;
    expect(group.kind).toBe('group');
    expect((reordered.body as Conversation).id).toBe(group.id);
    expect((fromCarol.body as Conversation).id).toBe(group.id);
  });

  test('group dm at size limit', async () => {
    const { users, teamId } = await buildCrew(10);
    const [alice, ...others] = users as [TestUser, ...TestUser[]];

    const nine = await alice.api.raw('POST', `/api/teams/${teamId}/dms`, { user_ids: others.slice(0, 8).map((user) => user.id) });
    const ten = await alice.api.raw('POST', `/api/teams/${teamId}/dms`, { user_ids: others.map((user) => user.id) });

    expect(nine.status).toBe(201);
    expect((nine.body as Conversation).member_ids).toHaveLength(9);
    expectError(ten, 400, 'VALIDATION_FAILED', 'user_ids');
  });

  test('group dm with self listed', async () => {
    const { users, teamId } = await buildCrew(3);
    const [alice, bob, carol] = users as [TestUser, TestUser, TestUser];

    const withSelf = await alice.api.raw('POST', `/api/teams/${teamId}/dms`, { user_ids: [alice.id, bob.id, carol.id] });
    const withoutSelf = await alice.api.raw('POST', `/api/teams/${teamId}/dms`, { user_ids: [bob.id, carol.id] });

    expect(withSelf.status).toBe(201);
    expect(withoutSelf.status).toBe(200);
    expect((withoutSelf.body as Conversation).id).toBe((withSelf.body as Conversation).id);
  });

  test('dm with outsider', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const outsider = await buildUser(server.url, 'outsider');
    const team = await buildTeam(alice, [bob]);

    const single = await alice.api.raw('POST', `/api/teams/${team.id}/dms`, { user_ids: [outsider.id] });
    const group = await alice.api.raw('POST', `/api/teams/${team.id}/dms`, { user_ids: [bob.id, outsider.id] });
    const unknown = await alice.api.raw('POST', `/api/teams/${team.id}/dms`, { user_ids: [randomUUID()] });

    expectError(single, 404, 'USER_NOT_FOUND', 'user_ids');
    expectError(group, 404, 'USER_NOT_FOUND', 'user_ids');
    expectError(unknown, 404, 'USER_NOT_FOUND', 'user_ids');
  });

  test('dm in foreign team', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const eve = await buildUser(server.url, 'eve');
    const team = await buildTeam(alice, [bob]);

    const response = await eve.api.raw('POST', `/api/teams/${team.id}/dms`, { user_ids: [bob.id] });

    expectError(response, 404, 'TEAM_NOT_FOUND');
  });

  test('dm hidden from non-participant', async () => {
    const { users, teamId } = await buildCrew(4);
    const [alice, bob, carol, dave] = users as [TestUser, TestUser, TestUser, TestUser];
    const dm = await alice.api.post<Conversation>(`/api/teams/${teamId}/dms`, { user_ids: [bob.id] });
    const group = await alice.api.post<Conversation>(`/api/teams/${teamId}/dms`, { user_ids: [bob.id, carol.id] });
    const missing = await dave.api.raw('GET', `/api/conversations/${randomUUID()}`);

    for (const conversation of [dm, group]) {
      const read = await dave.api.raw('GET', `/api/conversations/${conversation.id}`);
      const history = await dave.api.raw('GET', `/api/conversations/${conversation.id}/messages`);
      const join = await dave.api.raw('POST', `/api/conversations/${conversation.id}/join`);
      expectError(read, 404, 'CONVERSATION_NOT_FOUND');
      expect(read.body).toEqual(missing.body);
      expectError(history, 404, 'CONVERSATION_NOT_FOUND');
      expectError(join, 404, 'CONVERSATION_NOT_FOUND');
    }
    expect((await carol.api.raw('GET', `/api/conversations/${dm.id}`)).status).toBe(404);
  });

  test('dm participant reads and posts', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const dm = await alice.api.post<Conversation>(`/api/teams/${team.id}/dms`, { user_ids: [bob.id] });

    const posted = await bob.api.raw('POST', `/api/conversations/${dm.id}/messages`, { text: 'hi alice' });
    const read = await alice.api.get<Conversation>(`/api/conversations/${dm.id}`);

    expect(posted.status).toBe(201);
    expect([...(read.member_ids ?? [])].sort()).toEqual([alice.id, bob.id].sort());
  });
});
