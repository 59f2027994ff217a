import type { Auth } from '../accounts/actions.js';
import { findUserById, findUserByUsername } from '../accounts/queries.js';
import { presentUser } from '../accounts/schemas.js';
import { insertChannel } from '../conversations/actions.js';
import { addConversationMember, removeConversationMember } from '../conversations/membership.js';
import { findConversation, listConversationsOfUserInTeam, listMemberIds } from '../conversations/queries.js';
import { presentConversation } from '../conversations/schemas.js';
import { getStreamHead } from '../storage/streams.js';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { conversationStream, teamStream, userStream } from '../realtime/events.js';
import type { Tx } from '../storage/database.js';
import type { TeamRole, TeamRow } from '../storage/schema.js';
import type { EventWriter } from '../storage/streams.js';
import { accessTeam, accessTeamAsAdmin } from './access.js';
import { countOwners, findTeamMember, lockOwners } from './queries.js';
import { presentTeam, type AddMemberBody, type CreateTeamBody } from './schemas.js';
import { recordAudit } from '../audit/log.js';

/** Creates a team with the caller as owner and a #general channel. */
export async function createTeam(ctx: AppContext, auth: Auth, body: CreateTeamBody): Promise<TeamRow> {
  const team = await commitWithEvents(ctx, async (tx, events, now) => {
    const row: TeamRow = { id: newId(), name: body.name.trim(), created_by: auth.user.id, created_at: now, general_conversation_id: null };
    await tx.insertInto('teams').values(row).execute();
    await addTeamMembership(tx, events, row, auth.user.id, 'owner', now);

    const general = await insertChannel(tx, events, { teamId: row.id, name: 'general', isPrivate: false, creatorId: auth.user.id }, null, now);
    row.general_conversation_id = general.id;
    await tx.updateTable('teams').set({ general_conversation_id: general.id }).where('id', '=', row.id).execute();
    return row;
  });
  ctx.logger.info({ component: 'teams', teamId: team.id, userId: auth.user.id }, 'team created');
  return team;
}

/** Adds a team_members row inside the caller's transaction and sends the membership event to the team and the user. */
export async function addTeamMembership(tx: Tx, events: EventWriter, team: TeamRow, userId: string, role: TeamRole, now: number): Promise<void> {
  await tx.insertInto('team_members').values({ team_id: team.id, user_id: userId, role, joined_at: now }).execute();

  const user = await findUserById(tx, userId);
  if (user === undefined) throw new AppError('USER_NOT_FOUND', 'User not found');
  const joined = await events.append(teamStream(team.id), 'team.member_joined', {
    user: presentUser(user),
    role,
    joined_at: new Date(now).toISOString(),
  });
  await events.append(userStream(userId), 'team.joined', { team: presentTeam(team, role), seq: joined.seq });
}

/** Adds a user to a team and to its #general channel. */
export async function addTeamMember(ctx: AppContext, auth: Auth, teamId: string, body: AddMemberBody): Promise<{ userId: string; role: TeamRole }> {
  const role = body.role ?? 'member';
  if (body.user_id === undefined && body.username === undefined) {
    throw new AppError('VALIDATION_FAILED', 'Give user_id or username', { field: 'user_id' });
  }

  try {
    return await insertTeamMember(ctx, auth, teamId, body, role);
  } catch (error) {
    // Two concurrent adds of one user both pass the membership check, so the primary key rejects the second insert.
    if (!ctx.storage.dialect.isUniqueViolation(error)) throw error;
    throw new AppError('ALREADY_MEMBER', 'That user is already a member of this team');
  }
}

function insertTeamMember(
  ctx: AppContext,
  auth: Auth,
  teamId: string,
  body: AddMemberBody,
  role: TeamRole,
): Promise<{ userId: string; role: TeamRole }> {
  return commitWithEvents(ctx, async (tx, events, now) => {
    const { team, membership } = await accessTeamAsAdmin(tx, teamId, auth.user.id);
    if (role === 'owner' && membership.role !== 'owner') {
      throw new AppError('FORBIDDEN', 'Only owners can add owners');
    }

    const user = body.user_id !== undefined ? await findUserById(tx, body.user_id) : await findUserByUsername(tx, body.username ?? '');
    // A deactivated account answers as a missing one, so it cannot be added anywhere.
    if (user === undefined || user.deactivated_at != null) {
      throw new AppError('USER_NOT_FOUND', 'No user with this id or username', { field: body.user_id !== undefined ? 'user_id' : 'username' });
    }
    if (await findTeamMember(tx, teamId, user.id)) {
      throw new AppError('ALREADY_MEMBER', 'That user is already a member of this team');
    }

    await addTeamMembership(tx, events, team, user.id, role, now);
    const general = team.general_conversation_id && (await findConversation(tx, team.general_conversation_id));
    if (general) await addConversationMember(tx, events, general, user.id, team.general_conversation_id, now);
    await announceDirectMessagesKept(tx, events, user.id, team);
    await recordAudit(tx, now, {
      action: 'team.member_added',
      actorId: auth.user.id,
      target: { type: 'user', id: user.id },
      teamId,
      address: auth.address,
      details: { role },
    });
    return { userId: user.id, role };
  });
}

