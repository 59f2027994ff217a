import { Type, type Static } from '@sinclair/typebox';
import { Id, Strict, toIso } from '../http/schemas.js';
import type { MessageRow } from '../storage/schema.js';
import { entitiesOf } from '../mentions/entities.js';
import { Reaction } from '../reactions/schemas.js';
import { FileIds, FileView } from '../files/schemas.js';

export const PostMessageBody = Type.Object(
  {
    text: Type.String({ description: 'Markdown source, at most 40,000 characters by default; may be empty when file_ids is given' }),
    client_msg_id: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$', description: 'Idempotency key chosen by the client' }),
    ),
    thread_root_id: Type.Optional(Id),
    also_in_channel: Type.Optional(Type.Boolean({ description: 'Also show a thread reply in the channel' })),
    file_ids: Type.Optional(FileIds),
  },
  { additionalProperties: false },
);
export type PostMessageBody = Static<typeof PostMessageBody>;

export const EditMessageBody = Strict({ text: Type.String() });
export type EditMessageBody = Static<typeof EditMessageBody>;

export const MessageParams = Strict({ messageId: Id });

export const HistoryQuery = Type.Object(
  {
    before: Type.Optional(Type.Integer({ minimum: 1, description: 'Messages with a lower seq' })),
    after: Type.Optional(Type.Integer({ minimum: 0, description: 'Messages with a higher seq' })),
    around: Type.Optional(Id),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  { additionalProperties: false },
);
export type HistoryQuery = Static<typeof HistoryQuery>;

export const ThreadQuery = Strict({
  after: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 100 })),
});
export type ThreadQuery = Static<typeof ThreadQuery>;

const Span = { offset: Type.Integer({ description: 'Start in UTF-16 code units' }), length: Type.Integer() };

export const MessageEntities = Type.Object(
  {
    mentions: Type.Array(
      Type.Object({
        type: Type.Union([Type.Literal('user'), Type.Literal('channel'), Type.Literal('here'), Type.Literal('team')]),
        user_id: Type.Optional(Id),
        username: Type.Optional(Type.String()),
        ...Span,
      }),
    ),
    links: Type.Array(Type.Object({ url: Type.String(), ...Span })),
  },
  { description: 'Mentions and links found in the Markdown text; see docs/formatting.md' },
);

export const Message = Type.Object({
  id: Id,
  conversation_id: Id,
  seq: Type.Integer(),
  author_id: Id,
  text: Type.String(),
  thread_root_id: Type.Union([Id, Type.Null()]),
  also_in_channel: Type.Boolean(),
  reply_count: Type.Integer(),
  reply_users: Type.Array(Id),
  last_reply_at: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  edited_at: Type.Union([Type.String(), Type.Null()]),
  deleted: Type.Boolean(),
  client_msg_id: Type.Union([Type.String(), Type.Null()]),
  entities: MessageEntities,
  subtype: Type.Optional(Type.String({ description: "Present for posts that are not plain user posts: 'bot_message' for bots and incoming webhooks" })),
  bot_profile: Type.Optional(
    Type.Record(Type.String(), Type.String(), { description: 'Name (username) and icon (icon_url or icon_emoji) a bot post chose, shown instead of its author' }),
  ),
  reactions: Type.Optional(Type.Array(Reaction, { description: 'Left out of real-time events' })),
  files: Type.Optional(Type.Array(FileView, { description: 'Attached files, in the order posted; left out of message.edited events, which do not change them' })),
});
export type Message = Static<typeof Message>;

export const MessagePage = Type.Object({
  messages: Type.Array(Message),
  has_more_before: Type.Boolean(),
  has_more_after: Type.Boolean(),
});

export function presentMessage(row: MessageRow): Message {
  const deleted = row.deleted_at !== null;
  // Optional fields are set after the literal, not spread into it: spreads made V8 copy every
  // message object once more, which showed in the history read's profile.
  const message: Message = {
    id: row.id,
    conversation_id: row.conversation_id,
    seq: Number(row.seq),
    author_id: row.author_id,
    text: deleted ? '' : row.text,
    thread_root_id: row.root_id,
    also_in_channel: Boolean(row.also_in_channel),
    reply_count: Number(row.reply_count),
    reply_users: JSON.parse(row.reply_users) as string[],
    last_reply_at: toIso(row.last_reply_at),
    created_at: toIso(row.created_at),
    edited_at: toIso(row.edited_at),
    deleted,
    client_msg_id: row.client_msg_id,
    entities: entitiesOf(row),
  };
  if (row.subtype != null) message.subtype = row.subtype;
  if (row.bot_profile != null) message.bot_profile = JSON.parse(row.bot_profile) as Record<string, string>;
  return message;
}
