import { Type } from '@sinclair/typebox';
import { ConversationParams } from '../conversations/schemas.js';
import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import { NoContent, toIso } from '../http/schemas.js';
import type { AppContext } from '../platform/context.js';
import {
  deleteOwnPushSubscription,
  getBadge,
  getConversationNotifications,
  getPreferences,
  listOwnPushSubscriptions,
  registerPushSubscription,
  updateConversationNotifications,
  updatePreferences,
  type ConversationNotificationsResult,
  type PreferencesResult,
} from './actions.js';
import {
  ConversationNotifications,
  Preferences,
  presentSubscription,
  PushSubscriptionView,
  RegisterPushBody,
  SubscriptionParams,
  UpdateConversationNotificationsBody,
  UpdatePreferencesBody,
} from './schemas.js';
import type { NotificationService } from './service.js';

export function registerNotificationRoutes(app: App, ctx: AppContext, notifications: NotificationService): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['notifications'];

  app.get('/api/notifications/preferences', { ...authenticated, schema: { tags, response: { 200: Preferences } } }, async (request) =>
    presentPreferences(await getPreferences(ctx, callerOf(request))),
  );

  app.patch(
    '/api/notifications/preferences',
    { ...authenticated, schema: { tags, body: UpdatePreferencesBody, response: { 200: Preferences } } },
    async (request) => presentPreferences(await updatePreferences(ctx, callerOf(request), request.body)),
  );

  app.get(
    '/api/conversations/:conversationId/notifications',
    { ...authenticated, schema: { tags, params: ConversationParams, response: { 200: ConversationNotifications } } },
    async (request) => presentConversation(await getConversationNotifications(ctx, callerOf(request), request.params.conversationId)),
  );

  app.put(
    '/api/conversations/:conversationId/notifications',
    { ...authenticated, schema: { tags, params: ConversationParams, body: UpdateConversationNotificationsBody, response: { 200: ConversationNotifications } } },
    async (request) => presentConversation(await updateConversationNotifications(ctx, callerOf(request), request.params.conversationId, request.body)),
  );

  app.get('/api/notifications/badge', { ...authenticated, schema: { tags, response: { 200: Type.Object({ badge: Type.Integer() }) } } }, async (request) => ({
    badge: await getBadge(ctx, callerOf(request)),
  }));

  app.get(
    '/api/push/vapid-public-key',
    { ...authenticated, schema: { tags, response: { 200: Type.Object({ public_key: Type.String({ description: 'applicationServerKey for PushManager.subscribe, base64url' }) }) } } },
    async () => ({ public_key: notifications.vapidPublicKey }),
  );

  app.post(
    '/api/push/subscriptions',
    { ...authenticated, schema: { tags, body: RegisterPushBody, response: { 200: PushSubscriptionView, 201: PushSubscriptionView } } },
    async (request, reply) => {
      const { subscription, created } = await registerPushSubscription(ctx, notifications, callerOf(request), request.body, request.headers['user-agent']);
      return reply.status(created ? 201 : 200).send(presentSubscription(subscription));
    },
  );

  app.get(
    '/api/push/subscriptions',
    { ...authenticated, schema: { tags, response: { 200: Type.Object({ subscriptions: Type.Array(PushSubscriptionView) }) } } },
    async (request) => ({ subscriptions: (await listOwnPushSubscriptions(ctx, callerOf(request))).map(presentSubscription) }),
  );

  app.delete(
    '/api/push/subscriptions/:subscriptionId',
    { ...authenticated, schema: { tags, params: SubscriptionParams, response: NoContent } },
    async (request, reply) => {
      await deleteOwnPushSubscription(ctx, callerOf(request), request.params.subscriptionId);
      return reply.status(204).send();
    },
  );
}

function presentPreferences(result: PreferencesResult) {
  return {
    level: result.level,
    keywords: result.keywords,
    dnd_until: toIso(result.dndUntil),
    dnd_schedule: result.dndSchedule,
    time_zone: result.timeZone,
  };
}

function presentConversation(result: ConversationNotificationsResult) {
  return { conversation_id: result.conversationId, level: result.level, muted: result.muted, effective_level: result.effectiveLevel };
}
