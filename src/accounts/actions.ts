import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError, invalidField } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { teamStream, userStream } from '../realtime/events.js';
import type { SessionRow, UserRow } from '../storage/schema.js';
import { hashPassword, verifyPassword } from './passwords.js';
import {
  emailKey,
  findSessionByTokenHash,
  findUserById,
  findUserByLogin,
  listTeamIdsOfUser,
  usernameKey,
} from './queries.js';
import {
  presentSelf,
  presentUser,
  type ChangePasswordBody,
  type LoginBody,
  type RegisterBody,
  type UpdateProfileBody,
} from './schemas.js';
import { createSecret, hashSecret } from './tokens.js';
import { recordAudit } from '../audit/log.js';
import { checkPasswordStrength } from './password-policy.js';
import { startSecondFactor, type LoginChallenge } from './two-factor.js';

/** The authenticated caller of a request or socket. */
export interface Auth {
  user: UserRow;
  session: SessionRow;
  /** Client address of the current request, for the audit log; absent on sockets. */
  address?: string;
}

/** How often a session's last_seen_at is written while it is in use. */
const LAST_SEEN_INTERVAL_MS = 5 * 60 * 1000;

export interface NewSession {
  user: UserRow;
  token: string;
  session: SessionRow;
}

/** Client details stored with a session, so its owner can recognise it later. */
export interface ClientInfo {
  address: string;
  userAgent: string | undefined;
}

export async function register(ctx: AppContext, body: RegisterBody, client: ClientInfo): Promise<NewSession> {
  // Each registration costs an argon2 hash, so one address may not start many.
  await ctx.rateLimits.consume([['registerPerAddress', client.address]]);
  checkPasswordStrength(body.password, body, 'password');
  const passwordHash = await hashPassword(body.password);
  const now = ctx.now();
  const user: UserRow = {
    id: newId(),
    email: body.email,
    email_key: emailKey(body.email),
    username: body.username,
    username_key: usernameKey(body.username),
    display_name: body.display_name.trim(),
    password_hash: passwordHash,
    status_text: '',
    time_zone: 'UTC',
    created_at: now,
    updated_at: now,
  };
  if (user.display_name === '') throw invalidField('display_name', 'display_name must not be blank');

  try {
    await ctx.storage.db.insertInto('users').values(user).execute();
  } catch (error) {
    if (!ctx.storage.dialect.isUniqueViolation(error)) throw error;
    throw await explainTakenAccount(ctx, user);
  }

  ctx.logger.info({ component: 'accounts', userId: user.id }, 'user registered');
  await recordAudit(ctx.storage.db, now, { action: 'account.registered', actorId: user.id, target: { type: 'user', id: user.id }, address: client.address });
  return createSession(ctx, user, client);
}

async function explainTakenAccount(ctx: AppContext, user: UserRow): Promise<AppError> {
  const sameEmail = await ctx.storage.db
    .selectFrom('users')
    .select('id')
    .where('email_key', '=', user.email_key)
    .executeTakeFirst();
  return sameEmail
    ? new AppError('EMAIL_TAKEN', 'An account with this e-mail address already exists', { field: 'email' })
    : new AppError('USERNAME_TAKEN', 'This username is taken', { field: 'username' });
}

/**
 * Checks a login and password. An account with a second factor gets a
 * challenge to complete at /api/auth/login/2fa instead of a session. Failures
 * feed the login throttle (src/accounts/login-throttle.ts), which rejects
 * attempts during a backoff before looking at the password.
 */
export async function login(ctx: AppContext, body: LoginBody, client: ClientInfo): Promise<NewSession | LoginChallenge> {
  const user = await findUserByLogin(ctx.storage.db, body.login);
  // Keyed on the account, so its e-mail address, its username and their case or
  // NFKC variants share one budget; an unknown login is keyed on its normalised form.
  const accountKey = user?.id ?? (body.login.includes('@') ? emailKey(body.login) : usernameKey(body.login));
  const attempt = { accountKey, address: client.address };
  await ctx.rateLimits.consume([['loginPerAddress', client.address]]);
  await ctx.loginThrottle.check(attempt);

  const valid = await verifyPassword(user?.password_hash, body.password);
  if (user === undefined || !valid) {
    await ctx.loginThrottle.recordFailure(attempt);
    ctx.logger.info({ component: 'accounts', userId: user?.id, address: client.address }, 'login failed');
    await recordAudit(ctx.storage.db, ctx.now(), {
      action: 'login.failed',
      actorId: null,
      target: user && { type: 'user', id: user.id },
      address: client.address,
      details: { reason: user === undefined ? 'unknown_account' : 'password' },
    });
    throw new AppError('INVALID_CREDENTIALS', 'The login or password is incorrect');
  }
  if (user.deactivated_at != null) {
    await recordAudit(ctx.storage.db, ctx.now(), {
      action: 'login.failed',
      actorId: user.id,
      target: { type: 'user', id: user.id },
      address: client.address,
      details: { reason: 'deactivated' },
    });
    throw new AppError('ACCOUNT_DEACTIVATED', 'This account has been deactivated; ask a server admin');
  }

  if (user.totp_secret != null) return startSecondFactor(ctx, user);
  await ctx.loginThrottle.recordSuccess(attempt);
  return completeLogin(ctx, user, client, 'password');
}

