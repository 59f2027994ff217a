import type { Db, Tx } from '../storage/database.js';
import type { PinRow } from '../storage/schema.js';

export async function insertPin(tx: Tx, row: PinRow): Promise<boolean> {
  const inserted = await tx
    .insertInto('pins')
    .values(row)
    .onConflict((conflict) => conflict.columns(['conversation_id', 'message_id']).doNothing())
    .returning('message_id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function deletePin(tx: Tx, conversationId: string, messageId: string): Promise<boolean> {
  const result = await tx.deleteFrom('pins').where('conversation_id', '=', conversationId).where('message_id', '=', messageId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function deletePinsOfMessage(tx: Tx, messageId: string): Promise<void> {
  await tx.deleteFrom('pins').where('message_id', '=', messageId).execute();
}

/** Pins of a conversation, oldest first. */
export function listPins(db: Db, conversationId: string): Promise<PinRow[]> {
  return db.selectFrom('pins').selectAll().where('conversation_id', '=', conversationId).orderBy('seq').execute();
}
