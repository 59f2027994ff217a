import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * Every route of mentions, reactions, read state, threads, pins, saved items,
 * edit history and team settings, tried by a logged-out client, a teammate
 * outside the private channel, a member of another team and the channel's
 * member. Hidden objects return the same 404 as missing ones.
 */

let server: TestServer;
let owner: TestUser;
let teammate: TestUser;
let outsider: TestUser;
let teamId = '';
let privateId = '';
let publicId = '';
let privateMessageId = '';
let publicMessageId = '';

beforeAll(async () => {
  server = await startServer();
  owner = await buildUser(server.url, 'owner');
  teammate = await buildUser(server.url, 'teammate');
  outsider = await buildUser(server.url, 'outsider');
  const team = await buildTeam(owner, [teammate]);
  await buildTeam(outsider, [], 'Elsewhere');
  teamId = team.id;
  privateId = (await buildChannel(owner, team.id, { private: true })).id;
  publicId = (await buildChannel(owner, team.id)).id;
  privateMessageId = (await owner.api.post<{ id: string }>(`/api/conversations/${privateId}/messages`, { text: 'secret' })).id;
  publicMessageId = (await owner.api.post<{ id: string }>(`/api/conversations/${publicId}/messages`, { text: 'open' })).id;
});
afterAll(async () => server.close());

interface Route {
  name: string;
  method: string;
  path: (ids: { conversation: string; message: string; team: string }) => string;
  body?: unknown;
  /** What the conversation's member gets. */
  ok: number;
  /** Hidden-object code for outsiders, or undefined for routes without an object. */
  hidden?: string;
}

const ROUTES: Route[] = [
  { name: 'mark conversation read', method: 'POST', path: (ids) => `/api/conversations/${ids.conversation}/read`, body: {}, ok: 200, hidden: 'CONVERSATION_NOT_FOUND' },
  { name: 'list pins', method: 'GET', path: (ids) => `/api/conversations/${ids.conversation}/pins`, ok: 200, hidden: 'CONVERSATION_NOT_FOUND' },
  { name: 'mark thread read', method: 'POST', path: (ids) => `/api/messages/${ids.message}/thread/read`, body: {}, ok: 200, hidden: 'MESSAGE_NOT_FOUND' },
  { name: 'follow thread', method: 'POST', path: (ids) => `/api/messages/${ids.message}/follow`, ok: 200, hidden: 'MESSAGE_NOT_FOUND' },
  { name: 'unfollow thread', method: 'DELETE', path: (ids) => `/api/messages/${ids.message}/follow`, ok: 204, hidden: 'MESSAGE_NOT_FOUND' },
  { name: 'add reaction', method: 'POST', path: (ids) => `/api/messages/${ids.message}/reactions`, body: { emoji: '👍' }, ok: 201, hidden: 'MESSAGE_NOT_FOUND' },
  { name: 'remove reaction', method: 'DELETE', path: (ids) => `/api/messages/${ids.message}/reactions/%F0%9F%91%8D`, ok: 204, hidden: 'MESSAGE_NOT_FOUND' },
  { name: 'pin', method: 'POST', path: (ids) => `/api/messages/${ids.message}/pin`, ok: 204, hidden: 'MESSAGE_NOT_FOUND' },
  { name: 'unpin', method: 'DELETE', path: (ids) => `/api/messages/${ids.message}/pin`, ok: 204, hidden: 'MESSAGE_NOT_FOUND' },
  { name: 'save', method: 'POST', path: (ids) => `/api/messages/${ids.message}/save`, ok: 204, hidden: 'MESSAGE_NOT_FOUND' },
  { name: 'unsave', method: 'DELETE', path: (ids) => `/api/messages/${ids.message}/save`, ok: 204, hidden: 'MESSAGE_NOT_FOUND' },
  { name: 'read versions', method: 'GET', path: (ids) => `/api/messages/${ids.message}/versions`, ok: 200, hidden: 'MESSAGE_NOT_FOUND' },
  { name: 'read team settings', method: 'GET', path: (ids) => `/api/teams/${ids.team}/settings`, ok: 200, hidden: 'TEAM_NOT_FOUND' },
  { name: 'change team settings', method: 'PATCH', path: (ids) => `/api/teams/${ids.team}/settings`, body: { edit_window_seconds: 3600 }, ok: 200, hidden: 'TEAM_NOT_FOUND' },
  { name: 'sidebar', method: 'GET', path: () => '/api/sidebar', ok: 200 },
  { name: 'threads view', method: 'GET', path: () => '/api/threads', ok: 200 },
  { name: 'saved items', method: 'GET', path: () => '/api/saved', ok: 200 },
];