/** Creates the session of a login that passed every factor, and records it. */
export async function completeLogin(ctx: AppContext, user: UserRow, client: ClientInfo, method: string): Promise<NewSession> {
  const created = await createSession(ctx, user, client);
  await recordAudit(ctx.storage.db, ctx.now(), {
    action: 'login.succeeded',
    actorId: user.id,
    target: { type: 'session', id: created.session.id },
    address: client.address,
    details: { method },
  });
  return created;
}

async function createSession(ctx: AppContext, user: UserRow, client: ClientInfo): Promise<NewSession> {
  const token = createSecret('cbs');
  const now = ctx.now();
  const session: SessionRow = {
    id: newId(),
    user_id: user.id,
    token_hash: hashSecret(token),
    created_at: now,
    expires_at: now + ctx.config.sessionTtlMs,
    last_seen_at: now,
    user_agent: client.userAgent?.slice(0, 256) ?? null,
    address: client.address,
  };
  // Expired sessions of the user go when a new one starts, so the table does not grow without bound.
  await ctx.storage.db.deleteFrom('sessions').where('user_id', '=', user.id).where('expires_at', '<=', now).execute();
  await ctx.storage.db.insertInto('sessions').values(session).execute();
  return { user, token, session };
}

/** Resolves a bearer token to its live session and user, or undefined. */
export async function authenticateToken(ctx: AppContext, token: string): Promise<Auth | undefined> {
  const tokenHash = hashSecret(token);
  const cached = ctx.sessionCache.get(tokenHash, ctx.now());
  if (cached !== undefined) return cached;

  const session = await findSessionByTokenHash(ctx.storage.db, tokenHash);
  if (session === undefined || Number(session.expires_at) <= ctx.now()) return undefined;

  const user = await findUserById(ctx.storage.db, session.user_id);
  if (user === undefined || user.deactivated_at != null) return undefined;
  if (ctx.now() - Number(session.last_seen_at) >= LAST_SEEN_INTERVAL_MS) {
    session.last_seen_at = ctx.now();
    await ctx.storage.db.updateTable('sessions').set({ last_seen_at: session.last_seen_at }).where('id', '=', session.id).execute();
  }
  const auth = { user, session };
  ctx.sessionCache.set(tokenHash, auth, ctx.now());
  return auth;
}

/** Why sessions were revoked, as the audit log records it. */
export type RevocationReason = 'logout' | 'logout_all' | 'revoked_by_user' | 'password_changed' | 'deactivated';

/**
 * Deletes sessions, their tickets and pending second-factor logins, records
 * the revocation and publishes session.revoked, which closes their open
 * sockets with 4001.
 */
export async function revokeSessions(
  ctx: AppContext,
  userId: string,
  sessionIds: string[],
  audit: { reason: RevocationReason; actorId: string | null; address?: string },
): Promise<void> {
  if (sessionIds.length === 0) return;
  await commitWithEvents(ctx, async (tx, events, now) => {
    await tx.deleteFrom('sessions').where('id', 'in', sessionIds).execute();
    await tx.deleteFrom('ws_tickets').where('session_id', 'in', sessionIds).execute();
    await events.append(userStream(userId), 'session.revoked', { session_ids: sessionIds });
    await recordAudit(tx, now, {
      action: 'session.revoked',
      actorId: audit.actorId,
      target: { type: 'user', id: userId },
      address: audit.address,
      details: { reason: audit.reason, session_ids: sessionIds },
    });
  });
  ctx.sessionCache.forget(userId, sessionIds);
}

export async function logout(ctx: AppContext, auth: Auth): Promise<void> {
  await revokeSessions(ctx, auth.user.id, [auth.session.id], { reason: 'logout', actorId: auth.user.id, address: auth.address });
}

export async function logoutEverywhere(ctx: AppContext, auth: Auth): Promise<void> {
  const sessions = await ctx.storage.db.selectFrom('sessions').select('id').where('user_id', '=', auth.user.id).execute();
  await revokeSessions(
    ctx,
    auth.user.id,
    sessions.map((row) => row.id),
    { reason: 'logout_all', actorId: auth.user.id, address: auth.address },
  );
  ctx.logger.info({ component: 'accounts', userId: auth.user.id, count: sessions.length }, 'logged out everywhere');
}

