import type { Auth } from '../accounts/actions.js';
import { accessMessage } from '../messages/actions.js';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { userStream } from '../realtime/events.js';
import { deleteSavedItem, insertSavedItem } from './queries.js';

/**
 * Saves a message for the caller alone, so only their own devices get the
 * event. The caller must belong to the conversation, and leaving it deletes the item.
 */
export async function saveMessage(ctx: AppContext, auth: Auth, messageId: string): Promise<void> {
  await commitWithEvents(ctx, async (tx, events, now) => {
    const { message, access } = await accessMessage(tx, auth.user.id, messageId);
    if (message.deleted_at !== null) throw new AppError('MESSAGE_NOT_FOUND', 'Message not found');
    if (!access.isMember) throw new AppError('NOT_IN_CONVERSATION', 'Join the channel first');
    const row = { user_id: auth.user.id, message_id: message.id, conversation_id: message.conversation_id, saved_at: now };
    if (!(await insertSavedItem(tx, row))) return;
    await events.append(userStream(auth.user.id), 'message.saved', {
      message_id: message.id,
      conversation_id: message.conversation_id,
      saved_at: new Date(now).toISOString(),
    });
  });
}

/** Removes a saved item; removing one that is not saved is not an error. */
export async function unsaveMessage(ctx: AppContext, auth: Auth, messageId: string): Promise<void> {
  await commitWithEvents(ctx, async (tx, events) => {
    const { message } = await accessMessage(tx, auth.user.id, messageId);
    if (!(await deleteSavedItem(tx, auth.user.id, message.id))) return;
    await events.append(userStream(auth.user.id), 'message.unsaved', { message_id: message.id, conversation_id: message.conversation_id });
  });
}
