import type { CompiledQuery } from 'kysely';
import { filterConversationMembers } from '../conversations/member-lookups.js';
import { userStream } from '../realtime/events.js';
import type { Tx } from '../storage/database.js';
import type { MessageRow } from '../storage/schema.js';
import type { EventWriter } from '../storage/streams.js';
import { advanceConversationReadStatement, advanceThreadRead, deleteThreadReadsOf, findThreadRead, insertThreadRead, setFollowing } from './queries.js';

/**
 * Builds the statements that move the author's read position to their new
 * message, to run with the message's insert: the author has read their own
 * message. A timeline message moves their conversation position; a reply
 * kept in its thread moves nothing here (recordPostReads moves the thread
 * position). No event is sent for this, because every client of the author
 * applies the same rule when the message.posted event arrives, which saves a
 * write per post.
 */
export function authorReadStatements(tx: Tx, message: Pick<MessageRow, 'conversation_id' | 'author_id' | 'seq' | 'root_id' | 'also_in_channel'>): CompiledQuery[] {
  if (message.root_id !== null && Number(message.also_in_channel) !== 1) return [];
  return [advanceConversationReadStatement(tx, message.conversation_id, message.author_id, Number(message.seq))];
}

/**
 * Updates thread read state for a new reply, inside the posting transaction.
 *
 * A reply makes its author, the root's author and the members it mentions
 * follow the thread, and moves the author's thread position to the reply.
 * Each of them whose follow state changed gets thread.followed. The root's
 * author keeps an earlier unfollow; replying or being mentioned follows again.
 */
export async function recordPostReads(
  tx: Tx,
  events: EventWriter,
  message: MessageRow,
  root: MessageRow | undefined,
  mentionedMemberIds: readonly string[],
  now: number,
): Promise<void> {
  if (root === undefined) return;
  const seq = Number(message.seq);

  await followThread(tx, events, message.author_id, root, now, { readSeq: seq, refollow: true });
  // The root's author may have left the conversation since, and then learns nothing of it.
  if (root.author_id !== message.author_id && (await filterConversationMembers(tx, root.conversation_id, [root.author_id])).size > 0) {
    await followThread(tx, events, root.author_id, root, now, { refollow: false });
  }
  await followMentionedMembers(tx, events, root, mentionedMemberIds.filter((id) => id !== message.author_id), now);
}

/** Makes members mentioned in a reply, on posting or editing, follow its thread. */
export async function followMentionedMembers(tx: Tx, events: EventWriter, root: MessageRow, memberIds: readonly string[], now: number): Promise<void> {
  for (const userId of memberIds) await followThread(tx, events, userId, root, now, { refollow: true });
}

/**
 * Makes a member follow a thread and returns true when that changed anything.
 * `refollow: false` leaves an explicit unfollow in place.
 */
export async function followThread(
  tx: Tx,
  events: EventWriter,
  userId: string,
  root: MessageRow,
  now: number,
  options: { readSeq?: number; refollow: boolean },
): Promise<boolean> {
  const inserted = await insertThreadRead(tx, {
    user_id: userId,
    thread_root_id: root.id,
    conversation_id: root.conversation_id,
    following: 1,
    last_read_seq: options.readSeq ?? 0,
    updated_at: now,
  });
  let changed = inserted;
  if (!inserted) {
    if (options.readSeq !== undefined) await advanceThreadRead(tx, userId, root.id, options.readSeq, now);
    if (options.refollow) changed = (await setFollowing(tx, userId, root.id, true, now)) !== undefined;
  }
  if (!changed) return false;

  const row = await findThreadRead(tx, userId, root.id);
  await events.append(userStream(userId), 'thread.followed', {
    thread_root_id: root.id,
    conversation_id: root.conversation_id,
    last_read_seq: Number(row?.last_read_seq ?? 0),
  });
  return true;
}

/** Forgets a user's thread states in a conversation they no longer belong to. */
export function forgetThreadReads(tx: Tx, conversationId: string, userId: string): Promise<void> {
  return deleteThreadReadsOf(tx, conversationId, userId);
}
