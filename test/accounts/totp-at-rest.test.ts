import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { decodeBase32, hotp, totpStep } from '../../src/accounts/totp.js';
import { sealedKeyId } from '../../src/files/keys.js';
import { rotateKeys } from '../../src/files/rotate.js';
import { createLogger } from '../../src/platform/logger.js';
import { buildUser, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * TOTP seeds are stored sealed under the master key, bound to their user,
 * and sealed again by key rotation; plaintext seeds from before still work.
 */

const PASSWORD = 'correct horse battery';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

function db() {
  return server.server.ctx.storage.db;
}

function codeAt(secret: string, offset: number): string {
  return hotp(decodeBase32(secret), totpStep(Date.now()) + offset);
}

async function storedSecrets(userId: string) {
  return db().selectFrom('users').select(['totp_secret', 'totp_pending_secret']).where('id', '=', userId).executeTakeFirstOrThrow();
}

async function enableTwoFactor(user: TestUser): Promise<string> {
  const { secret } = await user.api.post<{ secret: string }>('/api/users/me/two-factor/setup', { password: PASSWORD });
  await user.api.post('/api/users/me/two-factor/enable', { code: codeAt(secret, -1) });
  return secret;
}

/** Logs in with the password and then the code of `offset` steps from now; returns the second step's status. */
async function loginWithCode(user: TestUser, code: string): Promise<number> {
  const client = new ApiClient(server.url);
  const first = await client.raw('POST', '/api/auth/login', { login: user.username, password: PASSWORD });
  expect(first.status).toBe(202);
  const second = await client.raw('POST', '/api/auth/login/2fa', { challenge: (first.body as { challenge: string }).challenge, code });
  return second.status;
}

test('pending and active secrets sealed', async () => {
  const user = await buildUser(server.url, 'sealed');
  const { secret } = await user.api.post<{ secret: string }>('/api/users/me/two-factor/setup', { password: PASSWORD });

  const pending = await storedSecrets(user.id);
  await user.api.post('/api/users/me/two-factor/enable', { code: codeAt(secret, -1) });
  const active = await storedSecrets(user.id);

  expect(sealedKeyId(pending.totp_pending_secret!)).toBe(server.server.ctx.files.keys.current.id);
  expect(pending.totp_pending_secret).not.toContain(secret);
  expect(sealedKeyId(active.totp_secret!)).toBe(server.server.ctx.files.keys.current.id);
  expect(active.totp_secret).not.toContain(secret);
  expect(await loginWithCode(user, codeAt(secret, 0))).toBe(200);
});

test('sealed secret copied to another user fails', async () => {
  const victim = await buildUser(server.url, 'victim');
  const attacker = await buildUser(server.url, 'copier');
  const victimSecret = await enableTwoFactor(victim);
  await enableTwoFactor(attacker);
  const { totp_secret: sealed } = await storedSecrets(victim.id);

  await db().updateTable('users').set({ totp_secret: sealed }).where('id', '=', attacker.id).execute();

  const status = await loginWithCode(attacker, codeAt(victimSecret, 1));
  // Turns the attacker's second factor off again, so the rotation test finds only secrets it can open.
  await db().updateTable('users').set({ totp_secret: null }).where('id', '=', attacker.id).execute();

  expect(status).toBe(401);
});

test('plaintext secret from before still works', async () => {
  const user = await buildUser(server.url, 'legacy');
  const secret = await enableTwoFactor(user);
  await db().updateTable('users').set({ totp_secret: secret }).where('id', '=', user.id).execute();

  expect(await loginWithCode(user, codeAt(secret, 1))).toBe(200);
});

test('rotation seals again and retires the old key', async () => {
  const user = await buildUser(server.url, 'rotated');
  const secret = await enableTwoFactor(user);
  const plaintextUser = await buildUser(server.url, 'plainrot');
  const plaintextSecret = await enableTwoFactor(plaintextUser);
  await db().updateTable('users').set({ totp_secret: plaintextSecret }).where('id', '=', plaintextUser.id).execute();
  const { ctx } = server.server;
  const oldId = ctx.files.keys.current.id;

  const result = await rotateKeys({ config: ctx.config, db: ctx.storage.db, store: ctx.files.store, logger: createLogger('silent') });

  expect(result.masterKeyId).not.toBe(oldId);
  expect(result.failedSecrets).toBe(0);
  expect(result.resealedSecrets).toBeGreaterThanOrEqual(2);
  expect(sealedKeyId((await storedSecrets(user.id)).totp_secret!)).toBe(result.masterKeyId);
  expect(sealedKeyId((await storedSecrets(plaintextUser.id)).totp_secret!)).toBe(result.masterKeyId);
  expect(await loginWithCode(user, codeAt(secret, 1))).toBe(200);
  expect(await loginWithCode(plaintextUser, codeAt(plaintextSecret, 1))).toBe(200);
});
