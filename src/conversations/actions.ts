import type { Auth } from '../accounts/actions.js';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError, invalidField } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { teamStream } from '../realtime/events.js';
import type { Tx } from '../storage/database.js';
import type { ConversationRow } from '../storage/schema.js';
import type { EventWriter } from '../storage/streams.js';
import { accessTeam } from '../teams/access.js';
import { filterTeamMembers } from '../teams/queries.js';
import { accessConversation, canManageChannel } from './access.js';
import { addConversationMember, announceConversationChange, removeConversationMember } from './membership.js';
import { checkChannelName } from './names.js';
import { findConversationByDmKey, isConversationMember, listMemberIds } from './queries.js';
import { presentConversation, type CreateChannelBody, type UpdateConversationBody } from './schemas.js';
import { recordAudit } from '../audit/log.js';

/** Creates a channel row and makes its creator the first member, inside the caller's transaction. */
export async function insertChannel(
  tx: Tx,
  events: EventWriter,
  input: { teamId: string; name: string; isPrivate: boolean; topic?: string; purpose?: string; creatorId: string },
  generalId: string | null,
  now: number,
): Promise<ConversationRow> {
  const conversation: ConversationRow = {
    id: newId(),
    team_id: input.teamId,
    kind: input.isPrivate ? 'private' : 'public',
    name: input.name,
    topic: input.topic ?? '',
    purpose: input.purpose ?? '',
    dm_key: null,
    created_by: input.creatorId,
    created_at: now,
    updated_at: now,
    archived_at: null,
  };
  await tx.insertInto('conversations').values(conversation).execute();

  if (conversation.kind === 'public') {
    await events.append(teamStream(input.teamId), 'channel.created', {
      conversation: presentConversation(conversation, { generalId: generalId ?? conversation.id }),
    });
  }
  await addConversationMember(tx, events, conversation, input.creatorId, generalId ?? conversation.id, now);
  return conversation;
}

export async function createChannel(
  ctx: AppContext,
  auth: Auth,
  teamId: string,
  body: CreateChannelBody,
): Promise<ConversationRow> {
  checkChannelName(body.name);

  try {
    return await commitWithEvents(ctx, async (tx, events, now) => {
      const { team } = await accessTeam(tx, teamId, auth.user.id);
      const channel = await insertChannel(
        tx,
        events,
        { teamId, name: body.name, isPrivate: body.private ?? false, topic: body.topic, purpose: body.purpose, creatorId: auth.user.id },
        team.general_conversation_id,
        now,
      );
      await recordAudit(tx, now, {
        action: 'channel.created',
        actorId: auth.user.id,
        target: { type: 'conversation', id: channel.id },
        teamId,
        address: auth.address,
        details: { kind: channel.kind },
      });
      return channel;
    });
  } catch (error) {
    if (!ctx.storage.dialect.isUniqueViolation(error)) throw error;
    throw new AppError('CHANNEL_NAME_TAKEN', `A channel named "${body.name}" already exists in this team`, { field: 'name' });
  }
}

export async function joinChannel(ctx: AppContext, auth: Auth, conversationId: string): Promise<ConversationRow> {
  try {
    return await insertJoin(ctx, auth, conversationId);
  } catch (error) {
    // A concurrent join by the same user inserted the membership first, so the caller is a member now.
    if (!ctx.storage.dialect.isUniqueViolation(error)) throw error;
    return (await accessConversation(ctx.storage.db, conversationId, auth.user.id, 'member')).conversation;
  }
}

function insertJoin(ctx: AppContext, auth: Auth, conversationId: string): Promise<ConversationRow> {
  return commitWithEvents(ctx, async (tx, events, now) => {
    const access = await accessConversation(tx, conversationId, auth.user.id, 'read');
    if (access.isMember) return access.conversation;
    if (access.conversation.archived_at !== null) {
      throw new AppError('CONVERSATION_ARCHIVED', 'This channel is archived and cannot be joined');
    }
    await addConversationMember(tx, events, access.conversation, auth.user.id, access.team.general_conversation_id, now);
    return access.conversation;
  });
}

export async function leaveConversation(ctx: AppContext, auth: Auth, conversationId: string): Promise<void> {
  await commitWithEvents(ctx, async (tx, events) => {
    const access = await accessConversation(tx, conversationId, auth.user.id, 'member');
    checkRemovable(access.conversation, access.team.general_conversation_id);
    await removeConversationMember(tx, events, access.conversation, auth.user.id, 'left');
  });
}

