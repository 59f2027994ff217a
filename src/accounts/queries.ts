import { prepareQuery } from '../storage/compiled-query.js';
import type { Db, Tx } from '../storage/database.js';
import type { SessionRow, UserRow } from '../storage/schema.js';

export function usernameKey(username: string): string {
  return username.normalize('NFKC').toLowerCase();
}

export function emailKey(email: string): string {
  return email.toLowerCase();
}

export function findUserById(db: Db | Tx, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Finds a user by e-mail address (when the login contains "@") or by username, ignoring case. */
export function findUserByLogin(db: Db, login: string): Promise<UserRow | undefined> {
  const query = db.selectFrom('users').selectAll();
  return login.includes('@')
    ? query.where('email_key', '=', emailKey(login)).executeTakeFirst()
    : query.where('username_key', '=', usernameKey(login)).executeTakeFirst();
}

export function findUserByUsername(db: Db | Tx, username: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('username_key', '=', usernameKey(username)).executeTakeFirst();
}

export function findUsersByIds(db: Db | Tx, ids: readonly string[]): Promise<UserRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('users').selectAll().where('id', 'in', ids).execute();
}

export function findSessionByTokenHash(db: Db, tokenHash: string): Promise<SessionRow | undefined> {
  return db.selectFrom('sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

export function findSessionById(db: Db | Tx, id: string): Promise<SessionRow | undefined> {
  return db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
}

const sessionExpiryQuery = prepareQuery<{ id: string }>()((db, param) => db.selectFrom('sessions').select('expires_at').where('id', '=', param('id')));

/** Returns when a session expires, in epoch milliseconds, or undefined when it does not exist (revoked). */
export async function findSessionExpiry(db: Db | Tx, id: string): Promise<number | undefined> {
  const row = (await sessionExpiryQuery.execute(db, { id })).rows[0];
  return row === undefined ? undefined : Number(row.expires_at);
}

/** Ids of the teams a user belongs to; their streams carry profile changes to teammates. */
export async function listTeamIdsOfUser(db: Db | Tx, userId: string): Promise<string[]> {
  const rows = await db.selectFrom('team_members').select('team_id').where('user_id', '=', userId).execute();
  return rows.map((row) => row.team_id);
}

/** True when the two users share at least one team. */
export async function shareTeam(db: Db, userId: string, otherId: string): Promise<boolean> {
  const row = await db
    .selectFrom('team_members as a')
    .innerJoin('team_members as b', 'b.team_id', 'a.team_id')
    .select('a.team_id')
    .where('a.user_id', '=', userId)
    .where('b.user_id', '=', otherId)
    .executeTakeFirst();
  return row !== undefined;
}
