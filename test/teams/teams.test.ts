import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RawResponse } from '../../src/client/api.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { expectError } from '../helpers/assertions.js';

interface Team {
  id: string;
  name: string;
  general_conversation_id: string;
  role: string;
}

interface TeamMember {
  user: { id: string; username: string };
  role: string;
}

interface Conversation {
  id: string;
  name: string | null;
  is_general: boolean;
  is_member?: boolean;
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

async function rolesOf(viewer: TestUser, teamId: string): Promise<Map<string, string>> {
  const { members } = await viewer.api.get<{ members: TeamMember[] }>(`/api/teams/${teamId}/members`);
  return new Map(members.map((member) => [member.user.id, member.role]));
}

async function setRole(actor: TestUser, teamId: string, target: TestUser, role: string): Promise<RawResponse> {
  return actor.api.raw('PATCH', `/api/teams/${teamId}/members/${target.id}`, { role });
}

describe('create team', () => {
  test('create team makes owner', async () => {
    const alice = await buildUser(server.url, 'alice');

    const response = await alice.api.raw('POST', '/api/teams', { name: '  Rocket Lab  ' });

    expect(response.status).toBe(201);
    const team = response.body as Team;
    expect(team.name).toBe('Rocket Lab');
    expect(team.role).toBe('owner');
    expect(await rolesOf(alice, team.id)).toEqual(new Map([[alice.id, 'owner']]));
  });

  test('create team makes general', async () => {
    const alice = await buildUser(server.url, 'alice');

    const team = await alice.api.post<Team>('/api/teams', { name: 'General check' });

    const general = await alice.api.get<Conversation>(`/api/conversations/${team.general_conversation_id}`);
    expect(general.name).toBe('general');
    expect(general.is_general).toBe(true);
    expect(general.is_member).toBe(true);
    const { user_ids: memberIds } = await alice.api.get<{ user_ids: string[] }>(`/api/conversations/${team.general_conversation_id}/members`);
    expect(memberIds).toEqual([alice.id]);
  });

  test('create team blank name', async () => {
    const alice = await buildUser(server.url, 'alice');

    const response = await alice.api.raw('POST', '/api/teams', { name: '' });

    expectError(response, 400, 'VALIDATION_FAILED', 'name');
  });

  test('create team name too long', async () => {
    const alice = await buildUser(server.url, 'alice');

    const response = await alice.api.raw('POST', '/api/teams', { name: 't'.repeat(81) });

    expectError(response, 400, 'VALIDATION_FAILED', 'name');
  });
});

describe('read teams', () => {
  test('list my teams', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const own = await buildTeam(alice, [], 'Own');
    const joined = await buildTeam(bob, [alice], 'Joined');
    await buildTeam(bob, [], 'Foreign');

    const { teams } = await alice.api.get<{ teams: Team[] }>('/api/teams');

    expect(teams.map((team) => [team.id, team.role])).toEqual([
      [own.id, 'owner'],
      [joined.id, 'member'],
    ]);
  });

  test('get team as member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob], 'Visible');

    const response = await bob.api.raw('GET', `/api/teams/${team.id}`);

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: team.id, name: 'Visible', role: 'member', general_conversation_id: team.generalId });
  });

  test('get team as non-member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const eve = await buildUser(server.url, 'eve');
    const team = await buildTeam(alice);

    const hidden = await eve.api.raw('GET', `/api/teams/${team.id}`);
    const missing = await eve.api.raw('GET', `/api/teams/${randomUUID()}`);

    expectError(hidden, 404, 'TEAM_NOT_FOUND');
    expect(hidden.body).toEqual(missing.body);
  });

  test('members list', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    const response = await bob.api.raw('GET', `/api/teams/${team.id}/members`);

    expect(response.status).toBe(200);
    const { members } = response.body as { members: TeamMember[] };
    expect(members).toHaveLength(2);
    expect(new Map(members.map((member) => [member.user.username, member.role]))).toEqual(
      new Map([
        [alice.username, 'owner'],
        [bob.username, 'member'],
      ]),
    );
    expect(members[0]?.user).not.toHaveProperty('email');
  });

  test('members list as non-member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const eve = await buildUser(server.url, 'eve');
    const team = await buildTeam(alice);

    const response = await eve.api.raw('GET', `/api/teams/${team.id}/members`);

    expectError(response, 404, 'TEAM_NOT_FOUND');
  });
});

