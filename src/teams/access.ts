import { AppError } from '../platform/errors.js';
import type { Db, Tx } from '../storage/database.js';
import type { TeamMemberRow, TeamRole, TeamRow } from '../storage/schema.js';
import { findTeam, findTeamMember } from './queries.js';

export interface TeamAccess {
  team: TeamRow;
  membership: TeamMemberRow;
}

const NOT_FOUND_MESSAGE = 'Team not found';

/** Loads a team the user belongs to; a missing team and a foreign team both raise TEAM_NOT_FOUND. */
export async function accessTeam(db: Db | Tx, teamId: string, userId: string): Promise<TeamAccess> {
  const membership = await findTeamMember(db, teamId, userId);
  const team = membership && (await findTeam(db, teamId));
  if (membership === undefined || team === undefined) throw new AppError('TEAM_NOT_FOUND', NOT_FOUND_MESSAGE);
  return { team, membership };
}

export function isTeamAdmin(role: TeamRole): boolean {
  return role === 'owner' || role === 'admin';
}

/** Loads a team and requires the caller to be an owner or admin of it. */
export async function accessTeamAsAdmin(db: Db | Tx, teamId: string, userId: string): Promise<TeamAccess> {
  const access = await accessTeam(db, teamId, userId);
  if (!isTeamAdmin(access.membership.role)) {
    throw new AppError('FORBIDDEN', 'Only team owners and admins can do this');
  }
  return access;
}
