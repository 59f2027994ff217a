import type { Message } from '../../messages/schemas.js';
import type { ConversationRow, FileRow, MessageRow, UserRow, TeamRole } from '../../storage/schema.js';
import { contentPath } from '../../files/present.js';
import type { FileView } from '../../files/schemas.js';
import { markdownToSlack } from '../markup.js';
import { tsOf } from './ts.js';

/** Unix seconds, as Slack gives creation times. */
const seconds = (ms: number | string): number => Math.floor(Number(ms) / 1000);

/** Name and icon a bot post chose: Slack's `username`, `icon_url` and `icon_emoji` arguments. */
export interface BotProfile {
  username?: string;
  icon_url?: string;
  icon_emoji?: string;
}

/**
 * Presents a message as Slack's message object. `row` is the stored message
 * and `view` its presented form with reactions and files. `rootTs` is the ts
 * of the thread root when the message is a reply, and `baseUrl` this
 * server's origin, for the files' download URLs.
 */
export function presentSlackMessage(row: MessageRow, view: Message, rootTs: string | undefined, authorIsBot: boolean, baseUrl: string): Record<string, unknown> {
  const ts = tsOf(row);
  const usernames = new Map<string, string>();
  for (const mention of view.entities.mentions) {
    if (mention.type === 'user' && mention.username !== undefined && mention.user_id !== undefined) usernames.set(mention.username.toLowerCase(), mention.user_id);
  }
  const message: Record<string, unknown> = {
    type: 'message',
    ts,
    user: row.author_id,
    text: markdownToSlack(view.text, (username) => usernames.get(username.toLowerCase())),
  };
  if (row.subtype != null) message.subtype = row.subtype;
  // A deleted thread root stays in the history while it has replies, as Slack's tombstone does.
  if (row.deleted_at !== null) message.subtype = 'tombstone';
  if (authorIsBot) message.bot_id = row.author_id;
  if (row.client_msg_id !== null) message.client_msg_id = row.client_msg_id;
  if (row.edited_at !== null) message.edited = { user: row.author_id, ts: `${seconds(row.edited_at)}.000000` };
  addBotProfile(message, view.bot_profile);

  if (rootTs !== undefined) {
    message.thread_ts = rootTs;
    if (row.also_in_channel) message.subtype = 'thread_broadcast';
  } else if (view.reply_count > 0) {
    message.thread_ts = ts;
    message.reply_count = view.reply_count;
    message.reply_users = view.reply_users;
    message.reply_users_count = view.reply_users.length;
    if (row.last_reply_at !== null) message.latest_reply_at = seconds(row.last_reply_at);
  }
  if (view.reactions !== undefined && view.reactions.length > 0) {
    message.reactions = view.reactions.map((reaction) => ({ name: reaction.shortcode, users: reaction.user_ids, count: reaction.count }));
  }
  if (view.files !== undefined && view.files.length > 0) message.files = view.files.map((file) => presentSlackFileView(file, baseUrl));
  return message;
}

function addBotProfile(message: Record<string, unknown>, profile: BotProfile | undefined): void {
  if (profile === undefined) return;
  if (profile.username !== undefined) message.username = profile.username;
  const icons: Record<string, string> = {};
  if (profile.icon_url !== undefined) icons.image_48 = profile.icon_url;
  if (profile.icon_emoji !== undefined) icons.emoji = profile.icon_emoji;
  if (Object.keys(icons).length > 0) message.icons = icons;
}

/** Presents a conversation as Slack's conversation object. */
export function presentSlackChannel(
  row: ConversationRow,
  extras: { generalId: string | null; isMember: boolean; memberCount?: number },
): Record<string, unknown> {
  const isChannel = row.kind === 'public' || row.kind === 'private';
  return {
    id: row.id,
    name: row.name ?? row.id,
    name_normalized: row.name ?? row.id,
    is_channel: isChannel,
    is_group: false,
    is_im: row.kind === 'dm',
    is_mpim: row.kind === 'group',
    is_private: row.kind !== 'public',
    is_archived: row.archived_at !== null,
    is_general: extras.generalId === row.id,
    is_member: extras.isMember,
    is_shared: false,
    is_ext_shared: false,
    is_org_shared: false,
    created: seconds(row.created_at),
    updated: Number(row.updated_at),
    creator: row.created_by,
    context_team_id: row.team_id,
    topic: { value: row.topic, creator: '', last_set: 0 },
    purpose: { value: row.purpose, creator: '', last_set: 0 },
    ...(extras.memberCount !== undefined && { num_members: extras.memberCount }),
  };
}

/** Presents a user as Slack's user object. */
export function presentSlackUser(row: UserRow, teamId: string, role: TeamRole | undefined): Record<string, unknown> {
  const deleted = row.deactivated_at != null;
  return {
    id: row.id,
    team_id: teamId,
    name: row.username,
    real_name: row.display_name,
    deleted,
    is_bot: Boolean(row.is_bot),
    is_app_user: false,
    is_admin: role === 'admin' || role === 'owner',
    is_owner: role === 'owner',
    tz: row.time_zone,
    updated: seconds(row.updated_at),
    profile: {
      display_name: row.display_name,
      display_name_normalized: row.display_name,
      real_name: row.display_name,
      real_name_normalized: row.display_name,
      status_text: row.status_text,
      team: teamId,
    },
  };
}

/**
 * Presents a stored file as Slack's file object, with download URLs on this
 * server, which accept the bot's token. A file that no message shares lists
 * no channels, as Slack's private files do.
 */
export function presentSlackFile(row: FileRow, title: string | null, baseUrl: string, shared: boolean): Record<string, unknown> {
  return {
    id: row.id,
    created: seconds(row.created_at),
    timestamp: seconds(row.created_at),
    name: row.name,
    title: title ?? row.name,
    mimetype: row.mime_type,
    filetype: fileTypeOf(row.name),
    size: Number(row.size),
    user: row.uploader_id,
    url_private: `${baseUrl}${contentPath(row.id)}`,
    url_private_download: `${baseUrl}${contentPath(row.id)}?download=1`,
    channels: shared ? [row.conversation_id] : [],
  };
}

function presentSlackFileView(file: FileView, baseUrl: string): Record<string, unknown> {
  return {
    id: file.id,
    name: file.name,
    title: file.name,
    mimetype: file.mime_type,
    filetype: fileTypeOf(file.name),
    size: file.size,
    user: file.uploader_id,
    url_private: `${baseUrl}${file.url}`,
    url_private_download: `${baseUrl}${file.url}?download=1`,
  };
}

/** Slack's filetype: the lower-case extension, or "binary". */
function fileTypeOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? 'binary' : name.slice(dot + 1).toLowerCase();
}