describe('add member', () => {
  test('add member by user id', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice);

    const response = await alice.api.raw('POST', `/api/teams/${team.id}/members`, { user_id: bob.id });

    expect(response.status).toBe(201);
    expect(response.body).toEqual({ user_id: bob.id, role: 'member' });
    expect((await rolesOf(alice, team.id)).get(bob.id)).toBe('member');
  });

  test('add member by username', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice);

    const response = await alice.api.raw('POST', `/api/teams/${team.id}/members`, { username: bob.username.toUpperCase(), role: 'admin' });

    expect(response.status).toBe(201);
    expect(response.body).toEqual({ user_id: bob.id, role: 'admin' });
  });

  test('add member lands in general', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    const general = await bob.api.get<Conversation>(`/api/conversations/${team.generalId}`);
    const posted = await bob.api.raw('POST', `/api/conversations/${team.generalId}/messages`, { text: 'hi all' });

    expect(general.is_member).toBe(true);
    expect(posted.status).toBe(201);
    const { user_ids: memberIds } = await alice.api.get<{ user_ids: string[] }>(`/api/conversations/${team.generalId}/members`);
    expect(memberIds).toContain(bob.id);
  });

  test('add member by admin', async () => {
    const alice = await buildUser(server.url, 'alice');
    const admin = await buildUser(server.url, 'admin');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice);
    await alice.api.post(`/api/teams/${team.id}/members`, { user_id: admin.id, role: 'admin' });

    const response = await admin.api.raw('POST', `/api/teams/${team.id}/members`, { user_id: carol.id });

    expect(response.status).toBe(201);
  });

  test('add member by plain member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob]);

    const response = await bob.api.raw('POST', `/api/teams/${team.id}/members`, { user_id: carol.id });

    expectError(response, 403, 'FORBIDDEN');
    expect((await rolesOf(alice, team.id)).has(carol.id)).toBe(false);
  });

  test('add member by non-member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const eve = await buildUser(server.url, 'eve');
    const team = await buildTeam(alice);

    const response = await eve.api.raw('POST', `/api/teams/${team.id}/members`, { user_id: eve.id });

    expectError(response, 404, 'TEAM_NOT_FOUND');
  });

  test('add owner by admin', async () => {
    const alice = await buildUser(server.url, 'alice');
    const admin = await buildUser(server.url, 'admin');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice);
    await alice.api.post(`/api/teams/${team.id}/members`, { user_id: admin.id, role: 'admin' });

    const response = await admin.api.raw('POST', `/api/teams/${team.id}/members`, { user_id: carol.id, role: 'owner' });

    expectError(response, 403, 'FORBIDDEN');
    expect((await rolesOf(alice, team.id)).has(carol.id)).toBe(false);
  });

  test('add owner by owner', async () => {
    const alice = await buildUser(server.url, 'alice');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice);

    const response = await alice.api.raw('POST', `/api/teams/${team.id}/members`, { user_id: carol.id, role: 'owner' });

    expect(response.status).toBe(201);
    expect((await rolesOf(alice, team.id)).get(carol.id)).toBe('owner');
  });

  test('add member twice', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    const response = await alice.api.raw('POST', `/api/teams/${team.id}/members`, { user_id: bob.id });

    expectError(response, 409, 'ALREADY_MEMBER');
  });

  test('add member twice at once', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice);

    const responses = await Promise.all(
      [1, 2, 3].map(() => alice.api.raw('POST', `/api/teams/${team.id}/members`, { user_id: bob.id })),
    );

    expect(responses.map((response) => response.status).sort()).toEqual([201, 409, 409]);
    const { user_ids: memberIds } = await alice.api.get<{ user_ids: string[] }>(`/api/conversations/${team.generalId}/members`);
    expect(memberIds.filter((id) => id === bob.id)).toHaveLength(1);
  });

  test('add unknown user', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const byId = await alice.api.raw('POST', `/api/teams/${team.id}/members`, { user_id: randomUUID() });
    const byName = await alice.api.raw('POST', `/api/teams/${team.id}/members`, { username: 'nobody-at-all' });

    expectError(byId, 404, 'USER_NOT_FOUND', 'user_id');
    expectError(byName, 404, 'USER_NOT_FOUND', 'username');
  });

  test('add member without user', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const empty = await alice.api.raw('POST', `/api/teams/${team.id}/members`, {});
    const roleOnly = await alice.api.raw('POST', `/api/teams/${team.id}/members`, { role: 'member' });
    const badRole = await alice.api.raw('POST', `/api/teams/${team.id}/members`, { user_id: alice.id, role: 'root' });

    expectError(empty, 400, 'VALIDATION_FAILED');
    expectError(roleOnly, 400, 'VALIDATION_FAILED', 'user_id');
    expectError(badRole, 400, 'VALIDATION_FAILED', 'role');
  });
});

