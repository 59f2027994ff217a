/**
 * Builds benchmark users, teams and channels through ChatterBox's HTTP API,
 * as a client would. Registration hashes a password with argon2id on the
 * server, so it is the slow part of every setup.
 */
import { randomBytes } from 'node:crypto';
import { ApiClient } from '../../src/client/api.js';

export interface BenchUser {
  id: string;
  token: string;
  api: ApiClient;
}

/** Registers `count` users, `concurrency` at a time. */
export async function registerUsers(baseUrl: string, count: number, prefix: string, concurrency = 4): Promise<BenchUser[]> {
  const users: BenchUser[] = new Array(count);
  const suffix = randomBytes(3).toString('hex');
  let next = 0;

  async function worker(): Promise<void> {
    while (next < count) {
      const index = next;
      next += 1;
      const api = new ApiClient(baseUrl);
      const username = `${prefix}${index}_${suffix}`;
      const result = await api.post<{ user: { id: string }; token: string }>('/api/auth/register', {
        email: `${username}@bench.example`,
        username,
        password: 'bench password 123',
        display_name: username,
      });
      api.token = result.token;
      users[index] = { id: result.user.id, token: result.token, api };
    }
  }

  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, () => worker()));
  return users;
}

/** Creates a team owned by `owner` and adds every other user to it; returns the team id. */
export async function createTeam(owner: BenchUser, members: readonly BenchUser[], name: string): Promise<string> {
  const team = await owner.api.post<{ id: string }>('/api/teams', { name });
  for (const member of members) {
    if (member.id !== owner.id) await owner.api.post(`/api/teams/${team.id}/members`, { user_id: member.id });
  }
  return team.id;
}

/** Creates a public channel and invites `members` (the creator joins on creation); returns its id. */
export async function createChannel(creator: BenchUser, teamId: string, name: string, members: readonly BenchUser[]): Promise<string> {
  const channel = await creator.api.post<{ id: string }>(`/api/teams/${teamId}/channels`, { name, private: false });
  const invitees = members.filter((member) => member.id !== creator.id).map((member) => member.id);
  // The members route takes at most 100 ids per request.
  for (let start = 0; start < invitees.length; start += 100) {
    await creator.api.post(`/api/conversations/${channel.id}/members`, { user_ids: invitees.slice(start, start + 100) });
  }
  return channel.id;
}
