import { findUserById } from '../accounts/queries.js';
import { findConversation } from '../conversations/queries.js';
import { enqueueJob } from '../jobs/queries.js';
import type { RunningJob } from '../jobs/runner.js';
import { entitiesOf } from '../mentions/entities.js';
import { findMessage } from '../messages/queries.js';
import type { AppContext } from '../platform/context.js';
import { readAvailability } from '../presence/actions.js';
import { isDndActive } from '../presence/status.js';
import { userStream } from '../realtime/events.js';
import type { Tx } from '../storage/database.js';
import type { ConversationRow, MessageRow } from '../storage/schema.js';
import { decide, DEFAULT_LEVEL, matchesKeyword, MENTION_REASONS, parseLevel, type Decision, type Reason } from './decide.js';
import { buildPayload, type NotificationPayload } from './payload.js';
import { findNotifiedMentions, insertNotifiedMentions, listMemberSettings, listPushSubscriptionsOf, listThreadFollowers, type MemberSettingsRow } from './queries.js';

export const NOTIFY_MESSAGE_JOB = 'notify.message';
export const NOTIFY_PUSH_JOB = 'notify.push';

export interface NotifyMessagePayload {
  message_id: string;
  /** 'post' notifies of a new message; 'edit' only of mentions the edit added. */
  mode: 'post' | 'edit';
}

export interface NotifyPushPayload {
  message_id: string;
  user_id: string;
  subscription_id: string;
  reason: Reason;
}

interface Candidate {
  userId: string;
  reasons: Set<Reason>;
  settings: MemberSettingsRow;
}

/** The row id that records the broadcast of a message (@channel, @here, @team) as notified. */
const BROADCAST_ROW = '';

/**
 * Decides and delivers the notifications of one stored message, in the
 * order recipients, preferences, mute, do-not-disturb, presence, delivery.
 * Socket notifications are sent at once. Each push is a job of its own,
 * keyed by message and device, and enqueued in the transaction that records
 * which mentions were notified. So a repeated run never enqueues a push
 * twice and never notifies a mention twice. Socket notifications of plain
 * messages can repeat in a repeated run, and clients replace them by id.
 */
export async function runMessagePipeline(ctx: AppContext, job: RunningJob<NotifyMessagePayload>): Promise<void> {
  const db = ctx.storage.db;
  const message = await findMessage(db, job.payload.message_id);
  if (message === undefined || message.deleted_at !== null) return;
  const conversation = await findConversation(db, message.conversation_id);
  const author = await findUserById(db, message.author_id);
  if (conversation === undefined || author === undefined) return;

  const candidates = await collectCandidates(ctx, message, conversation, job.payload.mode);
  if (candidates.length === 0) return;
  const userIds = candidates.map((candidate) => candidate.userId);
  const now = ctx.now();
  const [availability, delivery] = await Promise.all([readAvailability(ctx, userIds), ctx.presence.presence.deliveryStates(userIds)]);

  const socketDeliveries: Array<{ userId: string; reason: Reason }> = [];
  let pushes = 0;
  await db.transaction().execute(async (tx) => {
    const fresh = await keepFreshMentions(tx, message, candidates, job.payload.mode);
    const pushReasons = new Map<string, Reason>();
    for (const candidate of fresh) {
      const state = delivery.get(candidate.userId) ?? { connected: false, active: false };
      const settings = availability.get(candidate.userId)?.settings;
      const decision: Decision = decide({
        reasons: candidate.reasons,
        level: parseLevel(candidate.settings.conversation_level) ?? parseLevel(candidate.settings.user_level) ?? DEFAULT_LEVEL,
        muted: candidate.settings.muted === 1,
        dnd: settings !== undefined && isDndActive(settings, now),
        connected: state.connected,
        active: state.active,
      });
      if (!decision.notify) continue;
      if (decision.socket) socketDeliveries.push({ userId: candidate.userId, reason: decision.reason });
      if (decision.push) pushReasons.set(candidate.userId, decision.reason);
    }

    const subscriptions = pushReasons.size === 0 ? [] : await listPushSubscriptionsOf(tx, [...pushReasons.keys()]);
    for (const subscription of subscriptions) {
      const reason = pushReasons.get(subscription.user_id);
      if (reason === undefined) continue;
      const payload: NotifyPushPayload = { message_id: message.id, user_id: subscription.user_id, subscription_id: subscription.id, reason };
      if (await enqueueJob(tx, { kind: NOTIFY_PUSH_JOB, payload, dedupeKey: `push:${message.id}:${subscription.id}` }, now)) pushes += 1;
    }
  });

  for (const { userId, reason } of socketDeliveries) {
    const notification: NotificationPayload = buildPayload(message, conversation, author, reason);
    ctx.signals.publish(userStream(userId), Buffer.from(JSON.stringify({ type: 'notification', notification })));
  }
  if (pushes > 0) ctx.jobs.poke();
  job.log.debug({ messageId: message.id, candidates: candidates.length, sockets: socketDeliveries.length, pushes }, 'notifications decided');
}

