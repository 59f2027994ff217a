import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { expectError } from '../helpers/assertions.js';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';

interface Entry {
  id: string;
  at: string;
  action: string;
  actor_id: string | null;
  target_type: string | null;
  target_id: string | null;
  team_id: string | null;
  address: string | null;
  details: Record<string, unknown>;
}

interface Page {
  entries: Entry[];
  next_cursor: string | null;
}

let server: TestServer;
let admin: TestUser;
beforeAll(async () => {
  server = await startServer({ rateLimits: { loginPerAddressPerMinute: 10_000 } });
  admin = await buildUser(server.url, 'auditadmin');
});
afterAll(async () => server.close());

async function readAll(api: ApiClient, path: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  let cursor: string | null = null;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const page: Page = await api.get<Page>(`${path}${cursor === null ? '' : `${separator}cursor=${cursor}`}`);
    entries.push(...page.entries);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return entries;
}

describe('team audit log', () => {
  let owner: TestUser;
  let teamAdmin: TestUser;
  let member: TestUser;
  let team: TestTeam;

  beforeAll(async () => {
    owner = await buildUser(server.url, 'owner');
    teamAdmin = await buildUser(server.url, 'teamadmin');
    member = await buildUser(server.url, 'member');
    team = await buildTeam(owner, [teamAdmin, member]);
    await owner.api.patch(`/api/teams/${team.id}/members/${teamAdmin.id}`, { role: 'admin' });
    const channel = await buildChannel(owner, team.id, { private: true, members: [member] });
    await owner.api.delete(`/api/conversations/${channel.id}/members/${member.id}`);
    await owner.api.post(`/api/conversations/${channel.id}/archive`);
    await owner.api.patch(`/api/teams/${team.id}/settings`, { retention_days: 400 });
  });

  test('records team actions with actor and address', async () => {
    const entries = await readAll(owner.api, `/api/teams/${team.id}/audit-log`);

    const actions = entries.map((entry) => entry.action);
    expect(actions).toEqual(
      expect.arrayContaining(['team.member_added', 'team.role_changed', 'channel.created', 'channel.member_removed', 'channel.archived', 'team.retention_changed']),
    );
    const roleChange = entries.find((entry) => entry.action === 'team.role_changed');
    expect(roleChange).toMatchObject({ actor_id: owner.id, target_type: 'user', target_id: teamAdmin.id, team_id: team.id, details: { from: 'member', to: 'admin' } });
    expect(roleChange?.address).toMatch(/127\.0\.0\.1|::1/);
    expect(Date.parse(roleChange?.at ?? '')).toBeLessThanOrEqual(Date.now());
    expect(entries.every((entry) => entry.team_id === team.id)).toBe(true);
    const times = entries.map((entry) => Date.parse(entry.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  test('member removal recorded', async () => {
    const leaving = await buildUser(server.url, 'removed');
    await owner.api.post(`/api/teams/${team.id}/members`, { user_id: leaving.id });

    await owner.api.delete(`/api/teams/${team.id}/members/${leaving.id}`);

    const entries = await readAll(owner.api, `/api/teams/${team.id}/audit-log`);
    expect(entries.find((entry) => entry.action === 'team.member_removed' && entry.target_id === leaving.id)).toMatchObject({ actor_id: owner.id });
  });

  test('pages with cursor', async () => {
    const first = await owner.api.get<Page>(`/api/teams/${team.id}/audit-log?limit=2`);
    const all = await readAll(owner.api, `/api/teams/${team.id}/audit-log?limit=2`);

    expect(first.entries).toHaveLength(2);
    expect(first.next_cursor).not.toBeNull();
    expect(new Set(all.map((entry) => entry.id)).size).toBe(all.length);
    expect(all.slice(0, 2)).toEqual(first.entries);
    expect(all.length).toBeGreaterThanOrEqual(6);
  });

  test('team admin forbidden', async () => {
    expectError(await teamAdmin.api.raw('GET', `/api/teams/${team.id}/audit-log`), 403, 'FORBIDDEN');
  });

  test('member forbidden', async () => {
    expectError(await member.api.raw('GET', `/api/teams/${team.id}/audit-log`), 403, 'FORBIDDEN');
  });

  test('non-member sees not found', async () => {
    const stranger = await buildUser(server.url, 'stranger');

    const hidden = await stranger.api.raw('GET', `/api/teams/${team.id}/audit-log`);
    const missing = await stranger.api.raw('GET', `/api/teams/${randomUUID()}/audit-log`);

    expectError(hidden, 404, 'TEAM_NOT_FOUND');
    expect(hidden.body).toEqual(missing.body);
  });

  test('removed member sees not found', async () => {
    const former = await buildUser(server.url, 'former');
    await owner.api.post(`/api/teams/${team.id}/members`, { user_id: former.id, role: 'owner' });
    await former.api.post(`/api/teams/${team.id}/leave`);

    expectError(await former.api.raw('GET', `/api/teams/${team.id}/audit-log`), 404, 'TEAM_NOT_FOUND');
  });

  test('other team entries hidden', async () => {
    const otherOwner = await buildUser(server.url, 'otherowner');
    const otherTeam = await buildTeam(otherOwner, [member]);

    const entries = await readAll(otherOwner.api, `/api/teams/${otherTeam.id}/audit-log`);

    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((entry) => entry.team_id === otherTeam.id)).toBe(true);
  });

  test('invalid cursor rejected', async () => {
    expectError(await owner.api.raw('GET', `/api/teams/${team.id}/audit-log?cursor=bm90LWEtY3Vyc29y`), 400, 'INVALID_CURSOR', 'cursor');
  });

  test('invalid limit rejected', async () => {
    expectError(await owner.api.raw('GET', `/api/teams/${team.id}/audit-log?limit=0`), 400, 'VALIDATION_FAILED', 'limit');
  });

  test.each([
    ['PATCH', 'team'],
    ['DELETE', 'team'],
    ['PUT', 'team'],
    ['PATCH', 'admin'],
    ['DELETE', 'admin'],
  ])('no %s route on %s log', async (method, scope) => {
    const path = scope === 'team' ? `/api/teams/${team.id}/audit-log` : '/api/admin/audit-log';

    expectError(await owner.api.raw(method, path, method === 'DELETE' ? undefined : {}), 404, 'ROUTE_NOT_FOUND');
  });
});

describe('server audit log', () => {
  test('records logins, failures and sessions', async () => {
    const user = await buildUser(server.url, 'logger');
    const anonymous = new ApiClient(server.url);
    await anonymous.raw('POST', '/api/auth/login', { login: user.username, password: 'wrong password' });
    await anonymous.raw('POST', '/api/auth/login', { login: user.username, password: 'correct horse battery' });
    await user.api.post('/api/auth/logout');

    const entries = await readAll(admin.api, `/api/admin/audit-log?actor_id=${user.id}`);
    const failures = await readAll(admin.api, '/api/admin/audit-log?action=login.failed');

    expect(entries.map((entry) => entry.action)).toEqual(['session.revoked', 'login.succeeded', 'account.registered']);
    expect(entries[0]?.details).toMatchObject({ reason: 'logout', session_ids: [user.sessionId] });
    expect(failures.find((entry) => entry.target_id === user.id)).toMatchObject({ actor_id: null, details: { reason: 'password' } });
  });

  test('records two-factor and deactivation', async () => {
    const target = await buildUser(server.url, 'deactivated');
    await admin.api.post(`/api/admin/users/${target.id}/deactivate`);

    const entries = await readAll(admin.api, `/api/admin/audit-log?action=user.deactivated`);

    expect(entries.find((entry) => entry.target_id === target.id)).toMatchObject({ actor_id: admin.id, target_type: 'user' });
    const revoked = await readAll(admin.api, '/api/admin/audit-log?action=session.revoked');
    expect(revoked.find((entry) => entry.target_id === target.id)).toMatchObject({ details: { reason: 'deactivated' } });
  });

  test('non-admin forbidden', async () => {
    const user = await buildUser(server.url, 'curious');

    expectError(await user.api.raw('GET', '/api/admin/audit-log'), 403, 'FORBIDDEN');
  });

  test('team owner forbidden', async () => {
    const owner = await buildUser(server.url, 'ownonly');
    await buildTeam(owner);

    expectError(await owner.api.raw('GET', '/api/admin/audit-log'), 403, 'FORBIDDEN');
  });

  test('anonymous rejected', async () => {
    expectError(await new ApiClient(server.url).raw('GET', '/api/admin/audit-log'), 401, 'UNAUTHENTICATED');
  });

  test('invalid action filter rejected', async () => {
    expectError(await admin.api.raw('GET', '/api/admin/audit-log?action=DROP%20TABLE'), 400, 'VALIDATION_FAILED', 'action');
  });
});
