import { sql, type RawBuilder } from 'kysely';
import type { HasValue } from './query-parser.js';
import type { ResolvedSearch } from './search-index.js';

/**
 * The SQL both index implementations share: which conversations a searcher
 * may read, and every condition of a search besides the text match. It uses
 * only SQL that SQLite and PostgreSQL both accept. Conditions refer to the
 * document as `d` (search_documents).
 */

type Condition = RawBuilder<unknown>;

/**
 * The form of the permission check, which selects the same documents either
 * way. `list` selects every readable conversation once and tests each
 * document against that list. `row` looks up each document's conversation
 * and the searcher's memberships, a few index lookups per document read.
 * SQLite builds the list as a temporary index before the first row. That
 * took about 0.35 ms for 920 readable conversations in bench/search.ts,
 * several times what FTS5 needs to find the 20 newest matches.
 */
export type PermissionCheck = 'list' | 'row';

/**
 * Selects the ids of the conversations the searcher may read now: public
 * channels of their teams, and the conversations of their teams they are a
 * member of. It is evaluated inside every search, so leaving a channel or a
 * team hides its messages from the next search on.
 */
export function readableConversations(search: ResolvedSearch): Condition {
  return sql`SELECT c.id FROM conversations c
    JOIN team_members tm ON tm.team_id = c.team_id AND tm.user_id = ${search.userId}
    WHERE ${readableConversationConditions(search)}`;
}

/** Tests that the searcher may read the conversation of the document `d` now, by the rule of `readableConversations`. */
function readableDocument(search: ResolvedSearch): Condition {
  return sql`EXISTS (SELECT 1 FROM conversations c
    JOIN team_members tm ON tm.team_id = c.team_id AND tm.user_id = ${search.userId}
    WHERE c.id = d.conversation_id AND ${readableConversationConditions(search)})`;
}

/** Builds the conditions that make the conversation `c` readable and in scope; the query joins `c` to the searcher's team membership. */
function readableConversationConditions(search: ResolvedSearch): Condition {
  const team = search.teamId === undefined ? sql`` : sql` AND c.team_id = ${search.teamId}`;
  const only = search.conversations.any.length === 0 ? sql`` : sql` AND c.id IN (${sql.join(search.conversations.any)})`;
  const except = search.conversations.none.length === 0 ? sql`` : sql` AND c.id NOT IN (${sql.join(search.conversations.none)})`;
  return sql`(c.kind = 'public' OR EXISTS (
      SELECT 1 FROM conversation_members cm WHERE cm.conversation_id = c.id AND cm.user_id = ${search.userId}
    ))${team}${only}${except}`;
}

const THREAD = sql`(m.root_id IS NOT NULL OR m.reply_count > 0)`;

function hasCondition(value: HasValue): Condition {
  if (value === 'link') return sql`d.has_link = 1`;
  if (value === 'file') return sql`EXISTS (SELECT 1 FROM files fl WHERE fl.message_id = d.message_id AND fl.deleted_at IS NULL)`;
  return sql`EXISTS (SELECT 1 FROM reactions r WHERE r.message_id = d.message_id)`;
}

/** Returns every condition on `d` except the text match, with the permission check in the given form. */
export function documentConditions(search: ResolvedSearch, permission: PermissionCheck = 'list'): Condition[] {
  const conditions: Condition[] = [permission === 'list' ? sql`d.conversation_id IN (${readableConversations(search)})` : readableDocument(search)];

  if (search.kind === 'messages') {
    conditions.push(sql`d.message_id IS NOT NULL`);
  } else {
    // A file shows once a live message in its conversation shares it, and until the file or that message is deleted.
    conditions.push(sql`d.file_id IS NOT NULL`);
    conditions.push(sql`EXISTS (
      SELECT 1 FROM files fl JOIN messages m ON m.id = fl.message_id
      WHERE fl.id = d.file_id AND fl.deleted_at IS NULL AND m.deleted_at IS NULL AND m.conversation_id = d.conversation_id
    )`);
  }

  if (search.authors.any.length > 0) conditions.push(sql`d.author_id IN (${sql.join(search.authors.any)})`);
  if (search.authors.none.length > 0) conditions.push(sql`d.author_id NOT IN (${sql.join(search.authors.none)})`);
  if (search.createdFrom !== undefined) conditions.push(sql`d.created_at >= ${search.createdFrom}`);
  if (search.createdBefore !== undefined) conditions.push(sql`d.created_at < ${search.createdBefore}`);

  for (const value of search.has.all) conditions.push(hasCondition(value));
  for (const value of search.has.none) conditions.push(sql`NOT ${hasCondition(value)}`);
  if (search.is.all.includes('thread')) conditions.push(sql`EXISTS (SELECT 1 FROM messages m WHERE m.id = d.message_id AND ${THREAD})`);
  if (search.is.none.includes('thread')) conditions.push(sql`NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = d.message_id AND ${THREAD})`);

  if (search.mentions.any.length > 0) {
    conditions.push(sql`EXISTS (SELECT 1 FROM message_mentions mm WHERE mm.message_id = d.message_id AND mm.user_id IN (${sql.join(search.mentions.any)}))`);
  }
  if (search.mentions.none.length > 0) {
    conditions.push(sql`NOT EXISTS (SELECT 1 FROM message_mentions mm WHERE mm.message_id = d.message_id AND mm.user_id IN (${sql.join(search.mentions.none)}))`);
  }
  return conditions;
}

/** Joins conditions with AND. */
export function allOf(conditions: readonly Condition[]): Condition {
  return sql.join(conditions, sql` AND `);
}
