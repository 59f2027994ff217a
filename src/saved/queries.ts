import type { Db, Tx } from '../storage/database.js';
import type { MessageRow, SavedItemRow } from '../storage/schema.js';

export async function insertSavedItem(tx: Tx, row: SavedItemRow): Promise<boolean> {
  const inserted = await tx
    .insertInto('saved_items')
    .values(row)
    .onConflict((conflict) => conflict.columns(['user_id', 'message_id']).doNothing())
    .returning('message_id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function deleteSavedItem(tx: Tx, userId: string, messageId: string): Promise<boolean> {
  const result = await tx.deleteFrom('saved_items').where('user_id', '=', userId).where('message_id', '=', messageId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function deleteSavedItemsOfMessage(tx: Tx, messageId: string): Promise<void> {
  await tx.deleteFrom('saved_items').where('message_id', '=', messageId).execute();
}

export async function deleteSavedItemsOf(tx: Tx, conversationId: string, userId: string): Promise<void> {
  await tx.deleteFrom('saved_items').where('conversation_id', '=', conversationId).where('user_id', '=', userId).execute();
}

/**
 * Lists the user's saved messages that they can still read, newest first:
 * live messages of conversations they belong to, in teams they belong to.
 */
export async function listSavedItems(db: Db, userId: string): Promise<Array<{ saved_at: number; message: MessageRow }>> {
  const rows = await db
    .selectFrom('saved_items as s')
    .innerJoin('messages as m', 'm.id', 's.message_id')
    .innerJoin('conversation_members as cm', (join) => join.onRef('cm.conversation_id', '=', 's.conversation_id').on('cm.user_id', '=', userId))
    .innerJoin('conversations as c', 'c.id', 's.conversation_id')
    .innerJoin('team_members as tm', (join) => join.onRef('tm.team_id', '=', 'c.team_id').on('tm.user_id', '=', userId))
    .selectAll('m')
    .select('s.saved_at')
    .where('s.user_id', '=', userId)
    .where('m.deleted_at', 'is', null)
    .orderBy('s.saved_at', 'desc')
    .orderBy('s.message_id')
    .execute();
  return rows.map(({ saved_at, ...message }) => ({ saved_at: Number(saved_at), message: message as MessageRow }));
}
