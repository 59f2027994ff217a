import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { expectError } from '../helpers/assertions.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { listen, waitUntil } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PASSWORD = 'correct horse battery';

let server: TestServer;
let admin: TestUser;
beforeAll(async () => {
  server = await startServer({ rateLimits: { loginPerAddressPerMinute: 10_000 } });
  // The first account registered on a server is its admin.
  admin = await buildUser(server.url, 'admin');
});
afterAll(async () => server.close());

function deactivate(actor: TestUser, userId: string) {
  return actor.api.raw('POST', `/api/admin/users/${userId}/deactivate`);
}

function login(username: string, password = PASSWORD) {
  return new ApiClient(server.url).raw('POST', '/api/auth/login', { login: username, password });
}

describe('server admin', () => {
  test('first user is server admin', async () => {
    const other = await buildUser(server.url, 'notadmin');

    expect(await admin.api.get('/api/users/me/security')).toMatchObject({ server_admin: true });
    expect(await other.api.get('/api/users/me/security')).toMatchObject({ server_admin: false });
  });

  test('member cannot deactivate', async () => {
    const member = await buildUser(server.url, 'member');
    const target = await buildUser(server.url, 'target');

    expectError(await deactivate(member, target.id), 403, 'FORBIDDEN');
    expect((await target.api.raw('GET', '/api/users/me')).status).toBe(200);
  });

  test('team owner cannot deactivate teammate', async () => {
    const owner = await buildUser(server.url, 'owner');
    const teammate = await buildUser(server.url, 'teammate');
    await buildTeam(owner, [teammate]);

    expectError(await deactivate(owner, teammate.id), 403, 'FORBIDDEN');
    expectError(await owner.api.raw('POST', `/api/admin/users/${teammate.id}/reactivate`), 403, 'FORBIDDEN');
  });

  test('non-admin gets same answer for missing user', async () => {
    const member = await buildUser(server.url, 'prober');

    expectError(await deactivate(member, randomUUID()), 403, 'FORBIDDEN');
  });

  test('admin deactivating unknown user', async () => {
    expectError(await deactivate(admin, randomUUID()), 404, 'USER_NOT_FOUND', 'userId');
  });

  test('admin cannot deactivate self', async () => {
    expectError(await deactivate(admin, admin.id), 400, 'VALIDATION_FAILED', 'userId');
  });

  test('configured admins replace first user', async () => {
    const configured = await startServer({ adminUsers: ['chosen_admin'] });
    try {
      const first = await buildUser(configured.url, 'first');
      const target = await buildUser(configured.url, 'victim');
      const chosen = new ApiClient(configured.url);
      const registered = await chosen.post<{ token: string }>('/api/auth/register', {
        email: 'chosen@example.test',
        username: 'Chosen_Admin',
        password: PASSWORD,
        display_name: 'Chosen',
      });
      chosen.token = registered.token;

      expectError(await first.api.raw('POST', `/api/admin/users/${target.id}/deactivate`), 403, 'FORBIDDEN');
      expect((await chosen.raw('POST', `/api/admin/users/${target.id}/deactivate`)).status).toBe(204);
    } finally {
      await configured.close();
    }
  });
});

describe('deactivation', () => {
  test('ends every session and socket', async () => {
    const target = await buildUser(server.url, 'ended');
    const second = (await login(target.username)).body as { token: string };
    const sockets = [await listen(server.wsUrl, target.token, { reconnect: false }), await listen(server.wsUrl, second.token, { reconnect: false })];

    const response = await deactivate(admin, target.id);
    const deactivatedAt = Date.now();

    expect(response.status).toBe(204);
    await waitUntil(() => sockets.every((socket) => socket.closes.length > 0), 1000, 'both sockets to close');
    expect(Date.now() - deactivatedAt).toBeLessThanOrEqual(1000);
    expect(sockets.map((socket) => socket.closes.map((close) => close.code))).toEqual([[4001], [4001]]);
    for (const token of [target.token, second.token]) {
      expectError(await new ApiClient(server.url, token).raw('GET', '/api/users/me'), 401, 'UNAUTHENTICATED');
      expectError(await new ApiClient(server.url, token).raw('POST', '/api/realtime/ticket'), 401, 'UNAUTHENTICATED');
    }
  });

  test('deactivated user cannot log in', async () => {
    const target = await buildUser(server.url, 'locked');
    await deactivate(admin, target.id);

    expectError(await login(target.username), 403, 'ACCOUNT_DEACTIVATED');
    expectError(await login(target.username, 'wrong password'), 401, 'INVALID_CREDENTIALS');
  });

  test('ticket issued before deactivation refused', async () => {
    const target = await buildUser(server.url, 'ticketed');
    const { ticket } = await target.api.post<{ ticket: string }>('/api/realtime/ticket');
    await deactivate(admin, target.id);

    const WebSocket = (await import('ws')).default;
    const status = await new Promise<number>((resolve) => {
      const socket = new WebSocket(`${server.wsUrl}?ticket=${ticket}`);
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      socket.on('open', () => resolve(101));
    });
    expect(status).toBe(401);
  });

  test('deactivated user cannot be added anywhere', async () => {
    const owner = await buildUser(server.url, 'addowner');
    const target = await buildUser(server.url, 'addtarget');
    const team = await buildTeam(owner, [target]);
    const otherTeam = await buildTeam(owner);
    const channel = await buildChannel(owner, team.id, { private: true });
    await deactivate(admin, target.id);

    expectError(await owner.api.raw('POST', `/api/teams/${otherTeam.id}/members`, { user_id: target.id }), 404, 'USER_NOT_FOUND');
    expectError(await owner.api.raw('POST', `/api/teams/${otherTeam.id}/members`, { username: target.username }), 404, 'USER_NOT_FOUND');
    expectError(await owner.api.raw('POST', `/api/conversations/${channel.id}/members`, { user_ids: [target.id] }), 404, 'USER_NOT_FOUND', 'user_ids');
    expectError(await owner.api.raw('POST', `/api/teams/${team.id}/dms`, { user_ids: [target.id] }), 404, 'USER_NOT_FOUND', 'user_ids');
  });

  test('reactivated user logs in again', async () => {
    const target = await buildUser(server.url, 'back');
    await deactivate(admin, target.id);

    const response = await admin.api.raw('POST', `/api/admin/users/${target.id}/reactivate`);

    expect(response.status).toBe(204);
    expect((await login(target.username)).status).toBe(200);
  });

  test('deactivating twice is harmless', async () => {
    const target = await buildUser(server.url, 'twice');

    expect((await deactivate(admin, target.id)).status).toBe(204);
    expect((await deactivate(admin, target.id)).status).toBe(204);
  });
});