/**
 * Adds team members to a channel and returns the ids it added. Only members of
 * the channel may invite.
 */
export async function inviteMembers(
  ctx: AppContext,
  auth: Auth,
  conversationId: string,
  userIds: readonly string[],
): Promise<string[]> {
  try {
    return await insertInvitees(ctx, auth, conversationId, userIds);
  } catch (error) {
    // A concurrent invite added one of the users first. The second attempt finds that membership and skips the user.
    if (!ctx.storage.dialect.isUniqueViolation(error)) throw error;
    return insertInvitees(ctx, auth, conversationId, userIds);
  }
}

function insertInvitees(ctx: AppContext, auth: Auth, conversationId: string, userIds: readonly string[]): Promise<string[]> {
  return commitWithEvents(ctx, async (tx, events, now) => {
    const access = await accessConversation(tx, conversationId, auth.user.id, 'write');
    if (access.conversation.kind === 'dm' || access.conversation.kind === 'group') {
      throw new AppError('FORBIDDEN', 'People cannot be added to a direct message; open a new one instead');
    }

    const inTeam = await filterTeamMembers(tx, access.conversation.team_id, userIds);
    const outsider = userIds.find((id) => !inTeam.has(id));
    if (outsider !== undefined) {
      throw new AppError('USER_NOT_FOUND', `User ${outsider} is not a member of this team`, { field: 'user_ids' });
    }

    const added: string[] = [];
    for (const userId of userIds) {
      if (await isConversationMember(tx, conversationId, userId)) continue;
      await addConversationMember(tx, events, access.conversation, userId, access.team.general_conversation_id, now);
      added.push(userId);
    }
    return added;
  });
}

/** Removes someone else from a channel: its creator and team admins may. */
export async function removeMember(ctx: AppContext, auth: Auth, conversationId: string, userId: string): Promise<void> {
  await commitWithEvents(ctx, async (tx, events, now) => {
    const access = await accessConversation(tx, conversationId, auth.user.id, 'member');
    checkRemovable(access.conversation, access.team.general_conversation_id);
    if (userId !== auth.user.id && !canManageChannel(access, auth.user.id)) {
      throw new AppError('FORBIDDEN', 'Only the channel creator and team admins can remove members');
    }
    if (!(await isConversationMember(tx, conversationId, userId))) {
      throw new AppError('NOT_A_MEMBER', 'That user is not a member of this channel', { field: 'userId' });
    }
    await removeConversationMember(tx, events, access.conversation, userId, userId === auth.user.id ? 'left' : 'removed');
    if (userId !== auth.user.id) {
      await recordAudit(tx, now, {
        action: 'channel.member_removed',
        actorId: auth.user.id,
        target: { type: 'user', id: userId },
        teamId: access.conversation.team_id,
        address: auth.address,
        details: { conversation_id: conversationId },
      });
    }
  });
}

function checkRemovable(conversation: ConversationRow, generalId: string | null): void {
  if (conversation.id === generalId) {
    throw new AppError('FORBIDDEN', 'Everyone in the team belongs to #general; leave the team instead');
  }
  if (conversation.kind === 'dm' || conversation.kind === 'group') {
    throw new AppError('FORBIDDEN', 'Direct messages cannot be left');
  }
}

