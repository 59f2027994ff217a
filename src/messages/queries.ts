import { prepareQuery, type ListsEveryColumn } from '../storage/compiled-query.js';
import type { Db, Tx } from '../storage/database.js';
import type { MessageRow } from '../storage/schema.js';

/** How many replying users a thread root lists. */
export const MAX_REPLY_USERS = 10;

export function findMessage(db: Db | Tx, id: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findMessageByClientId(db: Db | Tx, authorId: string, clientMsgId: string): Promise<MessageRow | undefined> {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('author_id', '=', authorId)
    .where('client_msg_id', '=', clientMsgId)
    .executeTakeFirst();
}

/** The columns of MessageRow, listed because PostgreSQL runs a prepared query as a named statement. */
const MESSAGE_COLUMNS = [
  'id',
  'conversation_id',
  'seq',
  'author_id',
  'text',
  'root_id',
  'also_in_channel',
  'reply_count',
  'reply_users',
  'last_reply_at',
  'edited_at',
  'deleted_at',
  'created_at',
  'client_msg_id',
  'entities',
  'subtype',
  'slack_ts',
  'bot_profile',
] as const satisfies ReadonlyArray<keyof MessageRow>;

// Fails to compile when MessageRow gains a column that MESSAGE_COLUMNS lacks.
const messageColumnsComplete: ListsEveryColumn<MessageRow, typeof MESSAGE_COLUMNS> = true;
void messageColumnsComplete;

/**
 * Selects the messages a channel's history shows: top-level messages, replies also
 * sent to the channel, and deleted thread roots that still have replies
 * (shown as placeholders).
 */
function channelTimeline(db: Db | Tx, conversationId: string) {
  return db
    .selectFrom('messages')
    .select(MESSAGE_COLUMNS)
    .where('conversation_id', '=', conversationId)
    .where((eb) => eb.or([eb('root_id', 'is', null), eb('also_in_channel', '=', 1)]))
    .where((eb) => eb.or([eb('deleted_at', 'is', null), eb('reply_count', '>', 0)]));
}

/** Reads the latest page of a channel's history, newest first. Every history read without a cursor runs it. */
const latestMessagesQuery = prepareQuery<{ conversationId: string; limit: number }>()((db, param) =>
  channelTimeline(db, param('conversationId')).orderBy('seq', 'desc').limit(param('limit')),
);

const messagesBeforeQuery = prepareQuery<{ conversationId: string; beforeSeq: number; limit: number }>()((db, param) =>
  channelTimeline(db, param('conversationId')).where('seq', '<', param('beforeSeq')).orderBy('seq', 'desc').limit(param('limit')),
);

/** Up to `limit` messages before a seq, or the latest ones when `beforeSeq` is null, returned oldest first. */
export async function listMessagesBefore(db: Db, conversationId: string, beforeSeq: number | null, limit: number): Promise<MessageRow[]> {
  const result =
    beforeSeq === null
      ? await latestMessagesQuery.execute(db, { conversationId, limit })
      : await messagesBeforeQuery.execute(db, { conversationId, beforeSeq, limit });
  return result.rows.reverse();
}

/** Up to `limit` messages after a seq, oldest first. */
export function listMessagesAfter(db: Db, conversationId: string, afterSeq: number, limit: number): Promise<MessageRow[]> {
  return channelTimeline(db, conversationId).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
}

/** Live replies of a thread after a seq, oldest first. */
export function listReplies(db: Db, rootId: string, afterSeq: number, limit: number): Promise<MessageRow[]> {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('root_id', '=', rootId)
    .where('deleted_at', 'is', null)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
}

/** Recounts a thread from its live replies: count, latest reply time and first repliers. */
export async function summariseThread(db: Tx, rootId: string): Promise<{ replyCount: number; lastReplyAt: number | null; replyUsers: string[] }> {
  const totals = await db
    .selectFrom('messages')
    .select((eb) => [eb.fn.countAll<number>().as('count'), eb.fn.max('created_at').as('last')])
    .where('root_id', '=', rootId)
    .where('deleted_at', 'is', null)
    .executeTakeFirstOrThrow();

  const repliers = await db
    .selectFrom('messages')
    .select((eb) => ['author_id', eb.fn.min('seq').as('first_seq')])
    .where('root_id', '=', rootId)
    .where('deleted_at', 'is', null)
    .groupBy('author_id')
    .orderBy('first_seq')
    .limit(MAX_REPLY_USERS)
    .execute();

  return {
    replyCount: Number(totals.count),
    lastReplyAt: totals.last === null ? null : Number(totals.last),
    replyUsers: repliers.map((row) => row.author_id),
  };
}