/**
 * Tells a returning member's sockets about the direct messages they kept:
 * leaving a team keeps direct-message memberships but hides them, so on
 * return each is announced again, from the next event of its stream on.
 */
async function announceDirectMessagesKept(tx: Tx, events: EventWriter, userId: string, team: TeamRow): Promise<void> {
  for (const conversation of await listConversationsOfUserInTeam(tx, userId, team.id, ['dm', 'group'])) {
    const head = await getStreamHead(tx, conversationStream(conversation.id));
    await events.append(userStream(userId), 'conversation.joined', {
      conversation: presentConversation(conversation, {
        generalId: team.general_conversation_id,
        isMember: true,
        memberIds: await listMemberIds(tx, conversation.id),
        lastSeq: head,
      }),
      seq: head + 1,
    });
  }
}

/**
 * Removes a member from a team, or lets a member leave. Their channel
 * memberships in the team end in the same transaction, so the API and their
 * sockets lose access at once. The last owner cannot leave.
 */
export async function removeTeamMember(ctx: AppContext, auth: Auth, teamId: string, userId: string): Promise<void> {
  await commitWithEvents(ctx, async (tx, events, now) => {
    const leaving = userId === auth.user.id;
    const { membership } = leaving ? await accessTeam(tx, teamId, auth.user.id) : await accessTeamAsAdmin(tx, teamId, auth.user.id);

    const target = leaving ? membership : await findTeamMember(tx, teamId, userId);
    if (target === undefined) throw new AppError('USER_NOT_FOUND', 'That user is not a member of this team', { field: 'userId' });
    if (!leaving && target.role === 'owner' && membership.role !== 'owner') {
      throw new AppError('FORBIDDEN', 'Only owners can remove owners');
    }
    if (target.role === 'owner') await lockOwners(tx, teamId);
    if (target.role === 'owner' && (await countOwners(tx, teamId)) <= 1) {
      throw new AppError('LAST_OWNER', 'The last owner cannot leave the team; make someone else an owner first');
    }

    const reason = leaving ? 'left' : 'removed';
    for (const channel of await listConversationsOfUserInTeam(tx, userId, teamId, ['public', 'private'])) {
      await removeConversationMember(tx, events, channel, userId, reason);
    }
    await tx.deleteFrom('team_members').where('team_id', '=', teamId).where('user_id', '=', userId).execute();
    await events.append(teamStream(teamId), 'team.member_left', { user_id: userId, reason });
    await events.append(userStream(userId), 'team.left', { team_id: teamId, reason });
    await recordAudit(tx, now, {
      action: leaving ? 'team.member_left' : 'team.member_removed',
      actorId: auth.user.id,
      target: { type: 'user', id: userId },
      teamId,
      address: auth.address,
      details: { role: target.role },
    });
  });
  ctx.logger.info({ component: 'teams', teamId, userId, actorId: auth.user.id }, 'team member removed');
}

/** Changes a member's role. Owners may set any role; admins only move non-owners between member and admin. */
export async function changeRole(ctx: AppContext, auth: Auth, teamId: string, userId: string, role: TeamRole): Promise<void> {
  await commitWithEvents(ctx, async (tx, events, now) => {
    const { team, membership } = await accessTeamAsAdmin(tx, teamId, auth.user.id);
    const target = await findTeamMember(tx, teamId, userId);
    if (target === undefined) throw new AppError('USER_NOT_FOUND', 'That user is not a member of this team', { field: 'userId' });
    if (membership.role !== 'owner' && (role === 'owner' || target.role === 'owner')) {
      throw new AppError('FORBIDDEN', 'Only owners can grant or take the owner role');
    }
    if (target.role === role) return;
    if (target.role === 'owner') await lockOwners(tx, teamId);
    if (target.role === 'owner' && (await countOwners(tx, teamId)) <= 1) {
      throw new AppError('LAST_OWNER', 'The last owner cannot be demoted; make someone else an owner first');
    }

    await tx.updateTable('team_members').set({ role }).where('team_id', '=', teamId).where('user_id', '=', userId).execute();
    await events.append(teamStream(teamId), 'team.member_updated', { user_id: userId, role });
    await events.append(userStream(userId), 'team.updated', { team: presentTeam(team, role) });
    await recordAudit(tx, now, {
      action: 'team.role_changed',
      actorId: auth.user.id,
      target: { type: 'user', id: userId },
      teamId,
      address: auth.address,
      details: { from: target.role, to: role },
    });
  });
  ctx.logger.info({ component: 'teams', teamId, userId, role, actorId: auth.user.id }, 'team role changed');
}
