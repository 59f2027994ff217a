import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, type RawResponse } from '../../src/client/api.js';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { settle } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PASSWORD = 'correct horse battery';

interface ErrorBody {
  error: { code: string; message: string; field?: string; retryAfterSeconds?: number };
}

interface SessionBody {
  user: { id: string; username: string; email: string; display_name: string; status_text: string; time_zone: string };
  token: string;
  session_id: string;
  expires_at: string;
}

let server: TestServer;
beforeAll(async () => {
  // Every test logs in from 127.0.0.1, so the per-address limit is raised to keep
  // the tests independent. The per-account limit is tested on servers of its own.
  server = await startServer({ rateLimits: { loginPerAddressPerMinute: 10_000 } });
});
afterAll(async () => server.close());

function anonymous(url = server.url): ApiClient {
  return new ApiClient(url);
}

function errorOf(response: RawResponse): ErrorBody['error'] {
  return (response.body as ErrorBody).error;
}

function expectError(response: RawResponse, status: number, code: string, field?: string): void {
  expect(response.status).toBe(status);
  expect(errorOf(response).code).toBe(code);
  if (field !== undefined) expect(errorOf(response).field).toBe(field);
}

/** Builds a valid registration body with a fresh username and e-mail address. */
function registration(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const username = `acct_${randomBytes(4).toString('hex')}`;
  return { email: `${username}@example.test`, username, password: PASSWORD, display_name: 'Account Test', ...overrides };
}

function login(loginName: string, password = PASSWORD): Promise<RawResponse> {
  return anonymous().raw('POST', '/api/auth/login', { login: loginName, password });
}

function withToken(token: string): ApiClient {
  return new ApiClient(server.url, token);
}

/** Reads the session cookie a response sets, with its attributes. */
function sessionCookieOf(response: RawResponse): string | undefined {
  return response.headers.getSetCookie().find((cookie) => cookie.startsWith('cb_session='));
}

