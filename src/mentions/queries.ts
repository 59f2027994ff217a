import type { Db, Tx } from '../storage/database.js';
import type { MessageMentionRow } from '../storage/schema.js';
import { usernameKey } from '../accounts/queries.js';

/** Finds members of a team by username, compared as registration compares them (NFKC, lowercase). */
export async function findTeamUsersByUsername(
  db: Db | Tx,
  teamId: string,
  usernames: readonly string[],
): Promise<Map<string, { id: string; username: string }>> {
  const found = new Map<string, { id: string; username: string }>();
  const keys = [...new Set(usernames.map(usernameKey))];
  if (keys.length === 0) return found;
  const rows = await db
    .selectFrom('users as u')
    .innerJoin('team_members as tm', (join) => join.onRef('tm.user_id', '=', 'u.id').on('tm.team_id', '=', teamId))
    .select(['u.id', 'u.username', 'u.username_key'])
    .where('u.username_key', 'in', keys)
    .execute();
  for (const row of rows) found.set(row.username_key, { id: row.id, username: row.username });
  return found;
}

export async function insertMentionRows(tx: Tx, rows: MessageMentionRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.insertInto('message_mentions').values(rows).execute();
}

export async function deleteMentionRows(tx: Tx, messageId: string): Promise<void> {
  await tx.deleteFrom('message_mentions').where('message_id', '=', messageId).execute();
}
