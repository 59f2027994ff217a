import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { expectError } from '../helpers/assertions.js';
import { buildUser } from '../helpers/factories.js';
import { listen, settle, waitUntil } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PASSWORD = 'correct horse battery';

interface SessionView {
  id: string;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  user_agent: string | null;
  address: string | null;
  current: boolean;
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ rateLimits: { loginPerAddressPerMinute: 10_000 } });
});
afterAll(async () => server.close());

async function loginAgain(username: string, userAgent: string): Promise<{ token: string; sessionId: string }> {
  const response = await new ApiClient(server.url).raw('POST', '/api/auth/login', { login: username, password: PASSWORD }, { 'user-agent': userAgent });
  const body = response.body as { token: string; session_id: string };
  return { token: body.token, sessionId: body.session_id };
}

test('sessions listed with current marked', async () => {
  const user = await buildUser(server.url, 'list');
  const phone = await loginAgain(user.username, 'PhoneApp/1.0');

  const { sessions } = (await user.api.get('/api/users/me/sessions')) as { sessions: SessionView[] };

  expect(sessions.map((session) => session.id).sort()).toEqual([user.sessionId, phone.sessionId].sort());
  expect(sessions.filter((session) => session.current).map((session) => session.id)).toEqual([user.sessionId]);
  const phoneView = sessions.find((session) => session.id === phone.sessionId);
  expect(phoneView?.user_agent).toBe('PhoneApp/1.0');
  expect(phoneView?.address).toMatch(/127\.0\.0\.1|::1/);
  expect(Date.parse(phoneView?.expires_at ?? '')).toBeGreaterThan(Date.now());
});

test('revoke other session closes its socket', async () => {
  const user = await buildUser(server.url, 'revoke');
  const laptop = await loginAgain(user.username, 'Laptop');
  const socket = await listen(server.wsUrl, laptop.token, { reconnect: false });

  const response = await user.api.raw('DELETE', `/api/users/me/sessions/${laptop.sessionId}`);
  const revokedAt = Date.now();

  expect(response.status).toBe(204);
  await waitUntil(() => socket.closes.length > 0, 1000, 'the revoked socket to close');
  expect(Date.now() - revokedAt).toBeLessThanOrEqual(1000);
  expect(socket.closes.map((close) => close.code)).toEqual([4001]);
  expectError(await new ApiClient(server.url, laptop.token).raw('GET', '/api/users/me'), 401, 'UNAUTHENTICATED');
  expect((await user.api.raw('GET', '/api/users/me')).status).toBe(200);
});

test('revoke current session', async () => {
  const user = await buildUser(server.url, 'revokeself');

  const response = await user.api.raw('DELETE', `/api/users/me/sessions/${user.sessionId}`);

  expect(response.status).toBe(204);
  expectError(await user.api.raw('GET', '/api/users/me'), 401, 'UNAUTHENTICATED');
});

test('revoke another user session hidden', async () => {
  const owner = await buildUser(server.url, 'owner');
  const intruder = await buildUser(server.url, 'intruder');

  const foreign = await intruder.api.raw('DELETE', `/api/users/me/sessions/${owner.sessionId}`);
  const missing = await intruder.api.raw('DELETE', `/api/users/me/sessions/${randomUUID()}`);

  expectError(foreign, 404, 'SESSION_NOT_FOUND', 'sessionId');
  expect(foreign.body).toEqual(missing.body);
  expect((await owner.api.raw('GET', '/api/users/me')).status).toBe(200);
});

test('revoke session bad id', async () => {
  const user = await buildUser(server.url, 'badid');

  expectError(await user.api.raw('DELETE', '/api/users/me/sessions/not-an-id'), 400, 'VALIDATION_FAILED', 'sessionId');
});

test('password change closes other sockets', async () => {
  const user = await buildUser(server.url, 'pwsocket');
  const other = await loginAgain(user.username, 'Tablet');
  const otherSocket = await listen(server.wsUrl, other.token, { reconnect: false });
  const ownSocket = await listen(server.wsUrl, user.token, { reconnect: false });

  await user.api.post('/api/users/me/password', { current_password: PASSWORD, new_password: 'a completely new passphrase' });

  await waitUntil(() => otherSocket.closes.length > 0, 1000, 'the other socket to close');
  expect(otherSocket.closes.map((close) => close.code)).toEqual([4001]);
  await settle(200);
  expect(ownSocket.closes).toEqual([]);
  const { sessions } = (await user.api.get('/api/users/me/sessions')) as { sessions: SessionView[] };
  expect(sessions.map((session) => session.id)).toEqual([user.sessionId]);
  ownSocket.client.stop();
});
