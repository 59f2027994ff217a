import type { CompiledQuery } from 'kysely';
import { enqueueJob, enqueueJobStatement } from '../jobs/queries.js';
import type { Tx } from '../storage/database.js';
import type { MentionEntity } from '../mentions/entities.js';
import type { ConversationRow, MessageRow } from '../storage/schema.js';
import { NOTIFY_MESSAGE_JOB, type NotifyMessagePayload } from './pipeline.js';

/**
 * Decides whether a new message can notify anyone, by the candidate rules of runMessagePipeline:
 * DMs and group DMs, mentions, thread replies (for followers), and channel members notified of
 * every message. A plain channel message where no member is notified of every message then costs
 * no notification job. `memberNotifiedOfAll` comes from the post's access check
 * (accessConversationToPost), so preferences are read when the message is posted, not when the
 * job would have run, a few milliseconds later.
 */
export function mayNotify(
  message: Pick<MessageRow, 'root_id'>,
  conversation: Pick<ConversationRow, 'kind'>,
  mentions: readonly MentionEntity[],
  memberNotifiedOfAll: boolean,
): boolean {
  if (conversation.kind === 'dm' || conversation.kind === 'group') return true;
  if (mentions.length > 0 || message.root_id !== null) return true;
  return memberNotifiedOfAll;
}

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
