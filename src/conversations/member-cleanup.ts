import { forgetThreadReads } from '../reads/post-hooks.js';
import { deleteSavedItemsOf } from '../saved/queries.js';
import type { Tx } from '../storage/database.js';

/**
 * Forgets a departing member's thread states and saved items of the
 * conversation. Clients drop the same on conversation.left. The read
 * position goes with the membership row.
 */
export async function forgetMemberState(tx: Tx, conversationId: string, userId: string): Promise<void> {
  await forgetThreadReads(tx, conversationId, userId);
  await deleteSavedItemsOf(tx, conversationId, userId);
}
