import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, type RawResponse } from '../../src/client/api.js';
import { decodeBase32, encodeBase32, hotp, totpStep } from '../../src/accounts/totp.js';
import { expectError } from '../helpers/assertions.js';
import { buildUser, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PASSWORD = 'correct horse battery';

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ rateLimits: { loginPerAddressPerMinute: 10_000, loginPerAccountPerMinute: 10_000 } });
});
afterAll(async () => server.close());

/**
 * Returns the code of the current time step plus `offset`. Each code works
 * once, so a test that needs several uses ascending offsets within the
 * allowed drift of one step.
 */
function codeAt(secret: string, offset: number): string {
  return hotp(decodeBase32(secret), totpStep(Date.now()) + offset);
}

interface TwoFactorUser {
  user: TestUser;
  secret: string;
  recoveryCodes: string[];
}

/** Registers a user and turns the second factor on with the code of the previous step. */
async function buildTwoFactorUser(prefix: string): Promise<TwoFactorUser> {
  const user = await buildUser(server.url, prefix);
  const { secret } = await user.api.post<{ secret: string }>('/api/users/me/two-factor/setup', { password: PASSWORD });
  const { recovery_codes: recoveryCodes } = await user.api.post<{ recovery_codes: string[] }>('/api/users/me/two-factor/enable', {
    code: codeAt(secret, -1),
  });
  return { user, secret, recoveryCodes };
}

function login(username: string, password = PASSWORD): Promise<RawResponse> {
  return new ApiClient(server.url).raw('POST', '/api/auth/login', { login: username, password });
}

function secondFactor(challenge: string, code: string): Promise<RawResponse> {
  return new ApiClient(server.url).raw('POST', '/api/auth/login/2fa', { challenge, code });
}

async function challengeFor(username: string): Promise<string> {
  const response = await login(username);
  expect(response.status).toBe(202);
  return (response.body as { challenge: string }).challenge;
}

describe('totp', () => {
  // RFC 6238 appendix B: the SHA-1 seed "12345678901234567890" with 8-digit codes.
  test.each([
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
  ])('rfc 6238 vector at %i s', (seconds, expected) => {
    expect(hotp(Buffer.from('12345678901234567890'), totpStep(seconds * 1000), 8)).toBe(expected);
  });

  test('base32 round trip', () => {
    const bytes = Buffer.from('12345678901234567890');

    expect(encodeBase32(bytes)).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    expect(decodeBase32('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ').equals(bytes)).toBe(true);
  });
});