export async function updateProfile(ctx: AppContext, auth: Auth, body: UpdateProfileBody): Promise<UserRow> {
  const timeZone = body.time_zone === undefined ? undefined : canonicalTimeZone(body.time_zone);
  if (timeZone === null) {
    throw invalidField('time_zone', `Unknown time zone "${body.time_zone}"; use an IANA name such as Europe/Paris`);
  }
  const displayName = body.display_name?.trim();
  if (displayName === '') throw invalidField('display_name', 'display_name must not be blank');

  const updated = await commitWithEvents(ctx, async (tx, events, now) => {
    const user = await tx
      .updateTable('users')
      .set({
        ...(displayName !== undefined && { display_name: displayName }),
        ...(body.status_text !== undefined && { status_text: body.status_text }),
        ...(timeZone !== undefined && { time_zone: timeZone }),
        updated_at: now,
      })
      .where('id', '=', auth.user.id)
      .returningAll()
      .executeTakeFirstOrThrow();

    await events.append(userStream(user.id), 'user.updated', { user: presentSelf(user) });
    for (const teamId of await listTeamIdsOfUser(tx, user.id)) {
      await events.append(teamStream(teamId), 'team.user_updated', { user: presentUser(user) });
    }
    return user;
  });
  // Cached sessions carry the old profile.
  ctx.sessionCache.forget(updated.id);
  return updated;
}

/** Changes the password and ends every other session of the user. */
export async function changePassword(ctx: AppContext, auth: Auth, body: ChangePasswordBody): Promise<void> {
  // The current password is guessable through this route too, so it shares the login limit of the account.
  await ctx.rateLimits.consume([['loginPerAccount', `user:${auth.user.id}`]]);
  const user = await findUserById(ctx.storage.db, auth.user.id);
  if (user === undefined || !(await verifyPassword(user.password_hash, body.current_password))) {
    throw new AppError('INVALID_CREDENTIALS', 'The current password is incorrect', { field: 'current_password' });
  }
  checkPasswordStrength(body.new_password, user, 'new_password');

  const passwordHash = await hashPassword(body.new_password);
  const now = ctx.now();
  await commitWithEvents(ctx, async (tx) => {
    await tx.updateTable('users').set({ password_hash: passwordHash, updated_at: now }).where('id', '=', user.id).execute();
    await recordAudit(tx, now, { action: 'password.changed', actorId: user.id, target: { type: 'user', id: user.id }, address: auth.address });
  });

  const others = await ctx.storage.db
    .selectFrom('sessions')
    .select('id')
    .where('user_id', '=', user.id)
    .where('id', '!=', auth.session.id)
    .execute();
  await revokeSessions(
    ctx,
    user.id,
    others.map((row) => row.id),
    { reason: 'password_changed', actorId: user.id, address: auth.address },
  );
  ctx.logger.info({ component: 'accounts', userId: user.id, revoked: others.length }, 'password changed');
}

/** Creates a single-use ticket that a browser passes when opening a WebSocket. */
export async function createTicket(ctx: AppContext, auth: Auth): Promise<{ ticket: string; expiresAt: number }> {
  const ticket = createSecret('cbt');
  const expiresAt = ctx.now() + ctx.config.wsTicketTtlMs;
  await ctx.storage.db.deleteFrom('ws_tickets').where('expires_at', '<=', ctx.now()).execute();
  await ctx.storage.db
    .insertInto('ws_tickets')
    .values({ ticket_hash: hashSecret(ticket), session_id: auth.session.id, user_id: auth.user.id, expires_at: expiresAt })
    .execute();
  return { ticket, expiresAt };
}

/** Consumes a ticket: the delete makes a replayed ticket fail. */
export async function redeemTicket(ctx: AppContext, ticket: string): Promise<Auth | undefined> {
  const row = await ctx.storage.db
    .deleteFrom('ws_tickets')
    .where('ticket_hash', '=', hashSecret(ticket))
    .returningAll()
    .executeTakeFirst();
  if (row === undefined || Number(row.expires_at) <= ctx.now()) return undefined;

  const session = await ctx.storage.db.selectFrom('sessions').selectAll().where('id', '=', row.session_id).executeTakeFirst();
  if (session === undefined || Number(session.expires_at) <= ctx.now()) return undefined;
  const user = await findUserById(ctx.storage.db, session.user_id);
  return user === undefined || user.deactivated_at != null ? undefined : { user, session };
}

/** Returns the IANA spelling of a time zone name ("europe/paris" becomes "Europe/Paris"), or null if unknown. */
function canonicalTimeZone(name: string): string | null {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}
