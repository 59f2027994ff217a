import type { Auth } from '../accounts/actions.js';
import { accessConversation } from '../conversations/access.js';
import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { conversationStream } from '../realtime/events.js';
import type { Db } from '../storage/database.js';
import type { MessageRow } from '../storage/schema.js';
import { getStreamPositions } from '../storage/streams.js';
import { accessMessage } from './actions.js';
import { presentMessages } from './present.js';
import { findMessage, listMessagesAfter, listMessagesBefore, listReplies } from './queries.js';
import type { HistoryQuery, Message, ThreadQuery } from './schemas.js';

export interface HistoryPage {
  messages: MessageRow[];
  hasMoreBefore: boolean;
  hasMoreAfter: boolean;
}

/**
 * Reads a page of channel history, oldest first: the latest messages, or those
 * before or after a seq, or those around a message (half on each side).
 * Each page reads one row past the limit to learn whether more exist.
 */
export async function readHistory(ctx: AppContext, auth: Auth, conversationId: string, query: HistoryQuery): Promise<HistoryPage> {
  const cursors = [query.before, query.after, query.around].filter((value) => value !== undefined);
  if (cursors.length > 1) {
    throw new AppError('INVALID_CURSOR', 'Give at most one of before, after and around', { field: 'before' });
  }
  await accessConversation(ctx.storage.db, conversationId, auth.user.id, 'read');
  const db = ctx.storage.db;
  const limit = query.limit ?? 50;

  if (query.after !== undefined) {
    const rows = await listMessagesAfter(db, conversationId, query.after, limit + 1);
    const older = await listMessagesBefore(db, conversationId, query.after + 1, 1);
    return { messages: rows.slice(0, limit), hasMoreBefore: older.length > 0, hasMoreAfter: rows.length > limit };
  }

  if (query.around !== undefined) {
    const anchor = await findMessage(db, query.around);
    if (anchor === undefined || anchor.conversation_id !== conversationId) {
      throw new AppError('MESSAGE_NOT_FOUND', 'The message to read around is not in this conversation', { field: 'around' });
    }
    const half = Math.max(1, Math.floor(limit / 2));
    const older = await listMessagesBefore(db, conversationId, Number(anchor.seq) + 1, half + 1);
    const newer = await listMessagesAfter(db, conversationId, Number(anchor.seq), limit - half + 1);
    return {
      messages: [...older.slice(older.length > half ? 1 : 0), ...newer.slice(0, limit - half)],
      hasMoreBefore: older.length > half,
      hasMoreAfter: newer.length > limit - half,
    };
  }

  if (query.before === undefined) return readLatestPage(db, conversationId, limit);

  const rows = await listMessagesBefore(db, conversationId, query.before, limit + 1);
  // A seq cursor need not be a message's seq, so whether anything lies past it is read, not assumed.
  const newer = await listMessagesAfter(db, conversationId, query.before - 1, 1);
  return { messages: rows.slice(rows.length > limit ? 1 : 0), hasMoreBefore: rows.length > limit, hasMoreAfter: newer.length > 0 };
}

async function readLatestPage(db: Db, conversationId: string, limit: number): Promise<HistoryPage> {
  const rows = await listMessagesBefore(db, conversationId, null, limit + 1);
  return { messages: rows.slice(rows.length > limit ? 1 : 0), hasMoreBefore: rows.length > limit, hasMoreAfter: false };
}

/** A history page as the API sends it. */
export interface MessagePageView {
  messages: Message[];
  has_more_before: boolean;
  has_more_after: boolean;
}

/** Presents a page read by readHistory, with the reactions and files of its messages. */
export async function presentHistoryPage(db: Db, page: HistoryPage): Promise<MessagePageView> {
  return { messages: await presentMessages(db, page.messages), has_more_before: page.hasMoreBefore, has_more_after: page.hasMoreAfter };
}

/**
 * Reads the latest page of `limit` messages as encoded JSON, from the node's
 * page cache when the conversation's stream has not moved since that page was
 * encoded (see LatestPageCache). The access check runs on every read.
 */
export async function readLatestPageBody(
  ctx: AppContext,
  auth: Auth,
  conversationId: string,
  limit: number,
  encode: (page: MessagePageView) => string | ArrayBuffer | Buffer,
): Promise<Buffer> {
  const db = ctx.storage.db;
  await accessConversation(db, conversationId, auth.user.id, 'read');

  // Read before the page, so the page contains at least every change up to this position.
  const generation = ctx.pageCache.generation;
  const stream = conversationStream(conversationId);
  const mark = (await getStreamPositions(db, [stream])).get(stream);
  const cached = mark === undefined ? undefined : ctx.pageCache.find(conversationId, limit, mark);
  if (cached !== undefined) return cached;

  const encoded = encode(await presentHistoryPage(db, await readLatestPage(db, conversationId, limit)));
  const body = typeof encoded === 'string' ? Buffer.from(encoded, 'utf8') : Buffer.isBuffer(encoded) ? encoded : Buffer.from(encoded);
  if (mark !== undefined) ctx.pageCache.store(conversationId, limit, mark, body, generation);
  return body;
}

/** Reads a thread: its root (a placeholder when deleted) and a page of replies. */
export async function readThread(
  ctx: AppContext,
  auth: Auth,
  messageId: string,
  query: ThreadQuery,
): Promise<{ root: MessageRow; replies: MessageRow[]; hasMore: boolean }> {
  const { message } = await accessMessage(ctx.storage.db, auth.user.id, messageId);
  const root = message.root_id === null ? message : await findMessage(ctx.storage.db, message.root_id);
  if (root === undefined) throw new AppError('MESSAGE_NOT_FOUND', 'Message not found');
  if (root.deleted_at !== null && Number(root.reply_count) === 0) throw new AppError('MESSAGE_NOT_FOUND', 'Message not found');

  const limit = query.limit ?? 100;
  const rows = await listReplies(ctx.storage.db, root.id, query.after ?? 0, limit + 1);
  return { root, replies: rows.slice(0, limit), hasMore: rows.length > limit };
}
