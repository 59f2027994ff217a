import { randomBytes } from 'node:crypto';
import type { Auth } from '../../accounts/actions.js';
import { hashPassword } from '../../accounts/passwords.js';
import { emailKey, findUserById, usernameKey } from '../../accounts/queries.js';
import { createSecret, hashSecret } from '../../accounts/tokens.js';
import type { AppContext } from '../../platform/context.js';
import { AppError, invalidField } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { BotTokenRow, SessionRow, UserRow } from '../../storage/schema.js';
import { addTeamMember } from '../../teams/actions.js';
import { findTeamMember } from '../../teams/queries.js';
import { accessTeamAsAdmin } from '../../teams/access.js';
import { recordAudit } from '../../audit/log.js';

/** Prefix of Slack bot tokens, which Slack SDKs and bots recognise. */
export const BOT_TOKEN_PREFIX = 'xoxb';

/**
 * Password hash of every bot: a valid argon2 hash of a random secret that was
 * never stored, so a password login as a bot fails like a wrong password.
 * One hash per process keeps bot creation free of an argon2 run each time.
 */
let botPasswordHash: Promise<string> | undefined;

/** Domain of the placeholder e-mail addresses of bot users; `.invalid` is reserved and never delivers (RFC 2606). */
const BOT_EMAIL_DOMAIN = 'bots.invalid';

export interface NewBotUser {
  username: string;
  displayName: string;
}

/**
 * Creates a bot user in a team: a user row marked is_bot whose password hash
 * belongs to a discarded secret, added to the team (and its #general) through
 * the ordinary team action, so teammates' sockets learn of it. The caller
 * must be a team owner or admin.
 */
export async function createBotUser(ctx: AppContext, auth: Auth, teamId: string, input: NewBotUser): Promise<UserRow> {
  await accessTeamAsAdmin(ctx.storage.db, teamId, auth.user.id);
  const displayName = input.displayName.trim();
  if (displayName === '') throw invalidField('display_name', 'display_name must not be blank');

  const id = newId();
  const now = ctx.now();
  const user: UserRow = {
    id,
    email: `${id}@${BOT_EMAIL_DOMAIN}`,
    email_key: emailKey(`${id}@${BOT_EMAIL_DOMAIN}`),
    username: input.username,
    username_key: usernameKey(input.username),
    display_name: displayName,
    password_hash: await (botPasswordHash ??= hashPassword(randomBytes(32).toString('base64url'))),
    status_text: '',
    time_zone: 'UTC',
    created_at: now,
    updated_at: now,
    is_bot: 1,
  };
  try {
    await ctx.storage.db.insertInto('users').values(user).execute();
  } catch (error) {
    if (!ctx.storage.dialect.isUniqueViolation(error)) throw error;
    throw new AppError('USERNAME_TAKEN', `The username "${input.username}" is taken`, { field: 'username' });
  }
  await ctx.storage.db.insertInto('bots').values({ user_id: id, team_id: teamId, created_by: auth.user.id, created_at: now }).execute();
  await addTeamMember(ctx, auth, teamId, { user_id: id });
  ctx.logger.info({ component: 'slack', teamId, botUserId: id, userId: auth.user.id }, 'bot user created');
  return user;
}

/** Issues a new `xoxb-` token for a bot of the team; only its hash is stored. */
export async function createBotToken(ctx: AppContext, auth: Auth, teamId: string, botUserId: string): Promise<{ token: string; row: BotTokenRow }> {
  await accessTeamAsAdmin(ctx.storage.db, teamId, auth.user.id);
  await getBotOfTeam(ctx, teamId, botUserId);
  // Slack bot tokens read "xoxb-" followed by the secret, so ours do too.
  const token = createSecret(BOT_TOKEN_PREFIX).replace(/^xoxb_/, 'xoxb-');
  const row: BotTokenRow = {
    id: newId(),
    bot_user_id: botUserId,
    team_id: teamId,
    token_hash: hashSecret(token),
    created_by: auth.user.id,
    created_at: ctx.now(),
    revoked_at: null,
  };
  await ctx.storage.db.transaction().execute(async (tx) => {
    await tx.insertInto('bot_tokens').values(row).execute();
    await recordAudit(tx, row.created_at, { action: 'bot.token_created', actorId: auth.user.id, target: { type: 'user', id: botUserId }, teamId, address: auth.address, details: { token_id: row.id } });
  });
  ctx.logger.info({ component: 'slack', teamId, botUserId, tokenId: row.id }, 'bot token issued');
  return { token, row };
}

