import type { Auth } from '../accounts/actions.js';
import { accessConversation } from '../conversations/access.js';
import { accessMessage } from '../messages/actions.js';
import { findMessage } from '../messages/queries.js';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { conversationStream, userStream } from '../realtime/events.js';
import type { Tx } from '../storage/database.js';
import type { MessageRow } from '../storage/schema.js';
import { getStreamPositions } from '../storage/streams.js';
import { followThread } from './post-hooks.js';
import {
  advanceConversationRead,
  advanceThreadRead,
  insertThreadRead,
  listConversationCounts,
  listThreadCounts,
  setFollowing,
  type ConversationCounts,
  type ThreadCounts,
} from './queries.js';

async function streamHead(tx: Tx, conversationId: string): Promise<number> {
  const stream = conversationStream(conversationId);
  return (await getStreamPositions(tx, [stream])).get(stream)?.lastSeq ?? 0;
}

/**
 * Moves the caller's read position in a conversation forward, to `seq` or the
 * stream head, and sends conversation.read to the caller's other devices.
 * Positions never move back, so a late request from another device cannot
 * undo a newer one.
 */
export async function markConversationRead(ctx: AppContext, auth: Auth, conversationId: string, seq?: number): Promise<ConversationCounts> {
  await commitWithEvents(ctx, async (tx, events) => {
    await accessConversation(tx, conversationId, auth.user.id, 'member');
    const head = await streamHead(tx, conversationId);
    const target = Math.min(seq ?? head, head);
    if (!(await advanceConversationRead(tx, conversationId, auth.user.id, target))) return;
    await events.append(userStream(auth.user.id), 'conversation.read', { conversation_id: conversationId, last_read_seq: target });
  });
  const [counts] = await listConversationCounts(ctx.storage.db, auth.user.id, { conversationId });
  if (counts === undefined) throw new AppError('CONVERSATION_NOT_FOUND', 'Conversation not found');
  return counts;
}

/** Loads the root of the thread a message belongs to, requiring membership of its conversation. */
async function accessThreadRoot(tx: Tx, userId: string, messageId: string): Promise<MessageRow> {
  const { message, access } = await accessMessage(tx, userId, messageId);
  if (!access.isMember) throw new AppError('NOT_IN_CONVERSATION', 'Join the channel first');
  const root = message.root_id === null ? message : await findMessage(tx, message.root_id);
  if (root === undefined || (root.deleted_at !== null && Number(root.reply_count) === 0)) {
    throw new AppError('MESSAGE_NOT_FOUND', 'Message not found');
  }
  return root;
}

async function threadCounts(ctx: AppContext, userId: string, rootId: string): Promise<ThreadCounts> {
  const [counts] = await listThreadCounts(ctx.storage.db, userId, { rootId });
  if (counts === undefined) throw new AppError('MESSAGE_NOT_FOUND', 'Message not found');
  return counts;
}

/** Moves the caller's read position in a thread forward and sends thread.read to their other devices. */
export async function markThreadRead(ctx: AppContext, auth: Auth, messageId: string, seq?: number): Promise<ThreadCounts> {
  const rootId = await commitWithEvents(ctx, async (tx, events, now) => {
    const root = await accessThreadRoot(tx, auth.user.id, messageId);
    const head = await streamHead(tx, root.conversation_id);
    const target = Math.min(seq ?? head, head);
    const row = { user_id: auth.user.id, thread_root_id: root.id, conversation_id: root.conversation_id, following: 0, last_read_seq: target, updated_at: now };
    const changed = (await insertThreadRead(tx, row)) || (await advanceThreadRead(tx, auth.user.id, root.id, target, now));
    if (changed) {
      await events.append(userStream(auth.user.id), 'thread.read', {
        thread_root_id: root.id,
        conversation_id: root.conversation_id,
        last_read_seq: target,
      });
    }
    return root.id;
  });
  return threadCounts(ctx, auth.user.id, rootId);
}

/** Follows a thread by hand: it shows in the caller's threads view until unfollowed. */
export async function followThreadByHand(ctx: AppContext, auth: Auth, messageId: string): Promise<ThreadCounts> {
  const rootId = await commitWithEvents(ctx, async (tx, events, now) => {
    const root = await accessThreadRoot(tx, auth.user.id, messageId);
    await followThread(tx, events, auth.user.id, root, now, { refollow: true });
    return root.id;
  });
  return threadCounts(ctx, auth.user.id, rootId);
}

/** Unfollows a thread; replying to it or being mentioned in it follows it again. */
export async function unfollowThread(ctx: AppContext, auth: Auth, messageId: string): Promise<void> {
  await commitWithEvents(ctx, async (tx, events, now) => {
    const root = await accessThreadRoot(tx, auth.user.id, messageId);
    if ((await setFollowing(tx, auth.user.id, root.id, false, now)) === undefined) return;
    await events.append(userStream(auth.user.id), 'thread.unfollowed', { thread_root_id: root.id, conversation_id: root.conversation_id });
  });
}
