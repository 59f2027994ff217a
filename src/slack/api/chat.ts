import { deleteMessage, editMessage, postMessage, type MessageOrigin } from '../../messages/actions.js';
import { AppError } from '../../platform/errors.js';
import { InvalidSlackContent, renderSlackContent, resolveSlackNames } from './payload.js';
import { tsOf } from './ts.js';
import { optionalBoolean, optionalJson, optionalString, SlackApiError, type SlackArgs } from './args.js';
import { accessChannelArg, accessPostTarget, requireMessageByTs, type SlackCall, type SlackMethod } from './call.js';
import { presentSlackMessageOne } from './messages.js';
import type { BotProfile } from './present.js';

/** Renders the text, blocks and attachments arguments to Markdown; no_text when they show nothing. */
export async function renderMessageArgs(call: SlackCall): Promise<string> {
  const content = { text: optionalString(call.args, 'text'), blocks: optionalJson(call.args, 'blocks'), attachments: optionalJson(call.args, 'attachments') };
  const names = await resolveSlackNames(call.ctx.storage.db, call.auth.teamId, content);
  let text: string;
  try {
    text = renderSlackContent(content, names);
  } catch (error) {
    if (error instanceof InvalidSlackContent) throw new SlackApiError(`invalid_${error.field}`, error.field);
    throw error;
  }
  if (text.trim() === '') throw new SlackApiError('no_text', 'text');
  return text;
}

/** Reads the username, icon_url and icon_emoji overrides of a post; null when none is given. */
export function readBotProfile(args: SlackArgs): BotProfile | null {
  const profile: BotProfile = {};
  for (const name of ['username', 'icon_url', 'icon_emoji'] as const) {
    const value = optionalString(args, name)?.trim();
    if (value !== undefined && value !== '') profile[name] = value.slice(0, 256);
  }
  return Object.keys(profile).length === 0 ? null : profile;
}

export function botOrigin(profile: BotProfile | null): MessageOrigin {
  return { subtype: 'bot_message', botProfile: profile === null ? null : { ...profile } };
}

const postMessageMethod: SlackMethod = async (call) => {
  const access = await accessPostTarget(call);
  const conversationId = access.conversation.id;
  const root = optionalString(call.args, 'thread_ts') ? await requireMessageByTs(call, conversationId, 'thread_ts', 'thread_not_found') : undefined;
  const text = await renderMessageArgs(call);

  const result = await postMessage(
    call.ctx,
    call.auth,
    conversationId,
    { text, ...(root !== undefined && { thread_root_id: root.id, also_in_channel: optionalBoolean(call.args, 'reply_broadcast') ?? false }) },
    call.address,
    botOrigin(readBotProfile(call.args)),
  );
  return { channel: conversationId, ts: tsOf(result.message), message: await presentSlackMessageOne(call.ctx.storage.db, result.message, call.baseUrl) };
};

const updateMethod: SlackMethod = async (call) => {
  const access = await accessChannelArg(call, 'read');
  const message = await requireMessageByTs(call, access.conversation.id, 'ts');
  const text = await renderMessageArgs(call);
  const edited = await withForbidden('cant_update_message', () => editMessage(call.ctx, call.auth, message.id, text));
  return { channel: access.conversation.id, ts: tsOf(edited), text: optionalString(call.args, 'text') ?? '', message: await presentSlackMessageOne(call.ctx.storage.db, edited, call.baseUrl) };
};

const deleteMethod: SlackMethod = async (call) => {
  const access = await accessChannelArg(call, 'read');
  const message = await requireMessageByTs(call, access.conversation.id, 'ts');
  await withForbidden('cant_delete_message', () => deleteMessage(call.ctx, call.auth, message.id));
  return { channel: access.conversation.id, ts: tsOf(message) };
};

/** Runs an action, turning its FORBIDDEN into the method's own Slack error. */
export async function withForbidden<T>(slackError: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof AppError && (error.code === 'FORBIDDEN' || error.code === 'EDIT_WINDOW_CLOSED' || error.code === 'DELETE_WINDOW_CLOSED')) {
      throw new SlackApiError(slackError);
    }
    throw error;
  }
}

export const chatMethods: Record<string, SlackMethod> = {
  'chat.postMessage': postMessageMethod,
  'chat.update': updateMethod,
  'chat.delete': deleteMethod,
};