/** Revokes every live token of a bot; calls with them then fail with token_revoked. */
export async function revokeBotTokens(ctx: AppContext, auth: Auth, teamId: string, botUserId: string): Promise<number> {
  await accessTeamAsAdmin(ctx.storage.db, teamId, auth.user.id);
  await getBotOfTeam(ctx, teamId, botUserId);
  const now = ctx.now();
  const revoked = await ctx.storage.db.transaction().execute(async (tx) => {
    const result = await tx.updateTable('bot_tokens').set({ revoked_at: now }).where('bot_user_id', '=', botUserId).where('revoked_at', 'is', null).executeTakeFirst();
    const count = Number(result.numUpdatedRows);
    await recordAudit(tx, now, { action: 'bot.tokens_revoked', actorId: auth.user.id, target: { type: 'user', id: botUserId }, teamId, address: auth.address, details: { revoked: count } });
    return count;
  });
  ctx.logger.info({ component: 'slack', teamId, botUserId, revoked, userId: auth.user.id }, 'bot tokens revoked');
  return revoked;
}

/** Lists the API bots of a team (webhook bots excluded), oldest first, for its admins. */
export async function listBots(ctx: AppContext, auth: Auth, teamId: string): Promise<UserRow[]> {
  await accessTeamAsAdmin(ctx.storage.db, teamId, auth.user.id);
  return ctx.storage.db
    .selectFrom('bots as b')
    .innerJoin('users as u', 'u.id', 'b.user_id')
    .selectAll('u')
    .where('b.team_id', '=', teamId)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('webhooks as w').select('w.id').whereRef('w.bot_user_id', '=', 'b.user_id'))))
    .orderBy('b.created_at')
    .orderBy('b.user_id')
    .execute();
}

async function getBotOfTeam(ctx: AppContext, teamId: string, botUserId: string): Promise<void> {
  const bot = await ctx.storage.db.selectFrom('bots').select('user_id').where('user_id', '=', botUserId).where('team_id', '=', teamId).executeTakeFirst();
  if (bot === undefined) throw new AppError('USER_NOT_FOUND', 'No bot with this id in the team', { field: 'botUserId' });
}

/** The caller of a Slack API request: the bot, its team, and the token it used. */
export interface BotAuth extends Auth {
  teamId: string;
  tokenId: string;
}

export type BotTokenCheck = { ok: true; auth: BotAuth } | { ok: false; error: 'invalid_auth' | 'token_revoked' | 'account_inactive' };

/** Returns true for a string shaped like a bot token, `xoxb-` and a secret. */
export function isBotToken(token: string): boolean {
  return token.startsWith(`${BOT_TOKEN_PREFIX}-`);
}

/**
 * Resolves a bot token. The Auth it returns carries a stand-in session (the
 * token's row), because actions take the caller's session only for logging.
 */
export async function authenticateBotToken(ctx: AppContext, token: string): Promise<BotTokenCheck> {
  if (!isBotToken(token)) return { ok: false, error: 'invalid_auth' };
  const row = await ctx.storage.db.selectFrom('bot_tokens').selectAll().where('token_hash', '=', hashSecret(token)).executeTakeFirst();
  if (row === undefined) return { ok: false, error: 'invalid_auth' };
  if (row.revoked_at !== null) return { ok: false, error: 'token_revoked' };

  const user = await findUserById(ctx.storage.db, row.bot_user_id);
  if (user === undefined || user.deactivated_at != null) return { ok: false, error: 'account_inactive' };
  // A bot removed from its team keeps its token rows but can no longer act.
  if ((await findTeamMember(ctx.storage.db, row.team_id, user.id)) === undefined) return { ok: false, error: 'account_inactive' };
  const session: SessionRow = {
    id: row.id,
    user_id: user.id,
    token_hash: row.token_hash,
    created_at: Number(row.created_at),
    expires_at: Number.MAX_SAFE_INTEGER,
    last_seen_at: Number(row.created_at),
    user_agent: null,
  };
  return { ok: true, auth: { user, session, teamId: row.team_id, tokenId: row.id } };
}
