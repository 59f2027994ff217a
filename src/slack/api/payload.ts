import type { Db } from '../../storage/database.js';
import { slackToMarkdown, type SlackNameResolver } from '../markup.js';

/**
 * Renders the content of a Slack message payload (an incoming webhook's JSON,
 * or chat.postMessage arguments) to one Markdown text. Blocks replace `text`
 * when they render to something, as Slack shows blocks and keeps `text` for
 * notifications; attachments follow. Block and attachment kinds without text
 * (images, buttons, inputs) are left out.
 */

export interface SlackContent {
  text?: unknown;
  blocks?: unknown;
  attachments?: unknown;
}

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const stringOf = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value : undefined);

/** Thrown when `blocks` or `attachments` is not a list of objects. */
export class InvalidSlackContent extends Error {
  constructor(readonly field: 'blocks' | 'attachments') {
    super(`${field} must be a list of objects`);
  }
}

/** Returns the Markdown of a payload; empty when it has nothing to show. */
export function renderSlackContent(content: SlackContent, names: SlackNameResolver): string {
  const convert = (text: string) => slackToMarkdown(text, names);
  const text = stringOf(content.text);
  const blocks = renderBlocks(listOf(content.blocks, 'blocks'), convert);
  const attachments = listOf(content.attachments, 'attachments').map((attachment) => renderAttachment(attachment, convert));
  let main = blocks;
  if (main === '' && text !== undefined) main = convert(text);
  return [main, ...attachments].filter((part) => part !== '').join('\n\n');
}

function listOf(value: unknown, field: 'blocks' | 'attachments'): JsonObject[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every(isObject)) throw new InvalidSlackContent(field);
  return value;
}

/** Renders a text object: mrkdwn is converted, plain_text kept as written. */
function renderTextObject(value: unknown, convert: (text: string) => string): string {
  if (!isObject(value)) return '';
  const text = stringOf(value.text);
  if (text === undefined) return '';
  return value.type === 'mrkdwn' ? convert(text) : text;
}

function renderBlocks(blocks: JsonObject[], convert: (text: string) => string): string {
  return blocks
    .map((block) => renderBlock(block, convert))
    .filter((part) => part !== '')
    .join('\n\n');
}

function renderBlock(block: JsonObject, convert: (text: string) => string): string {
  switch (block.type) {
    case 'header': {
      const text = renderTextObject(block.text, convert);
      return text === '' ? '' : `**${text}**`;
    }
    case 'section': {
      const fields = Array.isArray(block.fields) ? block.fields.map((field) => renderTextObject(field, convert)).filter((field) => field !== '') : [];
      return [renderTextObject(block.text, convert), ...fields].filter((part) => part !== '').join('\n');
    }
    case 'context': {
      const elements = Array.isArray(block.elements) ? block.elements : [];
      return elements
        .map((element) => renderTextObject(element, convert))
        .filter((part) => part !== '')
        .join(' · ');
    }
    case 'divider':
      return '---';
    default:
      return '';
  }
}

/** Renders a legacy attachment: pretext, author, title (linked), text, fields and footer, else its fallback. */
function renderAttachment(attachment: JsonObject, convert: (text: string) => string): string {
  const parts: string[] = [];
  const pretext = stringOf(attachment.pretext);
  if (pretext !== undefined) parts.push(convert(pretext));
  const author = stringOf(attachment.author_name);
  if (author !== undefined) parts.push(`*${author}*`);
  const title = stringOf(attachment.title);
  const titleLink = stringOf(attachment.title_link);
  if (title !== undefined) parts.push(titleLink === undefined ? `**${title}**` : `**[${title}](${titleLink})**`);
  const text = stringOf(attachment.text);
  if (text !== undefined) parts.push(convert(text));
  if (Array.isArray(attachment.fields)) {
    for (const field of attachment.fields.filter(isObject)) {
      const fieldTitle = stringOf(field.title);
      const value = stringOf(field.value);
      if (fieldTitle === undefined && value === undefined) continue;
      parts.push([fieldTitle === undefined ? undefined : `**${fieldTitle}**`, value === undefined ? undefined : convert(value)].filter(Boolean).join('\n'));
    }
  }
  const footer = stringOf(attachment.footer);
  if (footer !== undefined) parts.push(convert(footer));
  if (parts.length > 0) return parts.join('\n');
  const fallback = stringOf(attachment.fallback);
  return fallback === undefined ? '' : convert(fallback);
}

/** Slack ids in `<@id>` and `<#id>` tokens anywhere in a payload's strings. */
const ID_TOKEN = /<([@#])([^|>\s]+)/g;

/**
 * Builds the resolver that turns `<@id>` and `<#id>` tokens of a payload into
 * usernames and channel names. Only users and channels of the team resolve,
 * so another team's names never show.
 */
export async function resolveSlackNames(db: Db, teamId: string, content: unknown): Promise<SlackNameResolver> {
  const userIds = new Set<string>();
  const channelIds = new Set<string>();
  for (const match of JSON.stringify(content ?? null).matchAll(ID_TOKEN)) {
    (match[1] === '@' ? userIds : channelIds).add(match[2]!);
  }
  const users = userIds.size === 0
    ? []
    : await db
        .selectFrom('users as u')
        .innerJoin('team_members as tm', (join) => join.onRef('tm.user_id', '=', 'u.id').on('tm.team_id', '=', teamId))
        .select(['u.id', 'u.username'])
        .where('u.id', 'in', [...userIds])
        .execute();
  const channels = channelIds.size === 0
    ? []
    : await db.selectFrom('conversations').select(['id', 'name']).where('team_id', '=', teamId).where('id', 'in', [...channelIds]).execute();
  const usernames = new Map(users.map((user) => [user.id, user.username]));
  const channelNames = new Map(channels.flatMap((channel) => (channel.name === null ? [] : [[channel.id, channel.name] as const])));
  return { user: (id) => usernames.get(id), channel: (id) => channelNames.get(id) };
}
