import { Type, type Static } from '@sinclair/typebox';
import { FreeText, Id, Strict, toIso } from '../http/schemas.js';
import type { ConversationRow } from '../storage/schema.js';

export const MAX_CHANNEL_NAME_CHARS = 80;

// No length bounds here: checkChannelName enforces the length with the other naming rules,
// so an empty or overlong name gets INVALID_CHANNEL_NAME with a suggested name.
export const ChannelName = Type.String({
  description: `Lowercase letters, digits, "-" and "_", at most ${MAX_CHANNEL_NAME_CHARS} characters`,
});
export const Topic = FreeText(250);
export const Purpose = FreeText(250);
export const Kind = Type.Union([Type.Literal('public'), Type.Literal('private'), Type.Literal('dm'), Type.Literal('group')]);

export const CreateChannelBody = Type.Object(
  {
    name: ChannelName,
    private: Type.Optional(Type.Boolean({ default: false })),
    topic: Type.Optional(Topic),
    purpose: Type.Optional(Purpose),
  },
  { additionalProperties: false },
);
export type CreateChannelBody = Static<typeof CreateChannelBody>;

export const UpdateConversationBody = Type.Object(
  { name: Type.Optional(ChannelName), topic: Type.Optional(Topic), purpose: Type.Optional(Purpose) },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateConversationBody = Static<typeof UpdateConversationBody>;

export const UserIdsBody = Strict({ user_ids: Type.Array(Id, { minItems: 1, maxItems: 100, uniqueItems: true }) });
export type UserIdsBody = Static<typeof UserIdsBody>;

export const ConversationParams = Strict({ conversationId: Id });
export const ConversationMemberParams = Strict({ conversationId: Id, userId: Id });
export const ListConversationsQuery = Strict({ team_id: Type.Optional(Id) });

export const Conversation = Type.Object({
  id: Id,
  team_id: Id,
  kind: Kind,
  name: Type.Union([Type.String(), Type.Null()]),
  topic: Type.String(),
  purpose: Type.String(),
  created_by: Id,
  created_at: Type.String(),
  archived: Type.Boolean(),
  is_general: Type.Boolean(),
  is_member: Type.Optional(Type.Boolean()),
  member_ids: Type.Optional(Type.Array(Id)),
  last_seq: Type.Optional(Type.Integer()),
});
export type Conversation = Static<typeof Conversation>;

export interface ConversationExtras {
  generalId?: string | null;
  isMember?: boolean;
  memberIds?: string[];
  lastSeq?: number;
}

export function presentConversation(row: ConversationRow, extras: ConversationExtras = {}): Conversation {
  return {
    id: row.id,
    team_id: row.team_id,
    kind: row.kind,
    name: row.name,
    topic: row.topic,
    purpose: row.purpose,
    created_by: row.created_by,
    created_at: toIso(row.created_at),
    archived: row.archived_at !== null,
    is_general: extras.generalId === row.id,
    ...(extras.isMember !== undefined && { is_member: extras.isMember }),
    ...(extras.memberIds !== undefined && { member_ids: extras.memberIds }),
    ...(extras.lastSeq !== undefined && { last_seq: extras.lastSeq }),
  };
}
