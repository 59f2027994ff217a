import { randomBytes } from 'node:crypto';
import { recordAudit } from '../audit/log.js';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import type { Tx } from '../storage/database.js';
import type { UserRow } from '../storage/schema.js';
import { completeLogin, type Auth, type ClientInfo, type NewSession } from './actions.js';
import { verifyPassword } from './passwords.js';
import { findUserById } from './queries.js';
import { createSecret, hashSecret } from './tokens.js';
import { createTotpSecret, totpUri, verifyTotp } from './totp.js';
import { openTotpSecret, sealTotpSecret } from './totp-secrets.js';

/** How long a login that passed the password may take to send its second factor. */
const CHALLENGE_TTL_MS = 5 * 60 * 1000;
/** Wrong codes one challenge accepts before it is deleted and the password is needed again. */
const MAX_CHALLENGE_FAILURES = 5;
const RECOVERY_CODE_COUNT = 10;

/** A login that passed the password and must send its second factor with this challenge. */
export interface LoginChallenge {
  challenge: string;
  expiresAt: number;
}

/** Creates a single-use challenge for a user who passed the password and has a second factor. */
export async function startSecondFactor(ctx: AppContext, user: UserRow): Promise<LoginChallenge> {
  const challenge = createSecret('cbc');
  const now = ctx.now();
  const expiresAt = now + CHALLENGE_TTL_MS;
  await ctx.storage.db.deleteFrom('login_challenges').where('expires_at', '<=', now).execute();
  await ctx.storage.db.insertInto('login_challenges').values({ challenge_hash: hashSecret(challenge), user_id: user.id, expires_at: expiresAt }).execute();
  return { challenge, expiresAt };
}

/**
 * Completes a login with a TOTP code or a recovery code. A wrong code counts
 * as a failed login in the throttle, and after five on one challenge the
 * challenge is deleted, so guessing needs the password again.
 */
export async function completeSecondFactor(ctx: AppContext, challenge: string, code: string, client: ClientInfo): Promise<NewSession> {
  const expired = new AppError('CHALLENGE_EXPIRED', 'The login challenge is unknown or expired; log in with your password again', { field: 'challenge' });
  const challengeHash = hashSecret(challenge);
  const row = await ctx.storage.db.selectFrom('login_challenges').selectAll().where('challenge_hash', '=', challengeHash).executeTakeFirst();
  if (row === undefined || Number(row.expires_at) <= ctx.now()) throw expired;
  const attempt = { accountKey: row.user_id, address: client.address };
  await ctx.loginThrottle.check(attempt);

  const user = await findUserById(ctx.storage.db, row.user_id);
  if (user === undefined || user.deactivated_at != null || user.totp_secret == null) throw expired;

  const method = await acceptSecondFactor(ctx, user, code, client.address);
  if (method === undefined) {
    await ctx.loginThrottle.recordFailure(attempt);
    const failures = Number(row.failed_attempts) + 1;
    if (failures >= MAX_CHALLENGE_FAILURES) {
      await ctx.storage.db.deleteFrom('login_challenges').where('challenge_hash', '=', challengeHash).execute();
    } else {
      await ctx.storage.db.updateTable('login_challenges').set({ failed_attempts: failures }).where('challenge_hash', '=', challengeHash).execute();
    }
    ctx.logger.info({ component: 'accounts', userId: user.id, address: client.address, failures }, 'second factor failed');
    await recordAudit(ctx.storage.db, ctx.now(), {
      action: 'login.failed',
      actorId: user.id,
      target: { type: 'user', id: user.id },
      address: client.address,
      details: { reason: 'second_factor' },
    });
    throw new AppError('INVALID_CREDENTIALS', 'The code is incorrect or was already used', { field: 'code' });
  }

  // Deleting first makes a replayed challenge fail even if two requests race.
  const deleted = await ctx.storage.db.deleteFrom('login_challenges').where('challenge_hash', '=', challengeHash).executeTakeFirst();
  if (Number(deleted.numDeletedRows) === 0) throw expired;
  await ctx.loginThrottle.recordSuccess(attempt);
  return completeLogin(ctx, user, client, method);
}

