import { Type, type Static } from '@sinclair/typebox';
import { Id, IsoTime, toIso } from '../http/schemas.js';
import { AvailabilityChanges, DndScheduleSchema } from '../presence/schemas.js';
import type { PushSubscriptionRow } from '../storage/schema.js';

/** Keywords one user may set. */
export const MAX_KEYWORDS = 50;
export const MAX_KEYWORD_LENGTH = 64;

const Level = Type.Union([Type.Literal('all'), Type.Literal('mentions'), Type.Literal('none')], {
  description: '"all" messages, "mentions" (mentions, keywords, direct messages and followed threads) or "none"',
});

const Keyword = Type.String({ minLength: 1, maxLength: MAX_KEYWORD_LENGTH, pattern: '^[^\\u0000-\\u001f\\u007f]*[^\\s\\u0000-\\u001f\\u007f][^\\u0000-\\u001f\\u007f]*$' });

export const UpdatePreferencesBody = Type.Object(
  {
    level: Type.Optional(Level),
    keywords: Type.Optional(Type.Array(Keyword, { maxItems: MAX_KEYWORDS, description: 'Words that notify like a mention, matched as whole words regardless of case' })),
    ...AvailabilityChanges,
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdatePreferencesBody = Static<typeof UpdatePreferencesBody>;

export const Preferences = Type.Object({
  level: Level,
  keywords: Type.Array(Type.String()),
  dnd_until: Type.Union([IsoTime, Type.Null()]),
  dnd_schedule: Type.Union([DndScheduleSchema, Type.Null()]),
  time_zone: Type.String({ description: 'The schedule is read in this zone; change it with PATCH /api/users/me' }),
});

export const UpdateConversationNotificationsBody = Type.Object(
  {
    level: Type.Optional(Type.Union([Level, Type.Null()], { description: 'Overrides the user\'s level here; null follows it again' })),
    muted: Type.Optional(Type.Boolean({ description: 'A muted conversation never notifies; its unread count still grows' })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateConversationNotificationsBody = Static<typeof UpdateConversationNotificationsBody>;

export const ConversationNotifications = Type.Object({
  conversation_id: Id,
  level: Type.Union([Level, Type.Null()]),
  muted: Type.Boolean(),
  effective_level: Level,
});

export const RegisterPushBody = Type.Object(
  {
    kind: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9-]+$', description: '"webpush" (the default) or the kind of a native sender' })),
    endpoint: Type.String({ minLength: 1, maxLength: 4096, description: 'PushSubscription.endpoint, or a native device token' }),
    keys: Type.Optional(
      Type.Object(
        { p256dh: Type.String({ minLength: 1, maxLength: 200 }), auth: Type.String({ minLength: 1, maxLength: 100 }) },
        { additionalProperties: false, description: 'PushSubscription keys, base64url' },
      ),
    ),
    expiration_time: Type.Optional(Type.Union([Type.Number(), Type.Null()], { description: 'Accepted for PushSubscription.toJSON() compatibility and ignored' })),
  },
  { additionalProperties: false },
);
export type RegisterPushBody = Static<typeof RegisterPushBody>;

export const PushSubscriptionView = Type.Object({
  id: Id,
  kind: Type.String(),
  endpoint: Type.String(),
  created_at: IsoTime,
  last_success_at: Type.Union([IsoTime, Type.Null()]),
});

export const SubscriptionParams = Type.Object({ subscriptionId: Id }, { additionalProperties: false });

export function presentSubscription(row: PushSubscriptionRow): Static<typeof PushSubscriptionView> {
  return {
    id: row.id,
    kind: row.kind,
    endpoint: row.endpoint,
    created_at: toIso(Number(row.created_at)),
    last_success_at: toIso(row.last_success_at === null ? null : Number(row.last_success_at)),
  };
}