/**
 * Finds who a message concerns and why; docs/notifications.md has the table.
 * A direct or group message concerns every member. A broadcast concerns
 * every member, or in a thread reply the thread's followers. A reply
 * concerns its thread's followers, and a channel message the members whose
 * level is 'all'. Any message concerns the members it names or whose
 * keywords it contains. The author is never a recipient, and an edit keeps
 * only mention reasons.
 */
async function collectCandidates(ctx: AppContext, message: MessageRow, conversation: ConversationRow, mode: 'post' | 'edit'): Promise<Candidate[]> {
  const db = ctx.storage.db;
  const mentions = entitiesOf(message).mentions;
  const named = new Set(mentions.flatMap((entity) => (entity.type === 'user' ? [entity.user_id] : [])));
  named.delete(message.author_id);
  const broadcast = mentions.some((entity) => entity.type === 'channel' || entity.type === 'team');
  const here = mentions.some((entity) => entity.type === 'here');
  const isDirect = conversation.kind === 'dm' || conversation.kind === 'group';
  const inTimeline = message.root_id === null || Number(message.also_in_channel) === 1;
  const followers = new Set(message.root_id === null ? [] : await listThreadFollowers(db, message.root_id));
  const reachesEveryone = isDirect || ((broadcast || here) && inTimeline);

  const rows = reachesEveryone
    ? await listMemberSettings(db, conversation.id, message.author_id)
    : await listMemberSettings(db, conversation.id, message.author_id, { userIds: [...named, ...followers] });

  const candidates: Candidate[] = [];
  for (const row of rows) {
    const reasons = new Set<Reason>();
    const follows = followers.has(row.user_id);
    if (named.has(row.user_id)) reasons.add('mention');
    const keywords = row.keywords === null ? [] : (JSON.parse(row.keywords) as string[]);
    if (keywords.length > 0 && matchesKeyword(message.text, keywords)) reasons.add('keyword');
    if (isDirect) reasons.add('dm');
    if (broadcast && (inTimeline || follows)) reasons.add('broadcast');
    if (here && (inTimeline || follows)) reasons.add('here');
    if (follows) reasons.add('thread');
    if (inTimeline) reasons.add('message');
    if (mode === 'edit') for (const reason of reasons) if (!MENTION_REASONS.has(reason)) reasons.delete(reason);
    if (reasons.size > 0) candidates.push({ userId: row.user_id, reasons, settings: row });
  }
  return candidates;
}

/**
 * Records the mentions about to be notified in this transaction and drops
 * those recorded before. The primary key of notified_mentions lets one
 * insert per user and message succeed, so a mention notifies once whatever
 * the number of edits or repeated runs. After a post, named and keyword
 * mentions are recorded per user and a broadcast once per message. A
 * recipient whose mention was recorded already is left out entirely, since
 * an earlier run handled them. After an edit, a broadcast recorded before
 * covered every member. Otherwise each recipient is recorded per user and
 * notified only the first time.
 */
async function keepFreshMentions(tx: Tx, message: MessageRow, candidates: Candidate[], mode: 'post' | 'edit'): Promise<Candidate[]> {
  const hasBroadcast = candidates.some((candidate) => candidate.reasons.has('broadcast') || candidate.reasons.has('here'));
  if (mode === 'edit') {
    if (await wasBroadcast(tx, message.id)) return [];
    if (hasBroadcast) await insertNotifiedMentions(tx, message.id, [BROADCAST_ROW]);
    const inserted = await insertNotifiedMentions(tx, message.id, candidates.map((candidate) => candidate.userId));
    return candidates.filter((candidate) => inserted.has(candidate.userId));
  }

  const personal = candidates.filter((candidate) => candidate.reasons.has('mention') || candidate.reasons.has('keyword')).map((candidate) => candidate.userId);
  const inserted = await insertNotifiedMentions(tx, message.id, hasBroadcast ? [...personal, BROADCAST_ROW] : personal);
  const broadcastFresh = inserted.has(BROADCAST_ROW);
  return candidates.filter((candidate) => {
    const personalRepeat = (candidate.reasons.has('mention') || candidate.reasons.has('keyword')) && !inserted.has(candidate.userId);
    const broadcastRepeat = (candidate.reasons.has('broadcast') || candidate.reasons.has('here')) && !broadcastFresh;
    return !personalRepeat && !broadcastRepeat;
  });
}

async function wasBroadcast(tx: Tx, messageId: string): Promise<boolean> {
  return (await findNotifiedMentions(tx, messageId, [BROADCAST_ROW])).size > 0;
}
