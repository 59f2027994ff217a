import { MAX_LIST_VALUES, PreparedListQuery } from '../storage/compiled-query.js';
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

/** Reads the reactions of up to 512 messages. Its columns are listed because PostgreSQL runs it as a named prepared statement. */
const reactionsOfQuery = new PreparedListQuery<string, ReactionRow>('', (db, messageIds) =>
  db
    .selectFrom('reactions')
    .select(['message_id', 'emoji', 'user_id', 'conversation_id', 'seq', 'created_at'])
    .where('message_id', 'in', messageIds)
    .orderBy('seq'),
);

/** Lists the reactions of many messages in the order they were added. Past 512 messages, that order is kept within each group of 512. */
export async function listReactionsOf(db: Db | Tx, messageIds: readonly string[]): Promise<ReactionRow[]> {
  if (messageIds.length === 0) return [];
  const rows: ReactionRow[] = [];
  for (let start = 0; start < messageIds.length; start += MAX_LIST_VALUES) {
    rows.push(...(await reactionsOfQuery.execute(db, messageIds.slice(start, start + MAX_LIST_VALUES))).rows);
  }
  return rows;
}
