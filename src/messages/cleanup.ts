import { forgetMentions } from '../mentions/resolve.js';
import { deletePinsOfMessage } from '../pins/queries.js';
import { deleteReactionsOf } from '../reactions/queries.js';
import { deleteSavedItemsOfMessage } from '../saved/queries.js';
import type { Tx } from '../storage/database.js';
import { forgetVersions } from './versions.js';
import { unindexMessage } from '../search/indexing.js';

/**
 * Removes what hangs off a deleted message: mentions (so counts drop),
 * reactions, pins, saved items, earlier texts and its search document.
 * Clients drop the same on message.deleted, so no further events are needed.
 */
export async function forgetMessageExtras(tx: Tx, messageId: string): Promise<void> {
  await forgetMentions(tx, messageId);
  await deleteReactionsOf(tx, messageId);
  await deletePinsOfMessage(tx, messageId);
  await deleteSavedItemsOfMessage(tx, messageId);
  await forgetVersions(tx, messageId);
  await unindexMessage(tx, messageId);
}
