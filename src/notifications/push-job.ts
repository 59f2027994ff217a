import { createHash } from 'node:crypto';
import { findSessionById, findUserById } from '../accounts/queries.js';
import { findConversation, isConversationMember } from '../conversations/queries.js';
import { PermanentJobError, RetryJobError, type RunningJob } from '../jobs/runner.js';
import { findMessage } from '../messages/queries.js';
import type { AppContext } from '../platform/context.js';
import { readAvailability } from '../presence/actions.js';
import { isDndActive } from '../presence/status.js';
import { countBadge } from '../reads/badge.js';
import { buildPayload, fitPushPayload } from './payload.js';
import type { NotifyPushPayload } from './pipeline.js';
import { deletePushSubscription, findPushSubscription, listMutedConversationIds, markPushSuccess } from './queries.js';
import type { PushSender } from './push/sender.js';

/** Time a push service keeps a push for a device that is offline. */
const PUSH_TTL_SECONDS = 24 * 3600;

/**
 * Sends one push to one device. Everything is read again at send time: a
 * subscription deleted or moved to another user, a session ended, a message
 * deleted, a recipient who left the conversation or entered do-not-disturb
 * since the decision ends the job without a push. The badge is counted now,
 * so it matches the read state when the push leaves. 404 and 410 delete the
 * subscription; 429, 5xx and network failures retry with backoff.
 *
 * A push whose send succeeded but whose job could not be marked done, because
 * the node stopped in between, runs again after the lease. The repeat has the
 * same Topic header, so the push service replaces the first if it is still
 * undelivered. It also has the same notification id, so the client replaces
 * a notification it already shows.
 */
export async function runPushJob(ctx: AppContext, senders: ReadonlyMap<string, PushSender>, job: RunningJob<NotifyPushPayload>): Promise<void> {
  const db = ctx.storage.db;
  const { message_id: messageId, user_id: userId, subscription_id: subscriptionId, reason } = job.payload;
  const subscription = await findPushSubscription(db, subscriptionId);
  if (subscription === undefined || subscription.user_id !== userId) return;

  const now = ctx.now();
  const session = await findSessionById(db, subscription.session_id);
  if (session === undefined || Number(session.expires_at) <= now) {
    await deletePushSubscription(db, subscription.id);
    job.log.info({ subscriptionId, userId }, 'push subscription deleted: its session ended');
    return;
  }

  const message = await findMessage(db, messageId);
  if (message === undefined || message.deleted_at !== null) return;
  if (!(await isConversationMember(db, message.conversation_id, userId))) return;
  const settings = (await readAvailability(ctx, [userId])).get(userId)?.settings;
  if (settings !== undefined && isDndActive(settings, now)) return;

  const conversation = await findConversation(db, message.conversation_id);
  const author = await findUserById(db, message.author_id);
  const sender = senders.get(subscription.kind);
  if (conversation === undefined || author === undefined) return;
  if (sender === undefined) throw new PermanentJobError(`no push sender of kind ${subscription.kind} on this node`);

  // TODO: a message the user read on another device after the decision is still pushed (with the lower badge).
  const badge = await countBadge(db, userId, await listMutedConversationIds(db, userId));
  const payload = fitPushPayload({ ...buildPayload(message, conversation, author, reason), badge });
  const result = await sender.send(subscription, {
    payload,
    urgency: reason === 'message' || reason === 'thread' ? 'normal' : 'high',
    topic: createHash('sha256').update(message.id).digest('base64url').slice(0, 22),
    ttlSeconds: PUSH_TTL_SECONDS,
  });

  switch (result.outcome) {
    case 'delivered':
      await markPushSuccess(db, subscription.id, ctx.now());
      job.log.info({ subscriptionId, userId, messageId, kind: subscription.kind, badge }, 'push sent');
      return;
    case 'gone':
      await deletePushSubscription(db, subscription.id);
      job.log.info({ subscriptionId, userId, detail: result.detail }, 'push subscription deleted: the device is gone');
      return;
    case 'retry':
      if (result.retryAfterMs !== undefined) throw new RetryJobError(result.detail, result.retryAfterMs);
      throw new Error(result.detail);
    case 'rejected':
      throw new PermanentJobError(result.detail);
  }
}
