import type { Auth } from '../accounts/actions.js';
import { accessConversation } from '../conversations/access.js';
import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { getOwnPresence, updateAvailability } from '../presence/actions.js';
import type { DndSchedule } from '../presence/status.js';
import { countBadge } from '../reads/badge.js';
import type { PushSubscriptionRow } from '../storage/schema.js';
import { DEFAULT_LEVEL, parseLevel, type NotificationLevel } from './decide.js';
import {
  countPushSubscriptions,
  deletePushSubscription,
  findConversationNotification,
  findNotificationPreferences,
  findPushSubscriptionByEndpoint,
  insertPushSubscription,
  listMutedConversationIds,
  listPushSubscriptions,
  replacePushSubscription,
  upsertConversationNotification,
  upsertNotificationPreferences,
} from './queries.js';
import type { RegisterPushBody, UpdateConversationNotificationsBody, UpdatePreferencesBody } from './schemas.js';
import type { NotificationService } from './service.js';

export interface PreferencesResult {
  level: NotificationLevel;
  keywords: string[];
  dndUntil: number | null;
  dndSchedule: DndSchedule | null;
  timeZone: string;
}

export async function getPreferences(ctx: AppContext, auth: Auth): Promise<PreferencesResult> {
  const row = await findNotificationPreferences(ctx.storage.db, auth.user.id);
  const own = await getOwnPresence(ctx, auth);
  return {
    level: parseLevel(row?.level) ?? DEFAULT_LEVEL,
    keywords: row === undefined ? [] : (JSON.parse(row.keywords) as string[]),
    dndUntil: own.dndUntil,
    dndSchedule: own.dndSchedule,
    timeZone: own.timeZone,
  };
}

