import { sql, type CompiledQuery, type ExpressionBuilder, type SelectQueryBuilder } from 'kysely';
import type { Db, Tx } from '../storage/database.js';
import { prepareQuery } from '../storage/compiled-query.js';
import type { Database, ThreadReadRow } from '../storage/schema.js';

/**
 * Read positions and the unread and mention counts derived from them.
 *
 * Every count reads one narrow index range: the entries after the reader's
 * position, stopping at COUNT_CAP. So a count costs at most COUNT_CAP index
 * entries, whatever the size of the conversation. docs/benchmarks.md
 * ("Sidebar") records the query plans.
 */
export const COUNT_CAP = 100;

/** The condition of the partial index messages_timeline_unread_idx, repeated so SQLite picks that index. */
const UNREAD_TIMELINE = sql<boolean>`m.deleted_at IS NULL AND (m.root_id IS NULL OR m.also_in_channel = 1)`;

type Scope = ExpressionBuilder<Database & { cm: { conversation_id: string; last_read_seq: number } }, 'cm'>;

/** Counts, up to COUNT_CAP, the rows of a correlated subquery. */
function cappedCount<O>(eb: ExpressionBuilder<any, any>, rows: SelectQueryBuilder<any, any, O>) {
  return eb
    .selectFrom(rows.limit(COUNT_CAP).as('counted'))
    .select((inner) => inner.fn.countAll<number>().as('n'));
}

/** Unread channel-timeline messages after `cm.last_read_seq`, not by the reader and not deleted. */
function unreadMessages(eb: Scope, userId: string) {
  return cappedCount(
    eb,
    eb
      .selectFrom('messages as m')
      .select(sql.lit(1).as('one'))
      .whereRef('m.conversation_id', '=', 'cm.conversation_id')
      .whereRef('m.seq', '>', 'cm.last_read_seq')
      .where(UNREAD_TIMELINE)
      .where('m.author_id', '<>', userId),
  );
}

/** Unread timeline messages that mention the reader by name or everyone by @channel or @team. */
function unreadMentions(eb: Scope, userId: string) {
  return cappedCount(
    eb,
    eb
      .selectFrom('message_mentions as mm')
      .select(sql.lit(1).as('one'))
      .whereRef('mm.conversation_id', '=', 'cm.conversation_id')
      .where('mm.user_id', 'in', [userId, ''])
      .whereRef('mm.seq', '>', 'cm.last_read_seq')
      .where('mm.in_timeline', '=', 1)
      .where('mm.author_id', '<>', userId),
  );
}

export interface ConversationCounts {
  conversation_id: string;
  team_id: string;
  last_read_seq: number;
  last_seq: number;
  unread_count: number;
  mention_count: number;
}

export interface ConversationCountsFilter {
  teamId?: string;
  conversationId?: string;
}

/** Builds the sidebar query; the benchmark compiles it for EXPLAIN QUERY PLAN. */
export function buildConversationCountsQuery(db: Db, userId: string, options: ConversationCountsFilter = {}) {
  let query = db
    .selectFrom('conversation_members as cm')
    .innerJoin('conversations as c', 'c.id', 'cm.conversation_id')
    .innerJoin('team_members as tm', (join) => join.onRef('tm.team_id', '=', 'c.team_id').on('tm.user_id', '=', userId))
    .select(['cm.conversation_id', 'c.team_id', 'cm.last_read_seq'])
    .select((eb) => [
      // A correlated lookup by primary key, so PostgreSQL does not hash-join the whole streams table.
      eb.selectFrom('streams as s').select('s.last_seq').where('s.id', '=', sql<string>`'c:' || cm.conversation_id`).as('last_seq'),
      unreadMessages(eb as unknown as Scope, userId).as('unread_count'),
      unreadMentions(eb as unknown as Scope, userId).as('mention_count'),
    ])
    .where('cm.user_id', '=', userId);
  if (options.teamId !== undefined) query = query.where('c.team_id', '=', options.teamId);
  if (options.conversationId !== undefined) query = query.where('cm.conversation_id', '=', options.conversationId);
  return query.orderBy('c.created_at').orderBy('c.id');
}

/**
 * Lists the sidebar in one query: every conversation of the user (in teams
 * they belong to) with its read position, head and capped unread and mention counts.
 */
export async function listConversationCounts(db: Db, userId: string, options: ConversationCountsFilter = {}): Promise<ConversationCounts[]> {
  const rows = await buildConversationCountsQuery(db, userId, options).execute();
  return rows.map((row) => ({
    conversation_id: row.conversation_id,
    team_id: row.team_id,
    last_read_seq: Number(row.last_read_seq),
    last_seq: Number(row.last_seq ?? 0),
    unread_count: Number(row.unread_count ?? 0),
    mention_count: Number(row.mention_count ?? 0),
  }));
}

/** Moves a member's read position forward to `seq`; returns false when it was already there or past it. */
export async function advanceConversationRead(tx: Tx, conversationId: string, userId: string, seq: number): Promise<boolean> {
  const result = await advanceConversationReadQuery.execute(tx, { conversationId, userId, seq });
  return Number(result.numAffectedRows ?? 0) > 0;
}

/** Builds the statement of advanceConversationRead, to run together with others (StorageDialect.executeTogether). */
export function advanceConversationReadStatement(tx: Tx, conversationId: string, userId: string, seq: number): CompiledQuery {
  return advanceConversationReadQuery.compile(tx, { conversationId, userId, seq });
}

// Prepared because every post moves its author's position.
const advanceConversationReadQuery = prepareQuery<{ conversationId: string; userId: string; seq: number }>()((db, param) =>
  db
    .updateTable('conversation_members')
    .set({ last_read_seq: param('seq') })
    .where('conversation_id', '=', param('conversationId'))
    .where('user_id', '=', param('userId'))
    .where('last_read_seq', '<', param('seq')),
);

