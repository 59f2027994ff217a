import type { CompiledQuery } from 'kysely';
import { enqueueJob, enqueueJobStatement } from '../jobs/queries.js';
import type { Tx } from '../storage/database.js';
import type { MessageRow } from '../storage/schema.js';
import { NOTIFY_MESSAGE_JOB, type NotifyMessagePayload } from './pipeline.js';

/**
 * Builds the statement that enqueues the notifications of a new message. The
 * caller runs it inside the posting transaction, so they are decided exactly
 * when the message was committed, even if the node stops right after, and
 * wakes the job runner after the commit.
 */
export function messageNotificationsStatement(tx: Tx, message: Pick<MessageRow, 'id'>, now: number): CompiledQuery {
  const payload: NotifyMessagePayload = { message_id: message.id, mode: 'post' };
  return enqueueJobStatement(tx, { kind: NOTIFY_MESSAGE_JOB, payload, dedupeKey: `notify:${message.id}` }, now);
}

/** Enqueues, inside the editing transaction, the notifications of mentions an edit added. */
export async function enqueueEditNotifications(tx: Tx, message: MessageRow, now: number): Promise<void> {
  const payload: NotifyMessagePayload = { message_id: message.id, mode: 'edit' };
  await enqueueJob(tx, { kind: NOTIFY_MESSAGE_JOB, payload, dedupeKey: `notify:${message.id}:edit:${now}` }, now);
}
