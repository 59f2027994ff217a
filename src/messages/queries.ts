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

/**
 * Selects the messages a channel's history shows: top-level messages, replies also
 * sent to the channel, and deleted thread roots that still have replies
 * (shown as placeholders).
 */
function channelTimeline(db: Db, conversationId: string) {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .where((eb) => eb.or([eb('root_id', 'is', null), eb('also_in_channel', '=', 1)]))
    .where((eb) => eb.or([eb('deleted_at', 'is', null), eb('reply_count', '>', 0)]));
}

/** Up to `limit` messages before a seq, returned oldest first. */
export async function listMessagesBefore(db: Db, conversationId: string, beforeSeq: number | null, limit: number): Promise<MessageRow[]> {
  let query = channelTimeline(db, conversationId);
  if (beforeSeq !== null) query = query.where('seq', '<', beforeSeq);
  const rows = await query.orderBy('seq', 'desc').limit(limit).execute();
  return rows.reverse();
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
