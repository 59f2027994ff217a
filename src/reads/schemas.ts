import { Type, type Static } from '@sinclair/typebox';
import { Id, Strict, toIso } from '../http/schemas.js';
import { COUNT_CAP, type ConversationCounts, type ThreadCounts } from './queries.js';

const countDescription = `Stops at ${COUNT_CAP}; show ${COUNT_CAP} as "${COUNT_CAP - 1}+"`;

export const ConversationReadState = Type.Object({
  conversation_id: Id,
  team_id: Id,
  last_read_seq: Type.Integer({ description: 'Highest seq of the conversation stream the user has read' }),
  last_seq: Type.Integer({ description: 'Head of the conversation stream' }),
  unread_count: Type.Integer({ description: `Unread channel messages by others. ${countDescription}` }),
  mention_count: Type.Integer({ description: `Unread channel messages that mention the user, @channel or @team. ${countDescription}` }),
});

export const ThreadReadState = Type.Object({
  thread_root_id: Id,
  conversation_id: Id,
  following: Type.Boolean(),
  last_read_seq: Type.Integer(),
  last_reply_at: Type.Union([Type.String(), Type.Null()]),
  unread_count: Type.Integer({ description: `Unread replies by others. ${countDescription}` }),
  mention_count: Type.Integer({ description: `Unread replies that mention the user, @channel or @team. ${countDescription}` }),
});

export const SidebarQuery = Strict({ team_id: Type.Optional(Id), conversation_id: Type.Optional(Id) });
export type SidebarQuery = Static<typeof SidebarQuery>;

export const MarkReadBody = Type.Object(
  { seq: Type.Optional(Type.Integer({ minimum: 0, description: 'Read up to this seq; the stream head when left out' })) },
  { additionalProperties: false },
);
export type MarkReadBody = Static<typeof MarkReadBody>;

export const ThreadListQuery = Strict({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) });

export function presentConversationCounts(row: ConversationCounts): Static<typeof ConversationReadState> {
  return { ...row };
}

export function presentThreadCounts(row: ThreadCounts): Static<typeof ThreadReadState> {
  return {
    thread_root_id: row.thread_root_id,
    conversation_id: row.conversation_id,
    following: row.following,
    last_read_seq: row.last_read_seq,
    last_reply_at: toIso(row.last_reply_at),
    unread_count: row.unread_count,
    mention_count: row.mention_count,
  };
}

/** Followed threads with unread replies first, then by latest reply, newest first. */
export function compareThreads(a: ThreadCounts, b: ThreadCounts): number {
  const unread = Number(b.unread_count > 0) - Number(a.unread_count > 0);
  if (unread !== 0) return unread;
  return (b.last_reply_at ?? 0) - (a.last_reply_at ?? 0) || b.root_seq - a.root_seq || a.thread_root_id.localeCompare(b.thread_root_id);
}