/**
 * Accepts a current TOTP code or an unused recovery code, consuming it, and
 * returns which one it was; returns undefined for anything else.
 */
async function acceptSecondFactor(ctx: AppContext, user: UserRow, code: string, address: string | undefined): Promise<'totp' | 'recovery_code' | undefined> {
  const trimmed = code.replace(/\s+/g, '');
  const secret = user.totp_secret == null ? undefined : openTotpSecret(ctx, user.id, user.totp_secret);
  if (secret !== undefined) {
    const step = verifyTotp(secret, trimmed, ctx.now(), user.totp_last_step == null ? null : Number(user.totp_last_step));
    // The conditional update lets only one of two concurrent requests use a step.
    if (step !== undefined && (await claimTotpStep(ctx, user.id, step))) return 'totp';
  }
  if (await useRecoveryCode(ctx, user.id, trimmed, address)) return 'recovery_code';
  return undefined;
}

async function claimTotpStep(ctx: AppContext, userId: string, step: number): Promise<boolean> {
  const result = await ctx.storage.db
    .updateTable('users')
    .set({ totp_last_step: step })
    .where('id', '=', userId)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

function normaliseRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[^a-z0-9]/g, '');
}

async function useRecoveryCode(ctx: AppContext, userId: string, code: string, address: string | undefined): Promise<boolean> {
  const normalised = normaliseRecoveryCode(code);
  if (normalised.length !== 16) return false;
  return commitWithEvents(ctx, async (tx, _events, now) => {
    const result = await tx
      .updateTable('recovery_codes')
      .set({ used_at: now })
      .where('user_id', '=', userId)
      .where('code_hash', '=', hashSecret(normalised))
      .where('used_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return false;
    await recordAudit(tx, now, { action: 'two_factor.recovery_code_used', actorId: userId, target: { type: 'user', id: userId }, address });
    return true;
  });
}

/** Creates recovery codes such as "4k7q-m2xd-9hbn-c3pa" (80 random bits each), replacing any earlier ones. */
async function replaceRecoveryCodes(tx: Tx, userId: string, now: number): Promise<string[]> {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const codes: string[] = [];
  for (let index = 0; index < RECOVERY_CODE_COUNT; index += 1) {
    const raw = [...randomBytes(16)].map((byte) => alphabet[byte % alphabet.length]).join('');
    codes.push(raw.match(/.{4}/g)?.join('-') ?? raw);
  }
  await tx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  await tx
    .insertInto('recovery_codes')
    .values(codes.map((code) => ({ user_id: userId, code_hash: hashSecret(normaliseRecoveryCode(code)), created_at: now, used_at: null })))
    .execute();
  return codes;
}

async function requirePassword(ctx: AppContext, auth: Auth, password: string): Promise<UserRow> {
  await ctx.rateLimits.consume([['loginPerAccount', `user:${auth.user.id}`]]);
  const user = await findUserById(ctx.storage.db, auth.user.id);
  if (user === undefined || !(await verifyPassword(user.password_hash, password))) {
    throw new AppError('INVALID_CREDENTIALS', 'The password is incorrect', { field: 'password' });
  }
  return user;
}

/** Starts setup: stores a new pending secret and returns it with its otpauth:// URI. */
export async function setUpTwoFactor(ctx: AppContext, auth: Auth, password: string): Promise<{ secret: string; uri: string }> {
  const user = await requirePassword(ctx, auth, password);
  if (user.totp_secret != null) throw new AppError('TWO_FACTOR_ALREADY_ENABLED', 'Two-factor authentication is already on');
  const secret = createTotpSecret();
  await ctx.storage.db.updateTable('users').set({ totp_pending_secret: sealTotpSecret(ctx, user.id, secret) }).where('id', '=', user.id).execute();
  return { secret, uri: totpUri(secret, user.username) };
}

/** Confirms setup with a code from the app, turns the second factor on and returns new recovery codes. */
export async function enableTwoFactor(ctx: AppContext, auth: Auth, code: string): Promise<string[]> {
  await ctx.rateLimits.consume([['loginPerAccount', `user:${auth.user.id}`]]);
  const user = await findUserById(ctx.storage.db, auth.user.id);
  if (user === undefined) throw new AppError('UNAUTHENTICATED', 'Log in first');
  if (user.totp_secret != null) throw new AppError('TWO_FACTOR_ALREADY_ENABLED', 'Two-factor authentication is already on');
  if (user.totp_pending_secret == null) throw new AppError('TWO_FACTOR_SETUP_MISSING', 'Start the setup first');
  const pending = openTotpSecret(ctx, user.id, user.totp_pending_secret);
  if (pending === undefined) throw new AppError('TWO_FACTOR_SETUP_MISSING', 'Start the setup again');
  const step = verifyTotp(pending, code.replace(/\s+/g, ''), ctx.now(), null);
  if (step === undefined) throw new AppError('INVALID_CREDENTIALS', 'The code is incorrect; check the clock of your device', { field: 'code' });

  const codes = await commitWithEvents(ctx, async (tx, _events, now) => {
    await tx
      .updateTable('users')
      .set({ totp_secret: user.totp_pending_secret, totp_pending_secret: null, totp_last_step: step, updated_at: now })
      .where('id', '=', user.id)
      .execute();
    await recordAudit(tx, now, { action: 'two_factor.enabled', actorId: user.id, target: { type: 'user', id: user.id }, address: auth.address });
    return replaceRecoveryCodes(tx, user.id, now);
  });
  ctx.sessionCache.forget(user.id);
  ctx.logger.info({ component: 'accounts', userId: user.id }, 'two-factor authentication enabled');
  return codes;
}

/** Checks the password and a current code of a user whose second factor is on. */
async function requirePasswordAndCode(ctx: AppContext, auth: Auth, password: string, code: string): Promise<UserRow> {
  const user = await requirePassword(ctx, auth, password);
  if (user.totp_secret == null) throw new AppError('TWO_FACTOR_NOT_ENABLED', 'Two-factor authentication is off');
  if ((await acceptSecondFactor(ctx, user, code, auth.address)) === undefined) {
    throw new AppError('INVALID_CREDENTIALS', 'The code is incorrect or was already used', { field: 'code' });
  }
  return user;
}

/** Turns the second factor off after checking the password and a code, and deletes the recovery codes. */
export async function disableTwoFactor(ctx: AppContext, auth: Auth, password: string, code: string): Promise<void> {
  const user = await requirePasswordAndCode(ctx, auth, password, code);
  await commitWithEvents(ctx, async (tx, _events, now) => {
    await tx
      .updateTable('users')
      .set({ totp_secret: null, totp_pending_secret: null, totp_last_step: null, updated_at: now })
      .where('id', '=', user.id)
      .execute();
    await tx.deleteFrom('recovery_codes').where('user_id', '=', user.id).execute();
    await tx.deleteFrom('login_challenges').where('user_id', '=', user.id).execute();
    await recordAudit(tx, now, { action: 'two_factor.disabled', actorId: user.id, target: { type: 'user', id: user.id }, address: auth.address });
  });
  ctx.sessionCache.forget(user.id);
  ctx.logger.info({ component: 'accounts', userId: user.id }, 'two-factor authentication disabled');
}

/** Replaces the recovery codes after checking the password and a code; the old ones stop working. */
export async function regenerateRecoveryCodes(ctx: AppContext, auth: Auth, password: string, code: string): Promise<string[]> {
  const user = await requirePasswordAndCode(ctx, auth, password, code);
  return commitWithEvents(ctx, async (tx, _events, now) => {
    await recordAudit(tx, now, {
      action: 'two_factor.recovery_codes_regenerated',
      actorId: user.id,
      target: { type: 'user', id: user.id },
      address: auth.address,
    });
    return replaceRecoveryCodes(tx, user.id, now);
  });
}

/** Returns whether the second factor is on and how many recovery codes are unused. */
export async function findTwoFactorStatus(ctx: AppContext, userId: string): Promise<{ enabled: boolean; recoveryCodesLeft: number }> {
  const user = await findUserById(ctx.storage.db, userId);
  const row = await ctx.storage.db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return { enabled: user?.totp_secret != null, recoveryCodesLeft: Number(row.count) };
}
