import type { Auth } from '../accounts/actions.js';
import { accessConversation } from '../conversations/access.js';
import { accessMessage } from '../messages/actions.js';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { conversationStream } from '../realtime/events.js';
import { findEmoji, type KnownEmoji } from './emoji.js';
import { deleteReaction, insertReaction } from './queries.js';

function checkEmoji(input: string): KnownEmoji {
  const emoji = findEmoji(input);
  if (emoji === undefined) {
    throw new AppError('UNKNOWN_EMOJI', `"${input}" is not a known emoji or shortcode; send an emoji such as "👍" or a shortcode such as ":+1:"`, {
      field: 'emoji',
    });
  }
  return emoji;
}

/**
 * Adds the caller's reaction to a message. Reacting twice with one emoji
 * changes nothing: the primary key (message, emoji, user) decides, also
 * between concurrent requests. Returns whether it added one.
 */
export async function addReaction(ctx: AppContext, auth: Auth, messageId: string, input: string): Promise<{ added: boolean; emoji: KnownEmoji }> {
  const emoji = checkEmoji(input);
  const added = await commitWithEvents(ctx, async (tx, events, now) => {
    const { message } = await accessLiveMessage(tx, auth.user.id, messageId);
    await accessConversation(tx, message.conversation_id, auth.user.id, 'write');

    let inserted = false;
    await events.append(conversationStream(message.conversation_id), 'reaction.added', async (seq) => {
      const row = { message_id: message.id, emoji: emoji.emoji, user_id: auth.user.id, conversation_id: message.conversation_id, seq, created_at: now };
      inserted = await insertReaction(tx, row);
      // A duplicate rolls the whole transaction back below, so no event is stored for it.
      if (!inserted) throw new DuplicateReaction();
      return { message_id: message.id, emoji: emoji.emoji, shortcode: emoji.shortcode, user_id: auth.user.id };
    });
    return inserted;
  }).catch((error: unknown) => {
    if (error instanceof DuplicateReaction) return false;
    throw error;
  });
  return { added, emoji };
}

class DuplicateReaction extends Error {}

/** Removes the caller's reaction; removing one that is not there is not an error. */
export async function removeReaction(ctx: AppContext, auth: Auth, messageId: string, input: string): Promise<void> {
  const emoji = checkEmoji(input);
  await commitWithEvents(ctx, async (tx, events) => {
    const { message } = await accessLiveMessage(tx, auth.user.id, messageId);
    await accessConversation(tx, message.conversation_id, auth.user.id, 'write');
    if (!(await deleteReaction(tx, message.id, emoji.emoji, auth.user.id))) return;
    await events.append(conversationStream(message.conversation_id), 'reaction.removed', {
      message_id: message.id,
      emoji: emoji.emoji,
      user_id: auth.user.id,
    });
  });
}

async function accessLiveMessage(tx: Parameters<typeof accessMessage>[0], userId: string, messageId: string) {
  const found = await accessMessage(tx, userId, messageId);
  if (found.message.deleted_at !== null) throw new AppError('MESSAGE_NOT_FOUND', 'Message not found');
  return found;
}
