import { timingSafeEqual } from 'node:crypto';
import type { Auth } from '../../accounts/actions.js';
import { createSecret, hashSecret } from '../../accounts/tokens.js';
import { accessConversation } from '../../conversations/access.js';
import { inviteMembers, joinChannel } from '../../conversations/actions.js';
import { postMessage } from '../../messages/actions.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import type { WebhookRow } from '../../storage/schema.js';
import { accessTeamAsAdmin } from '../../teams/access.js';
import { removeTeamMember } from '../../teams/actions.js';
import { recordAudit } from '../../audit/log.js';
import { createBotUser, type BotAuth } from '../api/bots.js';
import { InvalidSlackContent, renderSlackContent, resolveSlackNames } from '../api/payload.js';
import { botOrigin, readBotProfile } from '../api/chat.js';

/** Path prefix of webhook URLs: /api/hooks/<webhook id>/<secret>. */
export const HOOKS_PATH = '/api/hooks';

export interface NewWebhook {
  conversationId: string;
  name: string;
}

/**
 * Creates an incoming webhook for a channel: a bot user of its own (named
 * after the webhook, so posts show who sent them) joins the channel, and the
 * secret URL token is returned once. Team owners and admins may create one
 * for a public channel or a private channel they belong to.
 */
export async function createWebhook(ctx: AppContext, auth: Auth, teamId: string, input: NewWebhook): Promise<{ webhook: WebhookRow; token: string }> {
  await accessTeamAsAdmin(ctx.storage.db, teamId, auth.user.id);
  const access = await accessConversation(ctx.storage.db, input.conversationId, auth.user.id, 'read');
  if (access.conversation.team_id !== teamId) throw new AppError('CONVERSATION_NOT_FOUND', 'Conversation not found', { field: 'conversation_id' });
  if (access.conversation.kind === 'dm' || access.conversation.kind === 'group') {
    throw new AppError('VALIDATION_FAILED', 'Webhooks post into channels, not direct messages', { field: 'conversation_id' });
  }
  if (access.conversation.archived_at !== null) throw new AppError('CONVERSATION_ARCHIVED', 'This channel is archived and read-only');

  const id = newId();
  const bot = await createBotUser(ctx, auth, teamId, { username: `webhook-${id.slice(-8)}`, displayName: input.name });
  if (access.conversation.kind === 'public') {
    await joinChannel(ctx, { user: bot, session: auth.session }, access.conversation.id);
  } else {
    await inviteMembers(ctx, auth, access.conversation.id, [bot.id]);
  }

  const token = createSecret('cbw');
  const webhook: WebhookRow = {
    id,
    team_id: teamId,
    conversation_id: access.conversation.id,
    bot_user_id: bot.id,
    name: input.name,
    token_hash: hashSecret(token),
    created_by: auth.user.id,
    created_at: ctx.now(),
  };
  await ctx.storage.db.transaction().execute(async (tx) => {
    await tx.insertInto('webhooks').values(webhook).execute();
    await recordAudit(tx, webhook.created_at, {
      action: 'webhook.created',
      actorId: auth.user.id,
      target: { type: 'conversation', id: webhook.conversation_id },
      teamId,
      address: auth.address,
      details: { webhook_id: id, bot_user_id: bot.id },
    });
  });
  ctx.logger.info({ component: 'slack', teamId, webhookId: id, conversationId: webhook.conversation_id, userId: auth.user.id }, 'webhook created');
  return { webhook, token };
}

export async function listWebhooks(ctx: AppContext, auth: Auth, teamId: string): Promise<WebhookRow[]> {
  await accessTeamAsAdmin(ctx.storage.db, teamId, auth.user.id);
  return ctx.storage.db.selectFrom('webhooks').selectAll().where('team_id', '=', teamId).orderBy('created_at').orderBy('id').execute();
}

/**
 * Deletes a webhook, so posts to its URL fail with no_service. Its bot user leaves the
 * team through the ordinary team action, which also ends its channel
 * memberships. The user row stays as the author of the messages it posted.
 */
