import { usernameKey } from '../../accounts/queries.js';
import type { MentionEntity } from '../../mentions/entities.js';
import type { LinkToken } from '../../mentions/parse.js';
import type { MessageRow } from '../../storage/schema.js';
import { convertWithEntities, type SlackEntity, type SlackNameResolver } from '../markup.js';
import type { SlackFile, SlackMessage } from './export-types.js';
import type { ImportState } from './state.js';

/**
 * Slack subtypes of system lines (joins, topic changes, pins...), stored in
 * `messages.subtype` so clients can show them as such.
 */
const SYSTEM_SUBTYPES = new Set([
  'channel_join',
  'channel_leave',
  'channel_topic',
  'channel_purpose',
  'channel_name',
  'channel_archive',
  'channel_unarchive',
  'channel_convert_to_private',
  'channel_convert_to_public',
  'channel_posting_permissions',
  'group_join',
  'group_leave',
  'group_topic',
  'group_purpose',
  'group_name',
  'group_archive',
  'group_unarchive',
  'pinned_item',
  'unpinned_item',
  'me_message',
  'reminder_add',
  'reminder_delete',
  'bot_add',
  'bot_remove',
  'bot_enable',
  'bot_disable',
  'file_comment',
  'file_mention',
  'joiner_notification',
  'joiner_notification_for_inviter',
  'sh_room_created',
  'slackbot_response',
  'huddle_thread',
]);

/** Subtypes of ordinary posts, stored with no subtype. */
const POST_SUBTYPES = new Set(['file_share', 'thread_broadcast']);

/** Storage of a message's subtype: as a post, a bot message, a system line or a deleted thread root. */
export type SubtypeClass = { stored: string | null; deleted: boolean } | undefined;

/** Classifies a subtype; undefined means the importer does not know it. */
export function classifySubtype(subtype: string | undefined): SubtypeClass {
  if (subtype === undefined || POST_SUBTYPES.has(subtype)) return { stored: null, deleted: false };
  if (subtype === 'bot_message') return { stored: 'bot_message', deleted: false };
  // Slack leaves a tombstone where a thread root was deleted but its replies stay.
  if (subtype === 'tombstone') return { stored: null, deleted: true };
  if (SYSTEM_SUBTYPES.has(subtype)) return { stored: subtype, deleted: false };
  return undefined;
}

/** Orders Slack timestamps ("seconds.micros") numerically, whatever their digit counts. */
export function tsKey(ts: string): string {
  const [seconds = '', fraction = ''] = ts.split('.');
  return `${seconds.padStart(12, '0')}.${fraction.padEnd(6, '0')}`;
}

export const TS_PATTERN = /^\d{1,12}(\.\d{1,9})?$/;

export function tsToMillis(ts: string): number {
  return Math.floor(Number(ts) * 1000);
}

/** Returns the files a message shares, from `files` or the single `file` of older exports. */
export function filesOf(message: SlackMessage): SlackFile[] {
  if (Array.isArray(message.files)) return message.files.filter((file) => typeof file === 'object' && file !== null);
  return message.file !== undefined && typeof message.file === 'object' ? [message.file] : [];
}

/** Builds a resolver over the run's maps, for the markup conversion. */
export function namesOf(state: ImportState): SlackNameResolver {
  return {
    user: (slackId) => state.users.get(slackId)?.username ?? state.bots.get(slackId)?.username,
    channel: (slackId) => state.conversations.get(slackId)?.name,
  };
}

/** A message's converted text and the JSON of its mention and link entities (see src/mentions/entities.ts). */
export interface ConvertedText {
  text: string;
  entities: string;
  mentions: MentionEntity[];
}

/**
 * Builds a message's text: its converted markup, the attachments' fallback
 * when it has no text of its own (bots often post only attachments), and a
 * placeholder line for each file whose bytes the export lacks. Entities come
 * from Slack's tokens (see convertWithEntities), which is much cheaper than
 * parsing the Markdown again and finds the same mentions and links, except
 * for a mention typed as plain "@name" that Slack did not turn into a token.
 */
export function convertMessage(message: SlackMessage, state: ImportState, placeholders: readonly SlackFile[]): ConvertedText {
  const names = namesOf(state);
  const parts: Array<{ text: string; entities: SlackEntity[] }> = [convertWithEntities(typeof message.text === 'string' ? message.text : '', names)];
  if (parts[0]!.text.trim() === '' && Array.isArray(message.attachments)) {
    parts.length = 0;
    for (const attachment of message.attachments) {
      const converted = convertWithEntities(attachment?.fallback ?? attachment?.text ?? attachment?.title ?? '', names);
      if (converted.text !== '') parts.push(converted);
    }
  }
  for (const file of placeholders) {
    const size = typeof file.size === 'number' ? `, ${file.size} bytes` : '';
    parts.push({ text: `📎 ${file.name ?? file.title ?? 'file'}${size} (not included in the export)`, entities: [] });
  }

  let text = '';
  const mentions: MentionEntity[] = [];
  const links: LinkToken[] = [];
  for (const part of parts.filter((item) => item.text !== '')) {
    const shift = text === '' ? 0 : text.length + 1;
    text = text === '' ? part.text : `${text}\n${part.text}`;
    for (const entity of part.entities) addEntity(entity, shift, state.usernames, mentions, links);
  }
  const maxChars = state.ctx.config.maxMessageChars;
  if (text.length <= maxChars) return { text, entities: JSON.stringify({ mentions, links }), mentions };
  const fits = (entity: { offset: number; length: number }) => entity.offset + entity.length <= maxChars;
  const kept = mentions.filter(fits);
  return { text: text.slice(0, maxChars), entities: JSON.stringify({ mentions: kept, links: links.filter(fits) }), mentions: kept };
}

function addEntity(entity: SlackEntity, shift: number, usernames: ReadonlyMap<string, string>, mentions: MentionEntity[], links: LinkToken[]): void {
  const offset = entity.offset + shift;
  if (entity.kind === 'link') {
    links.push({ url: entity.url, offset, length: entity.length });
  } else if (entity.kind === 'user') {
    const userId = usernames.get(usernameKey(entity.username));
    if (userId !== undefined) mentions.push({ type: 'user', user_id: userId, username: entity.username, offset, length: entity.length });
  } else {
    mentions.push({ type: entity.kind, offset, length: entity.length });
  }
}

/** A message row before its seq is known. */
export type DraftRow = Omit<MessageRow, 'seq'> & { seq: number };