/** Changes the caller's level, keywords and do-not-disturb settings; keywords are trimmed and kept once regardless of case. */
export async function updatePreferences(ctx: AppContext, auth: Auth, body: UpdatePreferencesBody): Promise<PreferencesResult> {
  const changes: { level?: string; keywords?: string } = {};
  if (body.level !== undefined) changes.level = body.level;
  if (body.keywords !== undefined) {
    const seen = new Set<string>();
    const keywords = body.keywords.map((keyword) => keyword.trim()).filter((keyword) => {
      const key = keyword.toLocaleLowerCase();
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    changes.keywords = JSON.stringify(keywords);
  }
  if (Object.keys(changes).length > 0) {
    await upsertNotificationPreferences(ctx.storage.db, auth.user.id, changes, { level: DEFAULT_LEVEL, keywords: '[]' }, ctx.now());
    ctx.logger.info({ component: 'notifications', userId: auth.user.id, fields: Object.keys(changes) }, 'notification preferences changed');
  }
  await updateAvailability(ctx, auth, { dnd_until: body.dnd_until, dnd_schedule: body.dnd_schedule });
  return getPreferences(ctx, auth);
}

export interface ConversationNotificationsResult {
  conversationId: string;
  level: NotificationLevel | null;
  muted: boolean;
  effectiveLevel: NotificationLevel;
}

/** Reads the caller's settings for a conversation they are a member of. */
export async function getConversationNotifications(ctx: AppContext, auth: Auth, conversationId: string): Promise<ConversationNotificationsResult> {
  await accessConversation(ctx.storage.db, conversationId, auth.user.id, 'member');
  const [row, preferences] = await Promise.all([
    findConversationNotification(ctx.storage.db, auth.user.id, conversationId),
    findNotificationPreferences(ctx.storage.db, auth.user.id),
  ]);
  const level = parseLevel(row?.level) ?? null;
  return {
    conversationId,
    level,
    muted: row?.muted === 1,
    effectiveLevel: level ?? parseLevel(preferences?.level) ?? DEFAULT_LEVEL,
  };
}

/** Overrides the caller's level in a conversation, or mutes it; only members may. */
export async function updateConversationNotifications(
  ctx: AppContext,
  auth: Auth,
  conversationId: string,
  body: UpdateConversationNotificationsBody,
): Promise<ConversationNotificationsResult> {
  await accessConversation(ctx.storage.db, conversationId, auth.user.id, 'member');
  const changes: { level?: string | null; muted?: number } = {};
  if (body.level !== undefined) changes.level = body.level;
  if (body.muted !== undefined) changes.muted = body.muted ? 1 : 0;
  await upsertConversationNotification(ctx.storage.db, auth.user.id, conversationId, changes, ctx.now());
  ctx.logger.info({ component: 'notifications', userId: auth.user.id, conversationId, fields: Object.keys(changes) }, 'conversation notification settings changed');
  return getConversationNotifications(ctx, auth, conversationId);
}

/** Counts the caller's badge: the number a push carries, from the same read state as the sidebar. */
export async function getBadge(ctx: AppContext, auth: Auth): Promise<number> {
  return countBadge(ctx.storage.db, auth.user.id, await listMutedConversationIds(ctx.storage.db, auth.user.id));
}

/**
 * Registers a device for push notifications under the caller's session, or
 * renews a known one. A device registered before by another account moves to
 * the caller, because one browser profile or app install has one endpoint.
 * Returns the row and whether it is new.
 */
export async function registerPushSubscription(
  ctx: AppContext,
  notifications: NotificationService,
  auth: Auth,
  body: RegisterPushBody,
  userAgent: string | undefined,
): Promise<{ subscription: PushSubscriptionRow; created: boolean }> {
  const kind = body.kind ?? 'webpush';
  const sender = notifications.senders.get(kind);
  if (sender === undefined) {
    throw new AppError('VALIDATION_FAILED', `kind must be one of ${[...notifications.senders.keys()].join(', ')}`, { field: 'kind' });
  }
  await sender.validate({ kind, endpoint: body.endpoint, keys: body.keys });

  const db = ctx.storage.db;
  const fields = {
    user_id: auth.user.id,
    session_id: auth.session.id,
    p256dh: body.keys?.p256dh ?? null,
    auth: body.keys?.auth ?? null,
    vapid_public_key: kind === 'webpush' ? notifications.vapidPublicKey : null,
    user_agent: userAgent?.slice(0, 256) ?? null,
  };
  const existing = await findPushSubscriptionByEndpoint(db, kind, body.endpoint);
  if (existing !== undefined) {
    await replacePushSubscription(db, existing.id, fields);
    if (existing.user_id !== auth.user.id) ctx.logger.info({ component: 'push', subscriptionId: existing.id, userId: auth.user.id }, 'push subscription moved to another user');
    return { subscription: { ...existing, ...fields }, created: false };
  }

  const max = ctx.config.push.maxSubscriptionsPerUser;
  if ((await countPushSubscriptions(db, auth.user.id)) >= max) {
    throw new AppError('PUSH_SUBSCRIPTION_LIMIT', `A user may register at most ${max} push subscriptions; delete one first`, { max });
  }
  const subscription: PushSubscriptionRow = { id: newId(), kind, endpoint: body.endpoint, created_at: ctx.now(), last_success_at: null, ...fields };
  try {
    await insertPushSubscription(db, subscription);
  } catch (error) {
    // Another request registered the same device at the same moment, so its row is kept and updated.
    if (!ctx.storage.dialect.isUniqueViolation(error)) throw error;
    return registerPushSubscription(ctx, notifications, auth, body, userAgent);
  }
  ctx.logger.info({ component: 'push', subscriptionId: subscription.id, userId: auth.user.id, kind }, 'push subscription registered');
  return { subscription, created: true };
}

export function listOwnPushSubscriptions(ctx: AppContext, auth: Auth): Promise<PushSubscriptionRow[]> {
  return listPushSubscriptions(ctx.storage.db, auth.user.id);
}

/** Deletes one of the caller's subscriptions; another user's raises NOT_FOUND, as a missing one does. */
export async function deleteOwnPushSubscription(ctx: AppContext, auth: Auth, subscriptionId: string): Promise<void> {
  if (!(await deletePushSubscription(ctx.storage.db, subscriptionId, auth.user.id))) {
    throw new AppError('NOT_FOUND', 'Push subscription not found');
  }
  ctx.logger.info({ component: 'push', subscriptionId, userId: auth.user.id }, 'push subscription deleted by its owner');
}
