import { accessConversation, type ConversationAccess, type ConversationNeed } from '../../conversations/access.js';
import { openDirectMessage } from '../../conversations/actions.js';
import type { AppContext } from '../../platform/context.js';
import type { MessageRow } from '../../storage/schema.js';
import type { BotAuth } from './bots.js';
import { findMessageByTs } from './ts.js';
import { findTeamUser } from './queries.js';
import { requireString, SlackApiError, type SlackArgs } from './args.js';

/** One Slack Web API call: the bot that makes it, its arguments and the client address. */
export interface SlackCall {
  ctx: AppContext;
  auth: BotAuth;
  args: SlackArgs;
  address: string;
  /** Base URL of this server as the client reached it, for URLs the response hands out. */
  baseUrl: string;
}

/** A method's successful result; the dispatcher adds `ok: true`. */
export type SlackResult = Record<string, unknown>;

export type SlackMethod = (call: SlackCall) => Promise<SlackResult>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Loads the conversation a `channel` argument names (an id, or a channel name
 * with or without "#") and checks the bot's access. A conversation of another
 * team, or a private one the bot is not in, raises channel_not_found exactly
 * as a missing one does.
 */
export async function accessChannelArg(call: SlackCall, need: ConversationNeed, name = 'channel'): Promise<ConversationAccess> {
  const raw = requireString(call.args, name, 'channel_not_found');
  const id = UUID.test(raw) ? raw.toLowerCase() : await findChannelIdByName(call, raw.replace(/^#/, ''));
  if (id === undefined) throw new SlackApiError('channel_not_found', name);

  const access = await accessConversation(call.ctx.storage.db, id, call.auth.user.id, need);
  if (access.conversation.team_id !== call.auth.teamId) throw new SlackApiError('channel_not_found', name);
  return access;
}

/**
 * Loads the conversation chat.postMessage posts into. As in Slack, a user id
 * of the team names the direct message between the bot and that user, which
 * is opened on first use. Any other value is read as accessChannelArg reads it.
 */
export async function accessPostTarget(call: SlackCall): Promise<ConversationAccess> {
  const raw = requireString(call.args, 'channel', 'channel_not_found');
  const user = UUID.test(raw) ? await findTeamUser(call.ctx.storage.db, call.auth.teamId, raw.toLowerCase()) : undefined;
  if (user === undefined) return accessChannelArg(call, 'read');

  const { conversation } = await openDirectMessage(call.ctx, call.auth, call.auth.teamId, [user.id]);
  return accessConversation(call.ctx.storage.db, conversation.id, call.auth.user.id, 'read');
}

async function findChannelIdByName(call: SlackCall, name: string): Promise<string | undefined> {
  const row = await call.ctx.storage.db
    .selectFrom('conversations')
    .select('id')
    .where('team_id', '=', call.auth.teamId)
    .where('name', '=', name)
    .executeTakeFirst();
  return row?.id;
}

/** Finds the message a ts argument names in a conversation; raises `error` (message_not_found, thread_not_found) when none. */
export async function requireMessageByTs(call: SlackCall, conversationId: string, name: string, error = 'message_not_found'): Promise<MessageRow> {
  const ts = requireString(call.args, name, error);
  const message = await findMessageByTs(call.ctx.storage.db, conversationId, ts);
  if (message === undefined || message.deleted_at !== null) throw new SlackApiError(error, name);
  return message;
}