export async function findConversationReadSeq(db: Db | Tx, conversationId: string, userId: string): Promise<number> {
  const row = await db
    .selectFrom('conversation_members')
    .select('last_read_seq')
    .where('conversation_id', '=', conversationId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return Number(row?.last_read_seq ?? 0);
}

type ThreadScope = ExpressionBuilder<Database & { tr: ThreadReadRow }, 'tr'>;

export interface ThreadCounts {
  thread_root_id: string;
  conversation_id: string;
  following: boolean;
  last_read_seq: number;
  last_reply_at: number | null;
  root_seq: number;
  unread_count: number;
  mention_count: number;
}

/** Builds the threads-view query; the benchmark compiles it for EXPLAIN QUERY PLAN. */
export function buildThreadCountsQuery(db: Db, userId: string, options: { rootId?: string } = {}) {
  const query = db
    .selectFrom('thread_reads as tr')
    .innerJoin('messages as r', 'r.id', 'tr.thread_root_id')
    .innerJoin('conversation_members as cm', (join) => join.onRef('cm.conversation_id', '=', 'tr.conversation_id').on('cm.user_id', '=', userId))
    .innerJoin('conversations as c', 'c.id', 'tr.conversation_id')
    .innerJoin('team_members as tm', (join) => join.onRef('tm.team_id', '=', 'c.team_id').on('tm.user_id', '=', userId))
    .select(['tr.thread_root_id', 'tr.conversation_id', 'tr.following', 'tr.last_read_seq', 'r.last_reply_at', 'r.seq as root_seq'])
    .select((eb) => {
      const scope = eb as unknown as ThreadScope;
      const replies = cappedCount(
        scope,
        scope
          .selectFrom('messages as m')
          .select(sql.lit(1).as('one'))
          .whereRef('m.root_id', '=', 'tr.thread_root_id')
          .whereRef('m.seq', '>', 'tr.last_read_seq')
          .where('m.deleted_at', 'is', null)
          .where('m.author_id', '<>', userId),
      );
      const mentions = cappedCount(
        scope,
        scope
          .selectFrom('message_mentions as mm')
          .select(sql.lit(1).as('one'))
          .whereRef('mm.thread_root_id', '=', 'tr.thread_root_id')
          .where('mm.user_id', 'in', [userId, ''])
          .whereRef('mm.seq', '>', 'tr.last_read_seq')
          .where('mm.author_id', '<>', userId),
      );
      return [replies.as('unread_count'), mentions.as('mention_count')];
    })
    .where('tr.user_id', '=', userId)
    .where((eb) => eb.or([eb('r.deleted_at', 'is', null), eb('r.reply_count', '>', 0)]));
  return options.rootId === undefined ? query.where('tr.following', '=', 1) : query.where('tr.thread_root_id', '=', options.rootId);
}

/**
 * Lists the threads the user follows (or one given thread, followed or not)
 * in conversations they still belong to, with capped counts of unread replies
 * and of replies that mention them. A deleted root without replies is left out.
 */
export async function listThreadCounts(db: Db, userId: string, options: { rootId?: string } = {}): Promise<ThreadCounts[]> {
  const rows = await buildThreadCountsQuery(db, userId, options).execute();
  return rows.map((row) => ({
    thread_root_id: row.thread_root_id,
    conversation_id: row.conversation_id,
    following: Number(row.following) === 1,
    last_read_seq: Number(row.last_read_seq),
    last_reply_at: row.last_reply_at === null ? null : Number(row.last_reply_at),
    root_seq: Number(row.root_seq),
    unread_count: Number(row.unread_count ?? 0),
    mention_count: Number(row.mention_count ?? 0),
  }));
}

export function findThreadRead(db: Db | Tx, userId: string, rootId: string): Promise<ThreadReadRow | undefined> {
  return db.selectFrom('thread_reads').selectAll().where('user_id', '=', userId).where('thread_root_id', '=', rootId).executeTakeFirst();
}

/** Inserts a thread state unless the user has one; returns true when it inserted. */
export async function insertThreadRead(tx: Tx, row: ThreadReadRow): Promise<boolean> {
  const inserted = await tx
    .insertInto('thread_reads')
    .values(row)
    .onConflict((conflict) => conflict.columns(['user_id', 'thread_root_id']).doNothing())
    .returning('user_id')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** Moves a thread read position forward; returns false when it was already there or past it. */
export async function advanceThreadRead(tx: Tx, userId: string, rootId: string, seq: number, now: number): Promise<boolean> {
  const result = await tx
    .updateTable('thread_reads')
    .set({ last_read_seq: seq, updated_at: now })
    .where('user_id', '=', userId)
    .where('thread_root_id', '=', rootId)
    .where('last_read_seq', '<', seq)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Sets whether a thread is followed; returns the row when this changed it. */
export function setFollowing(tx: Tx, userId: string, rootId: string, following: boolean, now: number): Promise<ThreadReadRow | undefined> {
  return tx
    .updateTable('thread_reads')
    .set({ following: following ? 1 : 0, updated_at: now })
    .where('user_id', '=', userId)
    .where('thread_root_id', '=', rootId)
    .where('following', '=', following ? 0 : 1)
    .returningAll()
    .executeTakeFirst();
}

/** Deletes a user's thread states in a conversation they left. */
export async function deleteThreadReadsOf(tx: Tx, conversationId: string, userId: string): Promise<void> {
  await tx.deleteFrom('thread_reads').where('conversation_id', '=', conversationId).where('user_id', '=', userId).execute();
}