function privateIds() {
  return { conversation: privateId, message: privateMessageId, team: teamId };
}

describe.each(ROUTES)('$name', (route) => {
  test('rejects a logged-out client', async () => {
    const response = await new ApiClient(server.url).raw(route.method, route.path(privateIds()), route.body);
    expect(response.status).toBe(401);
    expect((response.body as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
  });

  test('hides the object from outsiders', async () => {
    if (route.hidden === undefined) return;
    const missing = { conversation: crypto.randomUUID(), message: crypto.randomUUID(), team: crypto.randomUUID() };
    const absent = await outsider.api.raw(route.method, route.path(missing), route.body);
    const foreign = await outsider.api.raw(route.method, route.path(privateIds()), route.body);
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual(absent.body);

    if (route.hidden === 'TEAM_NOT_FOUND') return;
    const teammateResponse = await teammate.api.raw(route.method, route.path(privateIds()), route.body);
    expect(teammateResponse.status).toBe(404);
    expect((teammateResponse.body as { error: { code: string } }).error.code).toBe(route.hidden);
  });

  test('works for the member', async () => {
    const response = await owner.api.raw(route.method, route.path(privateIds()), route.body);
    expect(response.status).toBe(route.ok);
  });
});

describe('outsider listings', () => {
  test('show nothing of the team', async () => {
    const sidebar = await outsider.api.get<{ conversations: Array<{ team_id: string }> }>(`/api/sidebar?team_id=${teamId}`);
    expect(sidebar.conversations).toEqual([]);
    expect((await outsider.api.get<{ threads: unknown[] }>('/api/threads')).threads).toEqual([]);
    expect((await outsider.api.get<{ items: unknown[] }>('/api/saved')).items).toEqual([]);
  });
});

describe('public channel non-member', () => {
  const NEEDS_MEMBERSHIP: Array<[string, string, string, unknown]> = [
    ['add reaction', 'POST', 'reactions', { emoji: '👍' }],
    ['pin', 'POST', 'pin', undefined],
    ['save', 'POST', 'save', undefined],
    ['follow thread', 'POST', 'follow', undefined],
    ['mark thread read', 'POST', 'thread/read', {}],
  ];

  test.each(NEEDS_MEMBERSHIP)('%s needs joining', async (_name, method, suffix, body) => {
    const response = await teammate.api.raw(method, `/api/messages/${publicMessageId}/${suffix}`, body);
    expect(response.status).toBe(403);
    expect((response.body as { error: { code: string } }).error.code).toBe('NOT_IN_CONVERSATION');
  });

  test('may read pins and versions', async () => {
    expect((await teammate.api.raw('GET', `/api/conversations/${publicId}/pins`)).status).toBe(200);
    expect((await teammate.api.raw('GET', `/api/messages/${publicMessageId}/versions`)).status).toBe(200);
  });

  test('cannot mark read', async () => {
    const response = await teammate.api.raw('POST', `/api/conversations/${publicId}/read`, {});
    expect((response.body as { error: { code: string } }).error.code).toBe('NOT_IN_CONVERSATION');
  });

  test('plain member cannot change settings', async () => {
    const response = await teammate.api.raw('PATCH', `/api/teams/${teamId}/settings`, { edit_window_seconds: 5 });
    expect(response.status).toBe(403);
    expect((response.body as { error: { code: string } }).error.code).toBe('FORBIDDEN');
  });
});