describe('register', () => {
  test('register returns session', async () => {
    const body = registration();

    const response = await anonymous().raw('POST', '/api/auth/register', body);

    expect(response.status).toBe(201);
    const session = response.body as SessionBody;
    expect(session.user.username).toBe(body.username);
    expect(session.user.email).toBe(body.email);
    expect(session.user.display_name).toBe('Account Test');
    expect(session.user.time_zone).toBe('UTC');
    expect(session.token).toMatch(/^cbs_/);
    expect(session).not.toHaveProperty('user.password_hash');
    const me = await withToken(session.token).raw('GET', '/api/users/me');
    expect(me.status).toBe(200);
    expect((me.body as SessionBody['user']).id).toBe(session.user.id);
  });

  test('register duplicate email', async () => {
    const first = registration();
    await anonymous().post('/api/auth/register', first);

    const response = await anonymous().raw('POST', '/api/auth/register', registration({ email: first.email }));

    expectError(response, 409, 'EMAIL_TAKEN', 'email');
  });

  test('register duplicate email other case', async () => {
    const first = registration();
    await anonymous().post('/api/auth/register', first);

    const upper = String(first.email).toUpperCase();
    const response = await anonymous().raw('POST', '/api/auth/register', registration({ email: upper }));

    expectError(response, 409, 'EMAIL_TAKEN', 'email');
  });

  test('register username taken regardless of case', async () => {
    const first = registration();
    await anonymous().post('/api/auth/register', first);

    const upper = String(first.username).toUpperCase();
    const response = await anonymous().raw('POST', '/api/auth/register', registration({ username: upper }));

    expectError(response, 409, 'USERNAME_TAKEN', 'username');
  });

  test.each([
    ['email', { email: 'not-an-address' }],
    ['email', { email: 'two words@example.test' }],
    ['username', { username: 'has space' }],
    ['username', { username: '_leading' }],
    ['username', { username: 'x' }],
    ['username', { username: 'u'.repeat(33) }],
    ['password', { password: 'short' }],
    ['display_name', { display_name: '' }],
    ['display_name', { display_name: 'line\nbreak' }],
  ])('register invalid %s %j', async (field, overrides) => {
    const response = await anonymous().raw('POST', '/api/auth/register', registration(overrides));

    expectError(response, 400, 'VALIDATION_FAILED', field);
  });

  test('register blank display name', async () => {
    const response = await anonymous().raw('POST', '/api/auth/register', registration({ display_name: '   ' }));

    expectError(response, 400, 'VALIDATION_FAILED', 'display_name');
  });

  test.each(['email', 'username', 'password', 'display_name'])('register missing %s', async (field) => {
    const body = registration();
    delete body[field];

    const response = await anonymous().raw('POST', '/api/auth/register', body);

    expectError(response, 400, 'VALIDATION_FAILED', field);
  });

  test('register unknown field', async () => {
    const response = await anonymous().raw('POST', '/api/auth/register', registration({ is_admin: true }));

    expectError(response, 400, 'VALIDATION_FAILED', 'is_admin');
  });

  test('register wrong type', async () => {
    const response = await anonymous().raw('POST', '/api/auth/register', registration({ password: 12345678 }));

    expectError(response, 400, 'VALIDATION_FAILED', 'password');
  });

  test('register malformed JSON', async () => {
    const response = await anonymous().raw('POST', '/api/auth/register', '{"email": "a@b.c",');

    expectError(response, 400, 'INVALID_JSON', 'body');
  });

  test('register non-JSON media type', async () => {
    const response = await anonymous().raw('POST', '/api/auth/register', 'email=a%40b.c', {
      'content-type': 'application/x-www-form-urlencoded',
    });

    expectError(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('register body over limit', async () => {
    const small = await startServer({ maxBodyBytes: 1024 });
    try {
      const body = registration({ display_name: 'x'.repeat(2000) });

      const response = await anonymous(small.url).raw('POST', '/api/auth/register', body);

      expectError(response, 413, 'PAYLOAD_TOO_LARGE');
    } finally {
      await small.close();
    }
  });
});

describe('login', () => {
  test('login by email', async () => {
    const body = registration();
    await anonymous().post('/api/auth/register', body);

    const response = await login(String(body.email).toUpperCase());

    expect(response.status).toBe(200);
    expect((response.body as SessionBody).user.username).toBe(body.username);
    expect((response.body as SessionBody).token).toMatch(/^cbs_/);
  });

  test('login by username any case', async () => {
    const body = registration();
    await anonymous().post('/api/auth/register', body);

    const response = await login(String(body.username).toUpperCase());

    expect(response.status).toBe(200);
    expect((response.body as SessionBody).user.username).toBe(body.username);
  });

  test('login wrong password', async () => {
    const user = await buildUser(server.url, 'wrongpw');

    const response = await login(user.username, 'not the password');

    expectError(response, 401, 'INVALID_CREDENTIALS');
  });

  test('login unknown user same error', async () => {
    const user = await buildUser(server.url, 'known');
    const wrongPassword = await login(user.username, 'not the password');

    const unknown = await login(`nobody_${randomBytes(4).toString('hex')}`);

    expectError(unknown, 401, 'INVALID_CREDENTIALS');
    expect(unknown.body).toEqual(wrongPassword.body);
  });

  test('login missing password', async () => {
    const response = await anonymous().raw('POST', '/api/auth/login', { login: 'someone' });

    expectError(response, 400, 'VALIDATION_FAILED', 'password');
  });

  test('login backs off per account', async () => {
    const limited = await startServer({ loginThrottle: { freeFailuresPerAccountAddress: 2 }, rateLimits: { loginPerAddressPerMinute: 10_000 } });
    try {
      const user = await buildUser(limited.url, 'limited');
      const client = anonymous(limited.url);
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const response = await client.raw('POST', '/api/auth/login', { login: user.username, password: 'wrong password' });
        expectError(response, 401, 'INVALID_CREDENTIALS');
      }

      const blocked = await client.raw('POST', '/api/auth/login', { login: user.username, password: PASSWORD });

      expectError(blocked, 429, 'RATE_LIMITED');
      const retryAfter = Number(blocked.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(errorOf(blocked).retryAfterSeconds).toBe(retryAfter);
      const other = await buildUser(limited.url, 'unlimited');
      const otherLogin = await client.raw('POST', '/api/auth/login', { login: other.username, password: PASSWORD });
      expect(otherLogin.status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  test('login backoff shared by email and username', async () => {
    const limited = await startServer({ loginThrottle: { freeFailuresPerAccountAddress: 1 }, rateLimits: { loginPerAddressPerMinute: 10_000 } });
    try {
      const user = await buildUser(limited.url, 'shared');
      const client = anonymous(limited.url);
      // Fullwidth letters fold to ASCII under NFKC, the normalisation usernames are compared in.
      const fullwidth = [...user.username]
        .map((char) => (/[a-z]/.test(char) ? String.fromCodePoint((char.codePointAt(0) ?? 0) + 0xfee0) : char))
        .join('');
      const variants = [user.username, `${user.username}@example.test`, user.username.toUpperCase(), fullwidth];

      const statuses: number[] = [];
      for (const variant of variants) {
        const response = await client.raw('POST', '/api/auth/login', { login: variant, password: 'wrong password' });
        statuses.push(response.status);
      }

      expect(statuses).toEqual([401, 401, 429, 429]);
      expectError(await client.raw('POST', '/api/auth/login', { login: fullwidth, password: PASSWORD }), 429, 'RATE_LIMITED');
    } finally {
      await limited.close();
    }
  });
});

describe('logout', () => {
  test('logout revokes token', async () => {
    const user = await buildUser(server.url, 'logout');

    const response = await user.api.raw('POST', '/api/auth/logout');

    expect(response.status).toBe(204);
    expectError(await user.api.raw('GET', '/api/users/me'), 401, 'UNAUTHENTICATED');
  });

  test('logout keeps other sessions', async () => {
    const user = await buildUser(server.url, 'logoutone');
    const second = (await login(user.username)).body as SessionBody;

    await user.api.raw('POST', '/api/auth/logout');

    expect((await withToken(second.token).raw('GET', '/api/users/me')).status).toBe(200);
  });

  test('logout-all revokes every token', async () => {
    const user = await buildUser(server.url, 'logoutall');
    const second = (await login(user.username)).body as SessionBody;
    const third = (await login(user.username)).body as SessionBody;

    const response = await user.api.raw('POST', '/api/auth/logout-all');

    expect(response.status).toBe(204);
    for (const token of [user.token, second.token, third.token]) {
      expectError(await withToken(token).raw('GET', '/api/users/me'), 401, 'UNAUTHENTICATED');
    }
  });
});

describe('session expiry', () => {
  test('expired session rejected', async () => {
    const shortLived = await startServer({ sessionTtlMs: 300 });
    try {
      const user = await buildUser(shortLived.url, 'expiring');
      expect((await user.api.raw('GET', '/api/users/me')).status).toBe(200);

      await settle(400);

      expectError(await user.api.raw('GET', '/api/users/me'), 401, 'UNAUTHENTICATED');
      expectError(await user.api.raw('POST', '/api/realtime/ticket'), 401, 'UNAUTHENTICATED');
    } finally {
      await shortLived.close();
    }
  });
});

describe('profile', () => {
  test('profile get self', async () => {
    const user = await buildUser(server.url, 'me');

    const response = await user.api.raw('GET', '/api/users/me');

    expect(response.status).toBe(200);
    const me = response.body as SessionBody['user'];
    expect(me.id).toBe(user.id);
    expect(me.username).toBe(user.username);
    expect(me.email).toBe(`${user.username}@example.test`);
    expect(me).not.toHaveProperty('password_hash');
  });

  test('profile update fields', async () => {
    const user = await buildUser(server.url, 'patch');

    const response = await user.api.raw('PATCH', '/api/users/me', {
      display_name: '  Renamed  ',
      status_text: 'On holiday 🌴',
      time_zone: 'Europe/Paris',
    });

    expect(response.status).toBe(200);
    const updated = response.body as SessionBody['user'];
    expect(updated.display_name).toBe('Renamed');
    expect(updated.status_text).toBe('On holiday 🌴');
    expect(updated.time_zone).toBe('Europe/Paris');
    const fetched = (await user.api.get('/api/users/me')) as SessionBody['user'];
    expect(fetched.display_name).toBe('Renamed');
    expect(fetched.status_text).toBe('On holiday 🌴');
    expect(fetched.time_zone).toBe('Europe/Paris');
  });

  test('profile update one field', async () => {
    const user = await buildUser(server.url, 'patchone');
    await user.api.patch('/api/users/me', { time_zone: 'Asia/Tokyo' });

    const updated = (await user.api.patch('/api/users/me', { status_text: 'busy' })) as SessionBody['user'];

    expect(updated.status_text).toBe('busy');
    expect(updated.time_zone).toBe('Asia/Tokyo');
  });

  test('profile bad time zone', async () => {
    const user = await buildUser(server.url, 'tz');

    const response = await user.api.raw('PATCH', '/api/users/me', { time_zone: 'Mars/Olympus_Mons' });

    expectError(response, 400, 'VALIDATION_FAILED', 'time_zone');
  });

  test('profile blank display name', async () => {
    const user = await buildUser(server.url, 'blank');

    const response = await user.api.raw('PATCH', '/api/users/me', { display_name: '   ' });

    expectError(response, 400, 'VALIDATION_FAILED', 'display_name');
  });

  test('profile status text too long', async () => {
    const user = await buildUser(server.url, 'status');

    const response = await user.api.raw('PATCH', '/api/users/me', { status_text: 's'.repeat(101) });

    expectError(response, 400, 'VALIDATION_FAILED', 'status_text');
  });

  test('profile empty patch', async () => {
    const user = await buildUser(server.url, 'empty');

    const response = await user.api.raw('PATCH', '/api/users/me', {});

    expectError(response, 400, 'VALIDATION_FAILED', 'body');
  });

  test('profile unknown field', async () => {
    const user = await buildUser(server.url, 'unknownfield');

    const response = await user.api.raw('PATCH', '/api/users/me', { email: 'new@example.test' });

    expectError(response, 400, 'VALIDATION_FAILED', 'email');
  });
});

describe('change password', () => {
  test('change password wrong current', async () => {
    const user = await buildUser(server.url, 'pwwrong');

    const response = await user.api.raw('POST', '/api/users/me/password', {
      current_password: 'not the password',
      new_password: 'a brand new password',
    });

    expectError(response, 401, 'INVALID_CREDENTIALS', 'current_password');
    expect((await login(user.username)).status).toBe(200);
  });

  test('change password short new', async () => {
    const user = await buildUser(server.url, 'pwshort');

    const response = await user.api.raw('POST', '/api/users/me/password', { current_password: PASSWORD, new_password: 'short' });

    expectError(response, 400, 'VALIDATION_FAILED', 'new_password');
  });

  test('change password ends other sessions', async () => {
    const user = await buildUser(server.url, 'pwchange');
    const other = (await login(user.username)).body as SessionBody;

    const response = await user.api.raw('POST', '/api/users/me/password', {
      current_password: PASSWORD,
      new_password: 'a brand new password',
    });

    expect(response.status).toBe(204);
    expectError(await withToken(other.token).raw('GET', '/api/users/me'), 401, 'UNAUTHENTICATED');
    expect((await user.api.raw('GET', '/api/users/me')).status).toBe(200);
    expect((await login(user.username, 'a brand new password')).status).toBe(200);
    expectError(await login(user.username, PASSWORD), 401, 'INVALID_CREDENTIALS');
  });
});

describe('user profiles', () => {
  test('user visible to teammate', async () => {
    const owner = await buildUser(server.url, 'owner');
    const mate = await buildUser(server.url, 'mate');
    await buildTeam(owner, [mate]);

    const response = await owner.api.raw('GET', `/api/users/${mate.id}`);

    expect(response.status).toBe(200);
    const profile = response.body as Record<string, unknown>;
    expect(profile.id).toBe(mate.id);
    expect(profile.username).toBe(mate.username);
    expect(profile).not.toHaveProperty('email');
    expect(profile).not.toHaveProperty('created_at');
  });

  test('user visible to self', async () => {
    const loner = await buildUser(server.url, 'loner');

    const response = await loner.api.raw('GET', `/api/users/${loner.id}`);

    expect(response.status).toBe(200);
    expect((response.body as { id: string }).id).toBe(loner.id);
  });

  test('user hidden from non-teammate', async () => {
    const stranger = await buildUser(server.url, 'stranger');
    const other = await buildUser(server.url, 'other');
    await buildTeam(other);

    const hidden = await stranger.api.raw('GET', `/api/users/${other.id}`);
    const missing = await stranger.api.raw('GET', `/api/users/${randomUUID()}`);

    expectError(hidden, 404, 'USER_NOT_FOUND');
    expect(hidden.body).toEqual(missing.body);
  });

  test('user hidden after leaving team', async () => {
    const owner = await buildUser(server.url, 'leaveowner');
    const leaver = await buildUser(server.url, 'leaver');
    const team = await buildTeam(owner, [leaver]);
    await leaver.api.post(`/api/teams/${team.id}/leave`);

    const response = await leaver.api.raw('GET', `/api/users/${owner.id}`);

    expectError(response, 404, 'USER_NOT_FOUND');
  });

  test('user id not a UUID', async () => {
    const user = await buildUser(server.url, 'badid');

    const response = await user.api.raw('GET', '/api/users/not-a-uuid');

    expectError(response, 400, 'VALIDATION_FAILED', 'userId');
  });
});

describe('realtime ticket', () => {
  test('ticket created', async () => {
    const user = await buildUser(server.url, 'ticket');

    const response = await user.api.raw('POST', '/api/realtime/ticket');

    expect(response.status).toBe(201);
    const body = response.body as { ticket: string; expires_at: string };
    expect(body.ticket).toMatch(/^cbt_/);
    expect(Date.parse(body.expires_at)).toBeGreaterThan(Date.now());
  });
});

describe('cookie session', () => {
  async function registerWithCookie(): Promise<{ cookie: string; setCookie: string }> {
    const response = await anonymous().raw('POST', '/api/auth/register', registration());
    const setCookie = sessionCookieOf(response);
    if (setCookie === undefined) throw new Error('register sent no cb_session cookie');
    return { cookie: setCookie.split(';')[0] ?? '', setCookie };
  }

  test('register sets HttpOnly cookie', async () => {
    const { setCookie } = await registerWithCookie();

    expect(setCookie).toMatch(/;\s*HttpOnly/i);
    expect(setCookie).toMatch(/;\s*SameSite=Lax/i);
    expect(setCookie).toMatch(/;\s*Path=\//i);
  });

  test('login sets cookie', async () => {
    const user = await buildUser(server.url, 'cookielogin');

    const response = await login(user.username);

    expect(sessionCookieOf(response)).toMatch(/;\s*HttpOnly/i);
  });

  test('cookie authenticates GET', async () => {
    const { cookie } = await registerWithCookie();

    const response = await anonymous().raw('GET', '/api/users/me', undefined, { cookie });

    expect(response.status).toBe(200);
  });

  test('cookie POST without origin', async () => {
    const { cookie } = await registerWithCookie();

    const response = await anonymous().raw('POST', '/api/teams', { name: 'Cookie team' }, { cookie });

    expectError(response, 403, 'ORIGIN_NOT_ALLOWED');
  });

  test('cookie POST foreign origin', async () => {
    const { cookie } = await registerWithCookie();

    const response = await anonymous().raw('POST', '/api/teams', { name: 'Cookie team' }, { cookie, origin: 'https://evil.example' });

    expectError(response, 403, 'ORIGIN_NOT_ALLOWED');
  });

  test('cookie POST malformed origin', async () => {
    const { cookie } = await registerWithCookie();

    const response = await anonymous().raw('POST', '/api/teams', { name: 'Cookie team' }, { cookie, origin: 'null' });

    expectError(response, 403, 'ORIGIN_NOT_ALLOWED');
  });

  test('cookie POST own origin', async () => {
    const { cookie } = await registerWithCookie();

    const response = await anonymous().raw('POST', '/api/teams', { name: 'Cookie team' }, { cookie, origin: server.url });

    expect(response.status).toBe(201);
  });

  test('cookie POST configured origin', async () => {
    const trusting = await startServer({ allowedOrigins: ['https://chat.example'] });
    try {
      const response = await anonymous(trusting.url).raw('POST', '/api/auth/register', registration());
      const cookie = (sessionCookieOf(response) ?? '').split(';')[0] ?? '';

      const created = await anonymous(trusting.url).raw('POST', '/api/teams', { name: 'Trusted' }, { cookie, origin: 'https://chat.example' });

      expect(created.status).toBe(201);
    } finally {
      await trusting.close();
    }
  });

  test('cookie logout clears cookie', async () => {
    const { cookie } = await registerWithCookie();

    const response = await anonymous().raw('POST', '/api/auth/logout', undefined, { cookie, origin: server.url });

    expect(response.status).toBe(204);
    expect(sessionCookieOf(response)).toMatch(/Expires=Thu, 01 Jan 1970|Max-Age=0/i);
    expectError(await anonymous().raw('GET', '/api/users/me', undefined, { cookie }), 401, 'UNAUTHENTICATED');
  });
});

describe('authentication required', () => {
  const PUBLIC_ROUTES = new Set([
    'POST /api/auth/register',
    'POST /api/auth/login',
    'POST /api/auth/login/2fa',
    'GET /healthz',
    'GET /readyz',
    'OPTIONS /api/uploads',
    // Slack-compatible routes authenticate by bot token or webhook secret and respond in Slack's format; test/slack covers their denials.
    'GET /api/slack/{method}',
    'POST /api/slack/{method}',
    'POST /api/slack/upload/{uploadId}',
    'POST /api/hooks/{webhookId}/{secret}',
  ]);

  /** Lists every non-public operation of the OpenAPI document, so a new route is covered without editing this test. */
  async function listProtectedRoutes(): Promise<Array<{ method: string; path: string }>> {
    const document = (await anonymous().get('/api/openapi.json')) as { paths: Record<string, Record<string, unknown>> };
    const routes: Array<{ method: string; path: string }> = [];
    for (const [template, operations] of Object.entries(document.paths)) {
      for (const method of Object.keys(operations)) {
        const upper = method.toUpperCase();
        if (PUBLIC_ROUTES.has(`${upper} ${template}`) || template.startsWith('/api/docs')) continue;
        // A HEAD response has no body to carry the error code; their own tests check HEAD routes.
        if (upper === 'HEAD') continue;
        routes.push({ method: upper, path: template.replace(/\{[^}]+\}/g, () => randomUUID()) });
      }
    }
    return routes;
  }

  /**
   * Sends each route a request with no body, the way a client that has not
   * logged in yet would, and returns the status and error code of each.
   */
  async function rejectionsOf(client: ApiClient, routes: Array<{ method: string; path: string }>) {
    const rejections: Array<{ route: string; status: number; code: string | undefined }> = [];
    for (const route of routes) {
      const response = await client.raw(route.method, route.path);
      rejections.push({ route: `${route.method} ${route.path}`, status: response.status, code: errorOf(response)?.code });
    }
    return rejections;
  }

  test('protected routes listed', async () => {
    const routes = await listProtectedRoutes();

    expect(routes.length).toBeGreaterThanOrEqual(30);
    expect(routes).toContainEqual({ method: 'GET', path: '/api/users/me' });
  });

  test('no token rejected everywhere', async () => {
    const routes = await listProtectedRoutes();

    const rejections = await rejectionsOf(anonymous(), routes);

    expect(rejections.filter((rejection) => rejection.status !== 401 || rejection.code !== 'UNAUTHENTICATED')).toEqual([]);
  });

  test('revoked token rejected everywhere', async () => {
    const user = await buildUser(server.url, 'revoked');
    await user.api.post('/api/auth/logout');
    const routes = await listProtectedRoutes();

    const rejections = await rejectionsOf(user.api, routes);

    expect(rejections.filter((rejection) => rejection.status !== 401 || rejection.code !== 'UNAUTHENTICATED')).toEqual([]);
  });

  test('no token checked before body', async () => {
    const malformed = await anonymous().raw('POST', '/api/teams', '{"name": ');
    const invalid = await anonymous().raw('POST', '/api/teams', { name: 42 });
    const badId = await anonymous().raw('GET', '/api/conversations/not-a-uuid');

    expectError(malformed, 401, 'UNAUTHENTICATED');
    expectError(invalid, 401, 'UNAUTHENTICATED');
    expectError(badId, 401, 'UNAUTHENTICATED');
  });

  test('cookie origin checked before body', async () => {
    const response = await anonymous().raw('POST', '/api/auth/register', registration());
    const cookie = (sessionCookieOf(response) ?? '').split(';')[0] ?? '';

    const rejected = await anonymous().raw('POST', '/api/teams', '{"name": ', { cookie });

    expectError(rejected, 403, 'ORIGIN_NOT_ALLOWED');
  });

  test('malformed authorization header', async () => {
    const response = await anonymous().raw('GET', '/api/users/me', undefined, { authorization: 'Basic dXNlcjpwYXNz' });

    expectError(response, 401, 'UNAUTHENTICATED');
  });

  test('unknown bearer token', async () => {
    const response = await withToken(`cbs_${randomBytes(32).toString('base64url')}`).raw('GET', '/api/users/me');

    expectError(response, 401, 'UNAUTHENTICATED');
  });
});
