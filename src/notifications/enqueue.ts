import { enqueueJob } from '../jobs/queries.js';
import type { Tx } from '../storage/database.js';
import type { MessageRow } from '../storage/schema.js';
import { NOTIFY_MESSAGE_JOB, type NotifyMessagePayload } from './pipeline.js';

/**
 * Enqueues the notifications of a new message inside its posting
 * transaction, so they are decided exactly when the message was committed,
 * even if the node stops right after. The caller wakes the job runner after
 * the commit.
 */
export async function enqueueMessageNotifications(tx: Tx, message: MessageRow, now: number): Promise<void> {
  const payload: NotifyMessagePayload = { message_id: message.id, mode: 'post' };
  await enqueueJob(tx, { kind: NOTIFY_MESSAGE_JOB, payload, dedupeKey: `notify:${message.id}` }, now);
}

/** Enqueues, inside the editing transaction, the notifications of mentions an edit added. */
export async function enqueueEditNotifications(tx: Tx, message: MessageRow, now: number): Promise<void> {
  const payload: NotifyMessagePayload = { message_id: message.id, mode: 'edit' };
  await enqueueJob(tx, { kind: NOTIFY_MESSAGE_JOB, payload, dedupeKey: `notify:${message.id}:edit:${now}` }, now);
}