describe('setup', () => {
  test('setup and enable', async () => {
    const user = await buildUser(server.url, 'setup');

    const setup = (await user.api.post('/api/users/me/two-factor/setup', { password: PASSWORD })) as { secret: string; otpauth_uri: string };

    expect(setup.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(setup.otpauth_uri).toContain(`otpauth://totp/ChatterBox:${user.username}?secret=${setup.secret}`);
    const wrong = codeAt(setup.secret, 0) === '000000' ? '111111' : '000000';
    expectError(await user.api.raw('POST', '/api/users/me/two-factor/enable', { code: wrong }), 401, 'INVALID_CREDENTIALS', 'code');
    const enabled = (await user.api.post('/api/users/me/two-factor/enable', { code: codeAt(setup.secret, 0) })) as { recovery_codes: string[] };
    expect(enabled.recovery_codes).toHaveLength(10);
    expect(new Set(enabled.recovery_codes).size).toBe(10);
    for (const code of enabled.recovery_codes) expect(code).toMatch(/^[a-z2-9]{4}(-[a-z2-9]{4}){3}$/);
    expect(await user.api.get('/api/users/me/security')).toMatchObject({ two_factor_enabled: true, recovery_codes_left: 10 });
  });

  test('setup wrong password', async () => {
    const user = await buildUser(server.url, 'setupwrong');

    expectError(await user.api.raw('POST', '/api/users/me/two-factor/setup', { password: 'not the password' }), 401, 'INVALID_CREDENTIALS', 'password');
  });

  test('setup missing password', async () => {
    const user = await buildUser(server.url, 'setupmissing');

    expectError(await user.api.raw('POST', '/api/users/me/two-factor/setup', {}), 400, 'VALIDATION_FAILED', 'password');
  });

  test('enable without setup', async () => {
    const user = await buildUser(server.url, 'nosetup');

    expectError(await user.api.raw('POST', '/api/users/me/two-factor/enable', { code: '123456' }), 409, 'TWO_FACTOR_SETUP_MISSING');
  });

  test('setup when already enabled', async () => {
    const { user } = await buildTwoFactorUser('twice');

    expectError(await user.api.raw('POST', '/api/users/me/two-factor/setup', { password: PASSWORD }), 409, 'TWO_FACTOR_ALREADY_ENABLED');
    expectError(await user.api.raw('POST', '/api/users/me/two-factor/enable', { code: '123456' }), 409, 'TWO_FACTOR_ALREADY_ENABLED');
  });

  test('status without second factor', async () => {
    const user = await buildUser(server.url, 'plainstatus');

    expect(await user.api.get('/api/users/me/security')).toEqual({ two_factor_enabled: false, recovery_codes_left: 0, server_admin: false });
  });
});

describe('login', () => {
  test('login requires second factor', async () => {
    const { user, secret } = await buildTwoFactorUser('needs2fa');

    const first = await login(user.username);

    expect(first.status).toBe(202);
    const body = first.body as { two_factor_required: boolean; challenge: string; token?: string };
    expect(body.two_factor_required).toBe(true);
    expect(body.challenge).toMatch(/^cbc_/);
    expect(body).not.toHaveProperty('token');
    expect(first.headers.getSetCookie()).toEqual([]);
    const completed = await secondFactor(body.challenge, codeAt(secret, 0));
    expect(completed.status).toBe(200);
    const token = (completed.body as { token: string }).token;
    expect((await new ApiClient(server.url, token).raw('GET', '/api/users/me')).status).toBe(200);
    expect(completed.headers.getSetCookie().some((cookie) => cookie.startsWith('cb_session='))).toBe(true);
  });

  test('wrong password never reaches second factor', async () => {
    const { user } = await buildTwoFactorUser('wrongpw2fa');

    expectError(await login(user.username, 'not the password'), 401, 'INVALID_CREDENTIALS');
  });

  test('wrong code rejected', async () => {
    const { user, secret } = await buildTwoFactorUser('wrongcode');
    const challenge = await challengeFor(user.username);
    const wrong = codeAt(secret, 0) === '000000' ? '000001' : '000000';

    expectError(await secondFactor(challenge, wrong), 401, 'INVALID_CREDENTIALS', 'code');
    expect((await secondFactor(challenge, codeAt(secret, 0))).status).toBe(200);
  });

  test('challenge single use', async () => {
    const { user, secret } = await buildTwoFactorUser('singleuse');
    const challenge = await challengeFor(user.username);
    expect((await secondFactor(challenge, codeAt(secret, 0))).status).toBe(200);

    expectError(await secondFactor(challenge, codeAt(secret, 1)), 401, 'CHALLENGE_EXPIRED', 'challenge');
  });

  test('code used once', async () => {
    const { user, secret } = await buildTwoFactorUser('codeonce');
    const code = codeAt(secret, 0);
    expect((await secondFactor(await challengeFor(user.username), code)).status).toBe(200);

    expectError(await secondFactor(await challengeFor(user.username), code), 401, 'INVALID_CREDENTIALS', 'code');
  });

  test('code from setup step not reusable', async () => {
    const user = await buildUser(server.url, 'setupcode');
    const { secret } = await user.api.post<{ secret: string }>('/api/users/me/two-factor/setup', { password: PASSWORD });
    const code = codeAt(secret, 0);
    await user.api.post('/api/users/me/two-factor/enable', { code });

    expectError(await secondFactor(await challengeFor(user.username), code), 401, 'INVALID_CREDENTIALS', 'code');
  });

  test('challenge dies after five wrong codes', async () => {
    const { user, secret } = await buildTwoFactorUser('fivewrong');
    const challenge = await challengeFor(user.username);
    const wrong = codeAt(secret, 0) === '000000' ? '000001' : '000000';
    for (let attempt = 0; attempt < 5; attempt += 1) expectError(await secondFactor(challenge, wrong), 401, 'INVALID_CREDENTIALS', 'code');

    expectError(await secondFactor(challenge, codeAt(secret, 0)), 401, 'CHALLENGE_EXPIRED');
  });

  test('unknown challenge rejected', async () => {
    expectError(await secondFactor('cbc_not-a-real-challenge', '123456'), 401, 'CHALLENGE_EXPIRED', 'challenge');
  });

  test('missing code rejected', async () => {
    const response = await new ApiClient(server.url).raw('POST', '/api/auth/login/2fa', { challenge: 'cbc_x' });

    expectError(response, 400, 'VALIDATION_FAILED', 'code');
  });

  test('recovery code works once', async () => {
    const { user, recoveryCodes } = await buildTwoFactorUser('recovery');
    const code = recoveryCodes[0] ?? '';

    const first = await secondFactor(await challengeFor(user.username), code.toUpperCase().replaceAll('-', ' '));
    const again = await secondFactor(await challengeFor(user.username), code);

    expect(first.status).toBe(200);
    expectError(again, 401, 'INVALID_CREDENTIALS', 'code');
    expect(await user.api.get('/api/users/me/security')).toMatchObject({ recovery_codes_left: 9 });
  });

  test('wrong codes feed throttle', async () => {
    const throttled = await startServer({ loginThrottle: { freeFailuresPerAccountAddress: 2 }, rateLimits: { loginPerAddressPerMinute: 10_000 } });
    try {
      const user = await buildUser(throttled.url, 'codethrottle');
      const { secret } = await user.api.post<{ secret: string }>('/api/users/me/two-factor/setup', { password: PASSWORD });
      await user.api.post('/api/users/me/two-factor/enable', { code: codeAt(secret, -1) });
      const anonymous = new ApiClient(throttled.url);
      const started = await anonymous.raw('POST', '/api/auth/login', { login: user.username, password: PASSWORD });
      const challenge = (started.body as { challenge: string }).challenge;
      const wrong = codeAt(secret, 0) === '000000' ? '000001' : '000000';
      for (let attempt = 0; attempt < 3; attempt += 1) {
        expectError(await anonymous.raw('POST', '/api/auth/login/2fa', { challenge, code: wrong }), 401, 'INVALID_CREDENTIALS');
      }

      const blocked = await anonymous.raw('POST', '/api/auth/login/2fa', { challenge, code: codeAt(secret, 0) });

      expectError(blocked, 429, 'RATE_LIMITED');
    } finally {
      await throttled.close();
    }
  });
});

describe('disable and regenerate', () => {
  test('disable needs password and code', async () => {
    const { user, secret } = await buildTwoFactorUser('disable');

    expectError(await user.api.raw('POST', '/api/users/me/two-factor/disable', { password: 'not the password', code: codeAt(secret, 0) }), 401, 'INVALID_CREDENTIALS', 'password');
    expectError(await user.api.raw('POST', '/api/users/me/two-factor/disable', { password: PASSWORD, code: '12345' }), 401, 'INVALID_CREDENTIALS', 'code');
    const disabled = await user.api.raw('POST', '/api/users/me/two-factor/disable', { password: PASSWORD, code: codeAt(secret, 0) });

    expect(disabled.status).toBe(204);
    expect((await login(user.username)).status).toBe(200);
    expect(await user.api.get('/api/users/me/security')).toMatchObject({ two_factor_enabled: false, recovery_codes_left: 0 });
  });

  test('disable when off', async () => {
    const user = await buildUser(server.url, 'disableoff');

    expectError(await user.api.raw('POST', '/api/users/me/two-factor/disable', { password: PASSWORD, code: '123456' }), 409, 'TWO_FACTOR_NOT_ENABLED');
  });

  test('regenerate replaces recovery codes', async () => {
    const { user, secret, recoveryCodes } = await buildTwoFactorUser('regenerate');

    const fresh = (await user.api.post('/api/users/me/two-factor/recovery-codes', { password: PASSWORD, code: codeAt(secret, 0) })) as { recovery_codes: string[] };

    expect(fresh.recovery_codes).toHaveLength(10);
    expectError(await secondFactor(await challengeFor(user.username), recoveryCodes[1] ?? ''), 401, 'INVALID_CREDENTIALS', 'code');
    expect((await secondFactor(await challengeFor(user.username), fresh.recovery_codes[0] ?? '')).status).toBe(200);
  });

  test('regenerate needs password', async () => {
    const { user, secret } = await buildTwoFactorUser('regenpw');

    expectError(await user.api.raw('POST', '/api/users/me/two-factor/recovery-codes', { password: 'nope nope', code: codeAt(secret, 0) }), 401, 'INVALID_CREDENTIALS', 'password');
  });
});
