import type { Db, Tx } from '../storage/database.js';
import type { TeamMemberRow, TeamRow } from '../storage/schema.js';

export function findTeam(db: Db | Tx, teamId: string): Promise<TeamRow | undefined> {
  return db.selectFrom('teams').selectAll().where('id', '=', teamId).executeTakeFirst();
}

export function findTeamMember(db: Db | Tx, teamId: string, userId: string): Promise<TeamMemberRow | undefined> {
  return db
    .selectFrom('team_members')
    .selectAll()
    .where('team_id', '=', teamId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
}

export function listTeamsOfUser(db: Db, userId: string) {
  return db
    .selectFrom('team_members')
    .innerJoin('teams', 'teams.id', 'team_members.team_id')
    .selectAll('teams')
    .select(['team_members.role', 'team_members.joined_at'])
    .where('team_members.user_id', '=', userId)
    .orderBy('teams.created_at')
    .execute();
}

export function listTeamMembers(db: Db, teamId: string) {
  return db
    .selectFrom('team_members')
    .innerJoin('users', 'users.id', 'team_members.user_id')
    .selectAll('users')
    .select(['team_members.role', 'team_members.joined_at'])
    .where('team_members.team_id', '=', teamId)
    .orderBy('users.username_key')
    .execute();
}

/**
 * Locks the team's owner rows until the transaction ends, so two transactions
 * that each remove or demote an owner cannot both count the other owner and
 * leave the team with none. The no-op UPDATE takes row locks on PostgreSQL and
 * the database write lock on SQLite.
 */
export async function lockOwners(tx: Tx, teamId: string): Promise<void> {
  await tx
    .updateTable('team_members')
    .set((eb) => ({ role: eb.ref('role') }))
    .where('team_id', '=', teamId)
    .where('role', '=', 'owner')
    .execute();
}

export async function countOwners(db: Db | Tx, teamId: string): Promise<number> {
  const row = await db
    .selectFrom('team_members')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('team_id', '=', teamId)
    .where('role', '=', 'owner')
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Returns which of the given users belong to the team and are not deactivated, so only they can be added to its conversations. */
export async function filterTeamMembers(db: Db | Tx, teamId: string, userIds: readonly string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const rows = await db
    .selectFrom('team_members')
    .innerJoin('users', 'users.id', 'team_members.user_id')
    .select('team_members.user_id')
    .where('team_members.team_id', '=', teamId)
    .where('team_members.user_id', 'in', userIds)
    .where('users.deactivated_at', 'is', null)
    .execute();
  return new Set(rows.map((row) => row.user_id));
}
