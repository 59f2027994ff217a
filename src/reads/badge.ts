import type { Db } from '../storage/database.js';
import { buildConversationCountsQuery } from './queries.js';

/**
 * Counts the badge of a user's app icon from the sidebar's read state:
 * unread messages of direct and group messages plus unread mentions in
 * channels, over the conversations not in `muted`. Each conversation
 * contributes at most its capped count (100), exactly as GET /api/sidebar
 * shows it, so the badge and the sidebar agree.
 */
export async function countBadge(db: Db, userId: string, muted: ReadonlySet<string>): Promise<number> {
  const rows = await buildConversationCountsQuery(db, userId).select('c.kind').execute();
  let badge = 0;
  for (const row of rows) {
    if (muted.has(row.conversation_id)) continue;
    badge += row.kind === 'dm' || row.kind === 'group' ? Number(row.unread_count ?? 0) : Number(row.mention_count ?? 0);
  }
  return badge;
}
