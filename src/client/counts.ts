import type { ClientState, ConversationState, HistoryWindow, MessageView } from './state.js';

/**
 * Unread and mention counts computed on the client from the messages it
 * holds, by the rules the server counts with (src/reads/queries.ts): only
 * messages by others, not deleted, after the read position, and at most
 * COUNT_CAP. The harness checks that both agree.
 */
/** Must equal COUNT_CAP of src/reads/queries.ts; the client bundle does not import server code. */
export const COUNT_CAP = 100;

function mentionsUser(message: MessageView, userId: string): boolean {
  return message.entities.mentions.some(
    (mention) => (mention.type === 'user' && mention.user_id === userId) || mention.type === 'channel' || mention.type === 'team',
  );
}

function countAfter(messages: Iterable<MessageView>, userId: string, afterSeq: number, include: (message: MessageView) => boolean) {
  let unread = 0;
  let mentions = 0;
  for (const message of messages) {
    if (!include(message) || message.deleted || message.seq <= afterSeq || message.author_id === userId) continue;
    unread += 1;
    if (mentionsUser(message, userId)) mentions += 1;
  }
  return { unread: Math.min(unread, COUNT_CAP), mentions: Math.min(mentions, COUNT_CAP) };
}

/**
 * Counts unread messages after `readSeq` for a client that holds only part of
 * the history. Above the window's baseline it holds every message and counts
 * them itself; at or below it, it uses the server's counts while the read
 * position is still the one they were read at. Otherwise it counts the held
 * messages only, which may be too low until the client reads new counts.
 */
function countWindowed(
  messages: MessageView[],
  userId: string,
  readSeq: number,
  window: HistoryWindow,
  baseline: { readSeq: number; unreadCount: number; mentionCount: number } | undefined,
  include: (message: MessageView) => boolean,
) {
  if (readSeq >= window.baselineSeq || baseline === undefined || baseline.readSeq !== readSeq) {
    return countAfter(messages, userId, readSeq, include);
  }
  const above = countAfter(messages, userId, window.baselineSeq, include);
  return {
    unread: Math.min(baseline.unreadCount + above.unread, COUNT_CAP),
    mentions: Math.min(baseline.mentionCount + above.mentions, COUNT_CAP),
  };
}

function recountConversation(state: ClientState, conversationId: string, entry: ConversationState): void {
  const messages = Object.values(entry.messages);
  const inTimeline = (message: MessageView) => message.thread_root_id === null || message.also_in_channel;
  const window = entry.window;
  const timeline =
    window === undefined
      ? countAfter(messages, state.me.id, entry.lastReadSeq, inTimeline)
      : countWindowed(
          messages,
          state.me.id,
          entry.lastReadSeq,
          window,
          { readSeq: window.baselineReadSeq, unreadCount: window.unreadCount, mentionCount: window.mentionCount },
          inTimeline,
        );
  entry.unreadCount = timeline.unread;
  entry.mentionCount = timeline.mentions;

  for (const [rootId, thread] of Object.entries(state.threads)) {
    if (thread.conversation_id !== conversationId) continue;
    // A thread whose root is gone (deleted without replies) leaves the threads view. A client
    // that holds part of the history cannot tell a missing root from one it never loaded.
    if (entry.messages[rootId] === undefined && window === undefined) {
      delete state.threads[rootId];
      continue;
    }
    const inThread = (message: MessageView) => message.thread_root_id === rootId;
    const replies =
      window === undefined
        ? countAfter(messages, state.me.id, thread.last_read_seq, inThread)
        : countWindowed(messages, state.me.id, thread.last_read_seq, window, window.threads[rootId], inThread);
    thread.unread_count = replies.unread;
    thread.mention_count = replies.mentions;
  }
}

/**
 * Recomputes the counts of one conversation, or of all when none is given,
 * and drops threads and saved items of conversations the user no longer has.
 */
export function recount(state: ClientState, conversationId?: string): void {
  for (const [rootId, thread] of Object.entries(state.threads)) {
    if (state.conversations[thread.conversation_id] === undefined) delete state.threads[rootId];
  }
  for (const [messageId, saved] of Object.entries(state.saved)) {
    if (state.conversations[saved.conversation_id] === undefined) delete state.saved[messageId];
  }

  const ids = conversationId === undefined ? Object.keys(state.conversations) : [conversationId];
  for (const id of ids) {
    const entry = state.conversations[id];
    if (entry !== undefined) recountConversation(state, id, entry);
  }
}