export async function updateConversation(
  ctx: AppContext,
  auth: Auth,
  conversationId: string,
  body: UpdateConversationBody,
): Promise<ConversationRow> {
  if (body.name !== undefined) checkChannelName(body.name);

  try {
    return await commitWithEvents(ctx, async (tx, events, now) => {
      const access = await accessConversation(tx, conversationId, auth.user.id, 'write');
      const isDirect = access.conversation.kind === 'dm' || access.conversation.kind === 'group';
      if (body.name !== undefined && isDirect) throw invalidField('name', 'Direct messages have no name');
      if (body.name !== undefined && !canManageChannel(access, auth.user.id)) {
        throw new AppError('FORBIDDEN', 'Only the channel creator and team admins can rename a channel');
      }

      const updated = await tx
        .updateTable('conversations')
        .set({ ...body, updated_at: now })
        .where('id', '=', conversationId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await announceConversationChange(events, updated, access.team.general_conversation_id);
      return updated;
    });
  } catch (error) {
    if (!ctx.storage.dialect.isUniqueViolation(error)) throw error;
    throw new AppError('CHANNEL_NAME_TAKEN', `A channel named "${body.name}" already exists in this team`, { field: 'name' });
  }
}

/** Archives (read-only) or unarchives a channel: its creator and team admins may. */
export async function setArchived(ctx: AppContext, auth: Auth, conversationId: string, archived: boolean): Promise<ConversationRow> {
  return commitWithEvents(ctx, async (tx, events, now) => {
    const access = await accessConversation(tx, conversationId, auth.user.id, 'read');
    const { conversation } = access;
    if (conversation.kind === 'dm' || conversation.kind === 'group') {
      throw new AppError('FORBIDDEN', 'Direct messages cannot be archived');
    }
    if (conversation.id === access.team.general_conversation_id) {
      throw new AppError('FORBIDDEN', '#general cannot be archived');
    }
    if (!canManageChannel(access, auth.user.id)) {
      throw new AppError('FORBIDDEN', 'Only the channel creator and team admins can archive a channel');
    }
    if ((conversation.archived_at !== null) === archived) return conversation;

    const updated = await tx
      .updateTable('conversations')
      .set({ archived_at: archived ? now : null, updated_at: now })
      .where('id', '=', conversationId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await announceConversationChange(events, updated, access.team.general_conversation_id);
    await recordAudit(tx, now, {
      action: archived ? 'channel.archived' : 'channel.unarchived',
      actorId: auth.user.id,
      target: { type: 'conversation', id: conversationId },
      teamId: conversation.team_id,
      address: auth.address,
    });
    ctx.logger.info({ component: 'conversations', conversationId, userId: auth.user.id, archived }, 'channel archive state changed');
    return updated;
  });
}

/**
 * Opens the direct message between the caller and the given teammates,
 * creating it on first use. One set of people always has one conversation:
 * the unique `dm_key` settles a race between two creators.
 */
export async function openDirectMessage(
  ctx: AppContext,
  auth: Auth,
  teamId: string,
  userIds: readonly string[],
): Promise<{ conversation: ConversationRow; memberIds: string[]; created: boolean }> {
  const memberIds = [...new Set([auth.user.id, ...userIds])].sort();
  if (memberIds.length > ctx.config.maxGroupDmMembers) {
    throw new AppError('VALIDATION_FAILED', `A group DM can have at most ${ctx.config.maxGroupDmMembers} members, you included`, {
      field: 'user_ids',
      max: ctx.config.maxGroupDmMembers - 1,
    });
  }
  const dmKey = `${teamId}:${memberIds.join(',')}`;
  await accessTeam(ctx.storage.db, teamId, auth.user.id);

  const existing = await findExisting();
  if (existing !== undefined) return existing;

  try {
    const conversation = await commitWithEvents(ctx, async (tx, events, now) => {
      const { team } = await accessTeam(tx, teamId, auth.user.id);
      const inTeam = await filterTeamMembers(tx, teamId, memberIds);
      const outsider = memberIds.find((id) => !inTeam.has(id));
      if (outsider !== undefined) {
        throw new AppError('USER_NOT_FOUND', `User ${outsider} is not a member of this team`, { field: 'user_ids' });
      }

      const row: ConversationRow = {
        id: newId(),
        team_id: teamId,
        kind: memberIds.length <= 2 ? 'dm' : 'group',
        name: null,
        topic: '',
        purpose: '',
        dm_key: dmKey,
        created_by: auth.user.id,
        created_at: now,
        updated_at: now,
        archived_at: null,
      };
      await tx.insertInto('conversations').values(row).execute();
      for (const userId of memberIds) {
        await addConversationMember(tx, events, row, userId, team.general_conversation_id, now);
      }
      return row;
    });
    return { conversation, memberIds, created: true };
  } catch (error) {
    if (!ctx.storage.dialect.isUniqueViolation(error)) throw error;
    const raced = await findExisting();
    if (raced === undefined) throw error;
    return raced;
  }

  async function findExisting() {
    const conversation = await findConversationByDmKey(ctx.storage.db, dmKey);
    if (conversation === undefined) return undefined;
    // Access is checked again: the caller may have left the team since the DM was made.
    await accessConversation(ctx.storage.db, conversation.id, auth.user.id, 'member');
    return { conversation, memberIds: await listMemberIds(ctx.storage.db, conversation.id), created: false };
  }
}
