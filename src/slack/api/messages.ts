import { presentMessages } from '../../messages/present.js';
import type { Db } from '../../storage/database.js';
import type { MessageRow } from '../../storage/schema.js';
import { tsOf } from './ts.js';
import { presentSlackMessage } from './present.js';

/**
 * Presents stored messages as Slack message objects, with their reactions,
 * files, the ts of their thread roots and whether their authors are bots.
 * `baseUrl` is this server's origin, which makes the files' URLs absolute.
 */
export async function presentSlackMessages(db: Db, rows: readonly MessageRow[], baseUrl: string): Promise<Array<Record<string, unknown>>> {
  if (rows.length === 0) return [];
  const views = await presentMessages(db, rows);
  const rootIds = [...new Set(rows.flatMap((row) => (row.root_id === null ? [] : [row.root_id])))];
  const roots = rootIds.length === 0 ? [] : await db.selectFrom('messages').select(['id', 'created_at', 'seq', 'slack_ts']).where('id', 'in', rootIds).execute();
  const rootTs = new Map(roots.map((root) => [root.id, tsOf(root)]));
  const authorIds = [...new Set(rows.map((row) => row.author_id))];
  const bots = await db.selectFrom('users').select('id').where('id', 'in', authorIds).where('is_bot', '=', 1).execute();
  const botIds = new Set(bots.map((bot) => bot.id));

  return rows.map((row, index) =>
    presentSlackMessage(row, views[index]!, row.root_id === null ? undefined : rootTs.get(row.root_id), botIds.has(row.author_id), baseUrl),
  );
}

export async function presentSlackMessageOne(db: Db, row: MessageRow, baseUrl: string): Promise<Record<string, unknown>> {
  const [message] = await presentSlackMessages(db, [row], baseUrl);
  return message!;
}
