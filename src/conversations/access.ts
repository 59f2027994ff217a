import { AppError } from '../platform/errors.js';
import type { Db, Tx } from '../storage/database.js';
import type { ConversationRow, TeamMemberRow, TeamRow } from '../storage/schema.js';
import { findTeam, findTeamMember } from '../teams/queries.js';
import { isTeamAdmin } from '../teams/access.js';
import { findConversation, isConversationMember } from './queries.js';

export interface ConversationAccess {
  conversation: ConversationRow;
  team: TeamRow;
  teamMembership: TeamMemberRow;
  isMember: boolean;
}

/**
 * What a caller needs: `read` lets any team member read a public channel;
 * `member` requires membership of the conversation; `write` also requires it
 * not to be archived.
 */
export type ConversationNeed = 'read' | 'member' | 'write';

/**
 * Loads a conversation and checks the caller may use it. A conversation the
 * caller may not see answers CONVERSATION_NOT_FOUND, exactly as a missing one
 * does, so its existence does not leak.
 */
export async function accessConversation(
  db: Db | Tx,
  conversationId: string,
  userId: string,
  need: ConversationNeed,
): Promise<ConversationAccess> {
  const notFound = new AppError('CONVERSATION_NOT_FOUND', 'Conversation not found');
  const conversation = await findConversation(db, conversationId);
  if (conversation === undefined) throw notFound;

  const teamMembership = await findTeamMember(db, conversation.team_id, userId);
  if (teamMembership === undefined) throw notFound;

  const isMember = await isConversationMember(db, conversationId, userId);
  if (!isMember && conversation.kind !== 'public') throw notFound;

  if (!isMember && need !== 'read') {
    throw new AppError('NOT_IN_CONVERSATION', 'Join the channel first');
  }
  if (need === 'write' && conversation.archived_at !== null) {
    throw new AppError('CONVERSATION_ARCHIVED', 'This channel is archived and read-only');
  }

  const team = await findTeam(db, conversation.team_id);
  if (team === undefined) throw notFound;
  return { conversation, team, teamMembership, isMember };
}

/** True for the channel's creator and for the team's owners and admins. */
export function canManageChannel(access: ConversationAccess, userId: string): boolean {
  return access.conversation.created_by === userId || isTeamAdmin(access.teamMembership.role);
}
