import type { Db, Tx } from '../storage/database.js';
import type { ReactionRow } from '../storage/schema.js';

/** Inserts a reaction unless the user already reacted with that emoji; returns true when it inserted. */
export async function insertReaction(tx: Tx, row: ReactionRow): Promise<boolean> {
  const inserted = await tx
    .insertInto('reactions')
    .values(row)
    .onConflict((conflict) => conflict.columns(['message_id', 'emoji', 'user_id']).doNothing())
    .returning('user_id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function deleteReaction(tx: Tx, messageId: string, emoji: string, userId: string): Promise<boolean> {
  const result = await tx
    .deleteFrom('reactions')
    .where('message_id', '=', messageId)
    .where('emoji', '=', emoji)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function deleteReactionsOf(tx: Tx, messageId: string): Promise<void> {
  await tx.deleteFrom('reactions').where('message_id', '=', messageId).execute();
}

/** Reactions of many messages, in the order they were added. */
export async function listReactionsOf(db: Db | Tx, messageIds: readonly string[]): Promise<ReactionRow[]> {
  const rows: ReactionRow[] = [];
  // SQLite allows at most 32766 bound parameters; pages of history hold at most a few hundred ids.
  for (let start = 0; start < messageIds.length; start += 500) {
    const chunk = messageIds.slice(start, start + 500);
    rows.push(...(await db.selectFrom('reactions').selectAll().where('message_id', 'in', chunk).orderBy('seq').execute()));
  }
  return rows;
}