describe('change role', () => {
  test('owner promotes member to admin', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    const response = await setRole(alice, team.id, bob, 'admin');

    expect(response.status).toBe(204);
    expect((await rolesOf(alice, team.id)).get(bob.id)).toBe('admin');
    expect((await bob.api.get<Team>(`/api/teams/${team.id}`)).role).toBe('admin');
  });

  test('owner grants and takes owner', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    const granted = await setRole(alice, team.id, bob, 'owner');
    const demoted = await setRole(alice, team.id, bob, 'member');

    expect(granted.status).toBe(204);
    expect(demoted.status).toBe(204);
    expect((await rolesOf(alice, team.id)).get(bob.id)).toBe('member');
  });

  test('admin toggles member and admin', async () => {
    const alice = await buildUser(server.url, 'alice');
    const admin = await buildUser(server.url, 'admin');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [admin, bob]);
    await setRole(alice, team.id, admin, 'admin');

    const promoted = await setRole(admin, team.id, bob, 'admin');
    const demoted = await setRole(admin, team.id, bob, 'member');

    expect(promoted.status).toBe(204);
    expect(demoted.status).toBe(204);
    expect((await rolesOf(alice, team.id)).get(bob.id)).toBe('member');
  });

  test('admin cannot grant owner', async () => {
    const alice = await buildUser(server.url, 'alice');
    const admin = await buildUser(server.url, 'admin');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [admin, bob]);
    await setRole(alice, team.id, admin, 'admin');

    const forBob = await setRole(admin, team.id, bob, 'owner');
    const forSelf = await setRole(admin, team.id, admin, 'owner');

    expectError(forBob, 403, 'FORBIDDEN');
    expectError(forSelf, 403, 'FORBIDDEN');
    const roles = await rolesOf(alice, team.id);
    expect(roles.get(bob.id)).toBe('member');
    expect(roles.get(admin.id)).toBe('admin');
  });

  test('admin cannot demote owner', async () => {
    const alice = await buildUser(server.url, 'alice');
    const admin = await buildUser(server.url, 'admin');
    const team = await buildTeam(alice, [admin]);
    await setRole(alice, team.id, admin, 'admin');

    const response = await setRole(admin, team.id, alice, 'member');

    expectError(response, 403, 'FORBIDDEN');
    expect((await rolesOf(alice, team.id)).get(alice.id)).toBe('owner');
  });

  test('admin cannot remove owner', async () => {
    const alice = await buildUser(server.url, 'alice');
    const admin = await buildUser(server.url, 'admin');
    const team = await buildTeam(alice, [admin]);
    await setRole(alice, team.id, admin, 'admin');

    const response = await admin.api.raw('DELETE', `/api/teams/${team.id}/members/${alice.id}`);

    expectError(response, 403, 'FORBIDDEN');
    expect((await rolesOf(alice, team.id)).get(alice.id)).toBe('owner');
  });

  test('plain member cannot change roles', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);

    const forCarol = await setRole(bob, team.id, carol, 'admin');
    const forSelf = await setRole(bob, team.id, bob, 'admin');

    expectError(forCarol, 403, 'FORBIDDEN');
    expectError(forSelf, 403, 'FORBIDDEN');
  });

  test('last owner cannot be demoted', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const response = await setRole(alice, team.id, alice, 'admin');

    expectError(response, 409, 'LAST_OWNER');
    expect((await rolesOf(alice, team.id)).get(alice.id)).toBe('owner');
  });

  test('second owner allows demotion', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    await setRole(alice, team.id, bob, 'owner');

    const response = await setRole(alice, team.id, alice, 'member');

    expect(response.status).toBe(204);
    expectError(await setRole(bob, team.id, bob, 'member'), 409, 'LAST_OWNER');
  });

  test('change role of non-member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const eve = await buildUser(server.url, 'eve');
    const team = await buildTeam(alice);

    const response = await setRole(alice, team.id, eve, 'admin');

    expectError(response, 404, 'USER_NOT_FOUND', 'userId');
  });
});

