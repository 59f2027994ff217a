import { listReactionsOf } from '../reactions/queries.js';
import { groupReactions } from '../reactions/schemas.js';
import type { Db } from '../storage/database.js';
import type { MessageRow } from '../storage/schema.js';
import { presentMessage, type Message } from './schemas.js';
import { presentFilesOfMessages } from '../files/present.js';

/** Presents messages for an HTTP response, with their reactions and files (a deleted message has neither). */
export async function presentMessages(db: Db, rows: readonly MessageRow[]): Promise<Message[]> {
  const live = rows.filter((row) => row.deleted_at === null).map((row) => row.id);
  const reactions = groupReactions(await listReactionsOf(db, live));
  const files = await presentFilesOfMessages(db, live);
  return rows.map((row) => {
    const message = presentMessage(row);
    message.reactions = reactions.get(row.id) ?? [];
    message.files = files.get(row.id) ?? [];
    return message;
  });
}

export async function presentOneMessage(db: Db, row: MessageRow): Promise<Message> {
  const [message] = await presentMessages(db, [row]);
  return message!;
}
