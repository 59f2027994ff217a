import type { Db, Tx } from '../../storage/database.js';
import type { SlackImportIdRow, SlackImportRow } from '../../storage/schema.js';

export type MappedKind = SlackImportIdRow['kind'];

/** Loads the map of one kind for a team: Slack id to ChatterBox id. Used for users, bots and conversations, whose count is small. */
export async function loadIdMap(db: Db | Tx, teamId: string, kind: MappedKind): Promise<Map<string, string>> {
  const rows = await db.selectFrom('slack_import_ids').select(['slack_id', 'local_id']).where('team_id', '=', teamId).where('kind', '=', kind).execute();
  return new Map(rows.map((row) => [row.slack_id, row.local_id]));
}

/** Returns the ChatterBox ids of the given Slack ids of one kind that are mapped already. */
export async function findMappedIds(db: Db | Tx, teamId: string, kind: MappedKind, slackIds: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (let start = 0; start < slackIds.length; start += 500) {
    const rows = await db
      .selectFrom('slack_import_ids')
      .select(['slack_id', 'local_id'])
      .where('team_id', '=', teamId)
      .where('kind', '=', kind)
      .where('slack_id', 'in', slackIds.slice(start, start + 500))
      .execute();
    for (const row of rows) found.set(row.slack_id, row.local_id);
  }
  return found;
}

export async function insertMappedId(tx: Tx, row: SlackImportIdRow): Promise<void> {
  await tx.insertInto('slack_import_ids').values(row).onConflict((conflict) => conflict.doNothing()).execute();
}

export async function insertRun(db: Db | Tx, row: SlackImportRow): Promise<void> {
  await db.insertInto('slack_imports').values(row).execute();
}

/** Refreshes the heartbeat of a running run; returns false when the row is no longer 'running'. */
export async function touchRun(db: Db, id: string, now: number): Promise<boolean> {
  const result = await db.updateTable('slack_imports').set({ updated_at: now }).where('id', '=', id).where('status', '=', 'running').executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Marks 'running' rows not refreshed since `staleBefore` as interrupted, of one team or of all; returns their ids. */
export async function interruptRunsBefore(db: Db | Tx, staleBefore: number, now: number, error: string, teamId?: string): Promise<string[]> {
  let query = db
    .updateTable('slack_imports')
    .set({ status: 'interrupted', error, finished_at: now })
    .where('status', '=', 'running')
    .where('updated_at', '<', staleBefore);
  if (teamId !== undefined) query = query.where('team_id', '=', teamId);
  const rows = await query.returning('id').execute();
  return rows.map((row) => row.id);
}

/** Returns true when the team has a 'running' run refreshed since `liveSince`. */
export async function hasLiveRun(db: Db, teamId: string, liveSince: number): Promise<boolean> {
  const row = await db.selectFrom('slack_imports').select('id').where('team_id', '=', teamId).where('status', '=', 'running').where('updated_at', '>=', liveSince).executeTakeFirst();
  return row !== undefined;
}

/** Returns which of the given run ids are 'running' and refreshed since `liveSince`. */
export async function findLiveRunIds(db: Db, ids: readonly string[], liveSince: number): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('slack_imports').select('id').where('id', 'in', [...ids]).where('status', '=', 'running').where('updated_at', '>=', liveSince).execute();
  return new Set(rows.map((row) => row.id));
}

export async function updateRun(db: Db, id: string, changes: Partial<Pick<SlackImportRow, 'status' | 'report' | 'error' | 'updated_at' | 'finished_at'>>): Promise<void> {
  await db.updateTable('slack_imports').set(changes).where('id', '=', id).execute();
}

export function findRun(db: Db, teamId: string, id: string): Promise<SlackImportRow | undefined> {
  return db.selectFrom('slack_imports').selectAll().where('id', '=', id).where('team_id', '=', teamId).executeTakeFirst();
}

/** Returns the Slack timestamps among `tsList` that messages of the conversation already keep. */
export async function findImportedTs(db: Db | Tx, conversationId: string, tsList: readonly string[]): Promise<Map<string, { id: string; seq: number }>> {
  const found = new Map<string, { id: string; seq: number }>();
  for (let start = 0; start < tsList.length; start += 500) {
    const rows = await db
      .selectFrom('messages')
      .select(['id', 'seq', 'slack_ts'])
      .where('conversation_id', '=', conversationId)
      .where('slack_ts', 'in', tsList.slice(start, start + 500))
      .execute();
    for (const row of rows) if (row.slack_ts != null) found.set(row.slack_ts, { id: row.id, seq: Number(row.seq) });
  }
  return found;
}
