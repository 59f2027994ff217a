import { conversationStream } from '../../realtime/events.js';
import type { Db, Tx } from '../../storage/database.js';
import type { MessageRow } from '../../storage/schema.js';

/**
 * Slack message timestamps ("ts"). Slack names a message by a string such as
 * "1712345678.000123", unique within its channel, that clients compare as a
 * number and send back to address the message.
 *
 * An imported message keeps the ts it had in Slack (messages.slack_ts, unique
 * per conversation). Any other message gets `<seconds>.<seq mod 10^6>`: the
 * whole seconds of its creation time, then its sequence number in the
 * conversation's stream, zero-padded to six digits. Within a conversation the
 * seq is unique and increases with time, so the pair is unique and ordered
 * unless a million events of one conversation fall within one second. Reading
 * a ts back takes the seq candidates (the six digits plus multiples of 10^6,
 * up to the stream's head) from the (conversation, seq) index and keeps the
 * one created in that second, so no scan is needed.
 *
 * NOTE: seq and creation time come from different moments of the posting
 * transaction, so two posts racing at a second boundary can get ts values in
 * the opposite order of their seq. The API orders by seq everywhere. A
 * derived ts could also equal an imported message's ts from the same second,
 * and the imported message is then the one that ts finds.
 */

const SEQ_MODULUS = 1_000_000;
const TS_PATTERN = /^(\d{1,12})\.(\d{6})$/;

/** Returns a message's Slack ts. */
export function tsOf(message: Pick<MessageRow, 'slack_ts' | 'created_at' | 'seq'>): string {
  if (message.slack_ts != null) return message.slack_ts;
  const seconds = Math.floor(Number(message.created_at) / 1000);
  return `${seconds}.${String(Number(message.seq) % SEQ_MODULUS).padStart(6, '0')}`;
}

/** True for a string shaped like a Slack ts. */
export function isTs(value: string): boolean {
  return TS_PATTERN.test(value);
}

/** Converts a ts to Unix milliseconds, for `oldest` and `latest` bounds that name no message. */
export function tsToMillis(ts: string): number {
  return Math.floor(Number(ts) * 1000);
}

/** Finds the message of a conversation with this ts, or undefined. */
export async function findMessageByTs(db: Db | Tx, conversationId: string, ts: string): Promise<MessageRow | undefined> {
  const match = TS_PATTERN.exec(ts);
  if (match === null) return undefined;

  const imported = await db.selectFrom('messages').selectAll().where('conversation_id', '=', conversationId).where('slack_ts', '=', ts).executeTakeFirst();
  if (imported !== undefined) return imported;

  const seconds = Number(match[1]);
  const remainder = Number(match[2]);
  const head = await db.selectFrom('streams').select('last_seq').where('id', '=', conversationStream(conversationId)).executeTakeFirst();
  if (head === undefined) return undefined;
  const candidates: number[] = [];
  for (let seq = remainder; seq <= Number(head.last_seq); seq += SEQ_MODULUS) candidates.push(seq);
  if (candidates.length === 0) return undefined;

  return db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .where('seq', 'in', candidates)
    .where('slack_ts', 'is', null)
    .where('created_at', '>=', seconds * 1000)
    .where('created_at', '<', (seconds + 1) * 1000)
    .executeTakeFirst();
}
