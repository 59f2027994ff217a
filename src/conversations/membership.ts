import { conversationStream, teamStream, userStream } from '../realtime/events.js';
import type { Tx } from '../storage/database.js';
import type { ConversationRow } from '../storage/schema.js';
import type { EventWriter } from '../storage/streams.js';
import { forgetMemberState } from './member-cleanup.js';
import { listMemberIds } from './queries.js';
import { presentConversation } from './schemas.js';

/**
 * Adds a user to a conversation inside the caller's transaction. The member's
 * own stream gets `conversation.joined` with the sequence number of the
 * `member.joined` event, so their open sockets subscribe from exactly there.
 */
export async function addConversationMember(
  tx: Tx,
  events: EventWriter,
  conversation: ConversationRow,
  userId: string,
  generalId: string | null,
  now: number,
): Promise<void> {
  await tx.insertInto('conversation_members').values({ conversation_id: conversation.id, user_id: userId, joined_at: now }).execute();

  const joined = await events.append(conversationStream(conversation.id), 'member.joined', { user_id: userId });
  // History from before the join counts as read.
  await tx
    .updateTable('conversation_members')
    .set({ last_read_seq: joined.seq })
    .where('conversation_id', '=', conversation.id)
    .where('user_id', '=', userId)
    .execute();
  const isDirect = conversation.kind === 'dm' || conversation.kind === 'group';
  const memberIds = isDirect ? await listMemberIds(tx, conversation.id) : undefined;
  await events.append(userStream(userId), 'conversation.joined', {
    conversation: presentConversation(conversation, { generalId, isMember: true, memberIds, lastSeq: joined.seq }),
    seq: joined.seq,
  });
}

/** Removes a user from a conversation; their sockets stop receiving it at the `member.left` event. */
export async function removeConversationMember(
  tx: Tx,
  events: EventWriter,
  conversation: ConversationRow,
  userId: string,
  reason: 'left' | 'removed',
): Promise<void> {
  // The event comes first so that its `streams` row is locked before the member's rows, in the
  // order a post takes them. In the other order the two deadlocked on PostgreSQL.
  await events.append(conversationStream(conversation.id), 'member.left', { user_id: userId, reason });
  await tx
    .deleteFrom('conversation_members')
    .where('conversation_id', '=', conversation.id)
    .where('user_id', '=', userId)
    .execute();
  await forgetMemberState(tx, conversation.id, userId);
  await events.append(userStream(userId), 'conversation.left', { conversation_id: conversation.id, reason });
}

/**
 * Tells members about a changed conversation; a public channel's change also
 * reaches the team's directory stream.
 */
export async function announceConversationChange(
  events: EventWriter,
  conversation: ConversationRow,
  generalId: string | null,
): Promise<void> {
  const view = presentConversation(conversation, { generalId });
  await events.append(conversationStream(conversation.id), 'conversation.updated', { conversation: view });
  if (conversation.kind === 'public') {
    await events.append(teamStream(conversation.team_id), 'channel.updated', { conversation: view });
  }
}
