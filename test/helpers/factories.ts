import { randomBytes } from 'node:crypto';
import { ApiClient } from '../../src/client/api.js';

export interface TestUser {
  api: ApiClient;
  id: string;
  username: string;
  token: string;
  sessionId: string;
}

export interface TestTeam {
  id: string;
  generalId: string;
}

let counter = 0;

/** Registers a new user with a unique username. */
export async function buildUser(baseUrl: string, prefix = 'user'): Promise<TestUser> {
  counter += 1;
  const username = `${prefix}${counter}_${randomBytes(3).toString('hex')}`;
  const api = new ApiClient(baseUrl);
  const result = await api.post<{ user: { id: string }; token: string; session_id: string }>('/api/auth/register', {
    email: `${username}@example.test`,
    username,
    password: 'correct horse battery',
    display_name: `${prefix} ${counter}`,
  });
  api.token = result.token;
  return { api, id: result.user.id, username, token: result.token, sessionId: result.session_id };
}

/** Creates a team owned by `owner` with the given members added. */
export async function buildTeam(owner: TestUser, members: TestUser[] = [], name = 'Team'): Promise<TestTeam> {
  const team = await owner.api.post<{ id: string; general_conversation_id: string }>('/api/teams', { name });
  for (const member of members) await owner.api.post(`/api/teams/${team.id}/members`, { user_id: member.id });
  return { id: team.id, generalId: team.general_conversation_id };
}

/** Creates a channel in a team, created by `creator`, with `members` invited. */
export async function buildChannel(
  creator: TestUser,
  teamId: string,
  options: { name?: string; private?: boolean; members?: TestUser[] } = {},
): Promise<{ id: string }> {
  counter += 1;
  const channel = await creator.api.post<{ id: string }>(`/api/teams/${teamId}/channels`, {
    name: options.name ?? `channel-${counter}`,
    private: options.private ?? false,
  });
  if (options.members !== undefined && options.members.length > 0) {
    await creator.api.post(`/api/conversations/${channel.id}/members`, { user_ids: options.members.map((member) => member.id) });
  }
  return channel;
}
