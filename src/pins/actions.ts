import type { Auth } from '../accounts/actions.js';
import { accessConversation } from '../conversations/access.js';
import { accessMessage } from '../messages/actions.js';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { conversationStream } from '../realtime/events.js';
import type { Tx } from '../storage/database.js';
import { deletePin, insertPin } from './queries.js';

async function accessPinnable(tx: Tx, userId: string, messageId: string) {
  const { message } = await accessMessage(tx, userId, messageId);
  if (message.deleted_at !== null) throw new AppError('MESSAGE_NOT_FOUND', 'Message not found');
  await accessConversation(tx, message.conversation_id, userId, 'write');
  return message;
}

/** Pins a message to its conversation: any member may. Pinning a pinned message changes nothing. */
export async function pinMessage(ctx: AppContext, auth: Auth, messageId: string): Promise<void> {
  await commitWithEvents(ctx, async (tx, events, now) => {
    const message = await accessPinnable(tx, auth.user.id, messageId);
    const existing = await tx.selectFrom('pins').select('message_id').where('conversation_id', '=', message.conversation_id).where('message_id', '=', message.id).executeTakeFirst();
    if (existing !== undefined) return;
    await events.append(conversationStream(message.conversation_id), 'message.pinned', async (seq) => {
      await insertPin(tx, { conversation_id: message.conversation_id, message_id: message.id, pinned_by: auth.user.id, seq, pinned_at: now });
      return { message_id: message.id, pinned_by: auth.user.id, pinned_at: new Date(now).toISOString() };
    });
  });
}

/** Unpins a message: any member may. */
export async function unpinMessage(ctx: AppContext, auth: Auth, messageId: string): Promise<void> {
  await commitWithEvents(ctx, async (tx, events) => {
    const message = await accessPinnable(tx, auth.user.id, messageId);
    if (!(await deletePin(tx, message.conversation_id, message.id))) return;
    await events.append(conversationStream(message.conversation_id), 'message.unpinned', { message_id: message.id });
  });
}