describe('remove member', () => {
  test('removed member loses team channels', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const publicChannel = await buildChannel(alice, team.id, { members: [bob] });
    const privateChannel = await buildChannel(alice, team.id, { private: true, members: [bob] });
    await bob.api.post(`/api/conversations/${privateChannel.id}/messages`, { text: 'before removal' });

    const response = await alice.api.raw('DELETE', `/api/teams/${team.id}/members/${bob.id}`);

    expect(response.status).toBe(204);
    expectError(await bob.api.raw('GET', `/api/teams/${team.id}`), 404, 'TEAM_NOT_FOUND');
    for (const channelId of [team.generalId, publicChannel.id, privateChannel.id]) {
      expectError(await bob.api.raw('GET', `/api/conversations/${channelId}`), 404, 'CONVERSATION_NOT_FOUND');
      expectError(await bob.api.raw('GET', `/api/conversations/${channelId}/messages`), 404, 'CONVERSATION_NOT_FOUND');
      const { user_ids: memberIds } = await alice.api.get<{ user_ids: string[] }>(`/api/conversations/${channelId}/members`);
      expect(memberIds).not.toContain(bob.id);
    }
    const { conversations } = await bob.api.get<{ conversations: Conversation[] }>('/api/conversations');
    expect(conversations).toEqual([]);
  });

  test('removed member cannot post', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(alice, team.id, { members: [bob] });
    await alice.api.delete(`/api/teams/${team.id}/members/${bob.id}`);

    const inGeneral = await bob.api.raw('POST', `/api/conversations/${team.generalId}/messages`, { text: 'still here?' });
    const inChannel = await bob.api.raw('POST', `/api/conversations/${channel.id}/messages`, { text: 'still here?' });
    const rejoin = await bob.api.raw('POST', `/api/conversations/${channel.id}/join`);

    expectError(inGeneral, 404, 'CONVERSATION_NOT_FOUND');
    expectError(inChannel, 404, 'CONVERSATION_NOT_FOUND');
    expectError(rejoin, 404, 'CONVERSATION_NOT_FOUND');
  });

  test('removed member loses direct messages', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const dm = await alice.api.post<Conversation>(`/api/teams/${team.id}/dms`, { user_ids: [bob.id] });
    await alice.api.delete(`/api/teams/${team.id}/members/${bob.id}`);

    const read = await bob.api.raw('GET', `/api/conversations/${dm.id}/messages`);
    const post = await bob.api.raw('POST', `/api/conversations/${dm.id}/messages`, { text: 'hello?' });

    expectError(read, 404, 'CONVERSATION_NOT_FOUND');
    expectError(post, 404, 'CONVERSATION_NOT_FOUND');
  });

  test('removed member readded gets only general', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const privateChannel = await buildChannel(alice, team.id, { private: true, members: [bob] });
    await alice.api.delete(`/api/teams/${team.id}/members/${bob.id}`);

    await alice.api.post(`/api/teams/${team.id}/members`, { user_id: bob.id });

    const { conversations } = await bob.api.get<{ conversations: Conversation[] }>(`/api/conversations?team_id=${team.id}`);
    expect(conversations.map((conversation) => conversation.id)).toEqual([team.generalId]);
    expectError(await bob.api.raw('GET', `/api/conversations/${privateChannel.id}`), 404, 'CONVERSATION_NOT_FOUND');
  });

  test('remove member by plain member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const carol = await buildUser(server.url, 'carol');
    const team = await buildTeam(alice, [bob, carol]);

    const response = await bob.api.raw('DELETE', `/api/teams/${team.id}/members/${carol.id}`);

    expectError(response, 403, 'FORBIDDEN');
    expect((await rolesOf(alice, team.id)).has(carol.id)).toBe(true);
  });

  test('remove member by admin', async () => {
    const alice = await buildUser(server.url, 'alice');
    const admin = await buildUser(server.url, 'admin');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [admin, bob]);
    await setRole(alice, team.id, admin, 'admin');

    const response = await admin.api.raw('DELETE', `/api/teams/${team.id}/members/${bob.id}`);

    expect(response.status).toBe(204);
    expect((await rolesOf(alice, team.id)).has(bob.id)).toBe(false);
  });

  test('remove non-member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const eve = await buildUser(server.url, 'eve');
    const team = await buildTeam(alice);

    const response = await alice.api.raw('DELETE', `/api/teams/${team.id}/members/${eve.id}`);

    expectError(response, 404, 'USER_NOT_FOUND', 'userId');
  });

  test('remove last owner', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const response = await alice.api.raw('DELETE', `/api/teams/${team.id}/members/${alice.id}`);

    expectError(response, 409, 'LAST_OWNER');
  });
});