export async function deleteWebhook(ctx: AppContext, auth: Auth, teamId: string, webhookId: string): Promise<void> {
  await accessTeamAsAdmin(ctx.storage.db, teamId, auth.user.id);
  const deleted = await ctx.storage.db.transaction().execute(async (tx) => {
    const row = await tx.deleteFrom('webhooks').where('id', '=', webhookId).where('team_id', '=', teamId).returningAll().executeTakeFirst();
    if (row === undefined) throw new AppError('NOT_FOUND', 'Webhook not found', { field: 'webhookId' });
    await recordAudit(tx, ctx.now(), {
      action: 'webhook.deleted',
      actorId: auth.user.id,
      target: { type: 'conversation', id: row.conversation_id },
      teamId,
      address: auth.address,
      details: { webhook_id: row.id },
    });
    return row;
  });
  await removeTeamMember(ctx, auth, teamId, deleted.bot_user_id);
  ctx.logger.info({ component: 'slack', teamId, webhookId, userId: auth.user.id }, 'webhook deleted');
}

/** Slack's response to a webhook post: the HTTP status and the plain-text body. */
export interface WebhookAnswer {
  status: number;
  body: string;
}

/**
 * Posts a Slack incoming-webhook payload into the webhook's channel as a bot
 * message, through the ordinary posting action. Returns the response Slack gives for each outcome ("ok", "no_text", "invalid_payload", ...).
 */
export async function postToWebhook(ctx: AppContext, webhookId: string, secret: string, payload: unknown, address: string): Promise<WebhookAnswer> {
  const webhook = await findWebhookBySecret(ctx, webhookId, secret);
  if (webhook === undefined) return { status: 404, body: 'no_service' };
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return { status: 400, body: 'invalid_payload' };

  const content = payload as Record<string, unknown>;
  let text: string;
  try {
    text = renderSlackContent(content, await resolveSlackNames(ctx.storage.db, webhook.team_id, content));
  } catch (error) {
    if (error instanceof InvalidSlackContent) return { status: 400, body: `invalid_${error.field}` };
    throw error;
  }
  if (text.trim() === '') return { status: 400, body: 'no_text' };

  const bot = await ctx.storage.db.selectFrom('users').selectAll().where('id', '=', webhook.bot_user_id).executeTakeFirstOrThrow();
  const auth: BotAuth = {
    user: bot,
    session: { id: webhook.id, user_id: bot.id, token_hash: webhook.token_hash, created_at: Number(webhook.created_at), expires_at: Number.MAX_SAFE_INTEGER, last_seen_at: 0, user_agent: null },
    teamId: webhook.team_id,
    tokenId: webhook.id,
    address,
  };
  try {
    await postMessage(ctx, auth, webhook.conversation_id, { text }, address, botOrigin(readBotProfile(content)));
  } catch (error) {
    const answer = webhookAnswerOf(error);
    if (answer === undefined) throw error;
    return answer;
  }
  return { status: 200, body: 'ok' };
}

/** Slack's webhook responses for the errors posting can raise. */
function webhookAnswerOf(error: unknown): WebhookAnswer | undefined {
  if (!(error instanceof AppError)) return undefined;
  switch (error.code) {
    case 'CONVERSATION_NOT_FOUND':
    case 'NOT_IN_CONVERSATION':
      return { status: 404, body: 'channel_not_found' };
    case 'CONVERSATION_ARCHIVED':
      return { status: 410, body: 'channel_is_archived' };
    case 'MESSAGE_TOO_LONG':
      return { status: 400, body: 'msg_too_long' };
    case 'MESSAGE_EMPTY':
      return { status: 400, body: 'no_text' };
    case 'RATE_LIMITED':
      return { status: 429, body: 'rate_limited' };
    case 'BROADCAST_RESTRICTED':
    case 'FORBIDDEN':
      return { status: 403, body: 'action_prohibited' };
    default:
      return undefined;
  }
}

async function findWebhookBySecret(ctx: AppContext, webhookId: string, secret: string): Promise<WebhookRow | undefined> {
  const webhook = await ctx.storage.db.selectFrom('webhooks').selectAll().where('id', '=', webhookId).executeTakeFirst();
  if (webhook === undefined) return undefined;
  const expected = Buffer.from(webhook.token_hash, 'hex');
  const given = Buffer.from(hashSecret(secret), 'hex');
  return timingSafeEqual(expected, given) ? webhook : undefined;
}
