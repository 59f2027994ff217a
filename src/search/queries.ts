import type { Db } from '../storage/database.js';
import type { ConversationRow, FileRow, MessageRow } from '../storage/schema.js';

/**
 * Reads for search results. Search is a read model over the messages,
 * conversations and files of other modules, so it reads their tables here
 * by id. The access rules are in conditions.ts.
 */

/** Ids of channels with these names in the user's teams (or in one team). */
export async function findChannelIdsByName(db: Db, userId: string, teamId: string | undefined, names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  let query = db
    .selectFrom('conversations as c')
    .innerJoin('team_members as tm', (join) => join.onRef('tm.team_id', '=', 'c.team_id').on('tm.user_id', '=', userId))
    .select('c.id')
    .where('c.name', 'in', names);
  if (teamId !== undefined) query = query.where('c.team_id', '=', teamId);
  const rows = await query.execute();
  return rows.map((row) => row.id);
}

export async function countTeams(db: Db): Promise<number> {
  const row = await db.selectFrom('teams').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
  return Number(row.count);
}

export function findMessagesByIds(db: Db, ids: readonly string[]): Promise<MessageRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('messages').selectAll().where('id', 'in', ids).execute();
}

export function findMessageTexts(db: Db, ids: readonly string[]): Promise<Array<{ id: string; text: string }>> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('messages').select(['id', 'text']).where('id', 'in', ids).execute();
}

export function findConversationsByIds(db: Db, ids: readonly string[]): Promise<ConversationRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('conversations').selectAll().where('id', 'in', ids).execute();
}

export function findFilesByIds(db: Db, ids: readonly string[]): Promise<FileRow[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('files').selectAll().where('id', 'in', ids).execute();
}