describe('leave team', () => {
  test('leave team as member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const channel = await buildChannel(bob, team.id, { private: true });

    const response = await bob.api.raw('POST', `/api/teams/${team.id}/leave`);

    expect(response.status).toBe(204);
    expect((await rolesOf(alice, team.id)).has(bob.id)).toBe(false);
    expectError(await bob.api.raw('GET', `/api/teams/${team.id}`), 404, 'TEAM_NOT_FOUND');
    expectError(await bob.api.raw('GET', `/api/conversations/${channel.id}`), 404, 'CONVERSATION_NOT_FOUND');
    const { teams } = await bob.api.get<{ teams: Team[] }>('/api/teams');
    expect(teams).toEqual([]);
  });

  test('leave team as last owner', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);

    const response = await alice.api.raw('POST', `/api/teams/${team.id}/leave`);

    expectError(response, 409, 'LAST_OWNER');
    expect((await rolesOf(alice, team.id)).get(alice.id)).toBe('owner');
  });

  test('leave team as one of two owners', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    await setRole(alice, team.id, bob, 'owner');

    const response = await alice.api.raw('POST', `/api/teams/${team.id}/leave`);

    expect(response.status).toBe(204);
    expect(await rolesOf(bob, team.id)).toEqual(new Map([[bob.id, 'owner']]));
  });

  test('two owners leave at once', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    await setRole(alice, team.id, bob, 'owner');

    const responses = await Promise.all([alice, bob].map((owner) => owner.api.raw('POST', `/api/teams/${team.id}/leave`)));

    expect(responses.map((response) => response.status).sort()).toEqual([204, 409]);
    const stayed = responses[0]?.status === 409 ? alice : bob;
    expect([...(await rolesOf(stayed, team.id)).values()]).toEqual(['owner']);
  });

  test('two owners demote themselves at once', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    await setRole(alice, team.id, bob, 'owner');

    const responses = await Promise.all([alice, bob].map((owner) => setRole(owner, team.id, owner, 'member')));

    expect(responses.map((response) => response.status).sort()).toEqual([204, 409]);
    expect([...(await rolesOf(alice, team.id)).values()].sort()).toEqual(['member', 'owner']);
  });

  test('leave team as non-member', async () => {
    const alice = await buildUser(server.url, 'alice');
    const eve = await buildUser(server.url, 'eve');
    const team = await buildTeam(alice);

    const response = await eve.api.raw('POST', `/api/teams/${team.id}/leave`);

    expectError(response, 404, 'TEAM_NOT_FOUND');
  });
});
