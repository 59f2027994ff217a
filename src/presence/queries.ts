import type { Db, Tx } from '../storage/database.js';
import type { PresenceSettingsRow } from '../storage/schema.js';
import type { AvailabilitySettings, DndSchedule } from './status.js';

/** Ids per query, below SQLite's limit of bound parameters. */
const CHUNK = 500;

export interface StoredAvailability {
  settings: AvailabilitySettings;
  lastActiveAt: number | null;
}

/** Reads the availability settings and last activity of users; users who do not exist are absent. */
export async function loadAvailability(db: Db, userIds: readonly string[]): Promise<Map<string, StoredAvailability>> {
  const found = new Map<string, StoredAvailability>();
  for (let start = 0; start < userIds.length; start += CHUNK) {
    const rows = await db
      .selectFrom('users as u')
      .leftJoin('presence_settings as ps', 'ps.user_id', 'u.id')
      .select(['u.id', 'u.time_zone', 'ps.manual_status', 'ps.dnd_until', 'ps.dnd_schedule', 'ps.last_active_at'])
      .where('u.id', 'in', userIds.slice(start, start + CHUNK))
      .execute();
    for (const row of rows) {
      found.set(row.id, {
        settings: {
          manualStatus: row.manual_status === 'away' ? 'away' : null,
          dndUntil: row.dnd_until === null ? null : Number(row.dnd_until),
          dndSchedule: row.dnd_schedule === null ? null : (JSON.parse(row.dnd_schedule) as DndSchedule),
          timeZone: row.time_zone,
        },
        lastActiveAt: row.last_active_at === null ? null : Number(row.last_active_at),
      });
    }
  }
  return found;
}

export function findPresenceSettings(db: Db | Tx, userId: string): Promise<PresenceSettingsRow | undefined> {
  return db.selectFrom('presence_settings').selectAll().where('user_id', '=', userId).executeTakeFirst();
}

/** Writes the manual status and do-not-disturb settings given, creating the row if needed. */
export async function upsertPresenceSettings(
  db: Db | Tx,
  userId: string,
  changes: Partial<Pick<PresenceSettingsRow, 'manual_status' | 'dnd_until' | 'dnd_schedule'>>,
  now: number,
): Promise<void> {
  await db
    .insertInto('presence_settings')
    .values({
      user_id: userId,
      manual_status: changes.manual_status ?? null,
      dnd_until: changes.dnd_until ?? null,
      dnd_schedule: changes.dnd_schedule ?? null,
      last_active_at: null,
      updated_at: now,
    })
    .onConflict((conflict) => conflict.column('user_id').doUpdateSet({ ...changes, updated_at: now }))
    .execute();
}

/** Stores last-activity times; a stored time is never moved back. */
export async function saveLastActive(db: Db, entries: ReadonlyArray<{ userId: string; at: number }>, now: number): Promise<void> {
  if (entries.length === 0) return;
  await db.transaction().execute(async (tx) => {
    for (const { userId, at } of entries) {
      await tx
        .insertInto('presence_settings')
        .values({ user_id: userId, manual_status: null, dnd_until: null, dnd_schedule: null, last_active_at: at, updated_at: now })
        .onConflict((conflict) =>
          conflict
            .column('user_id')
            .doUpdateSet({ last_active_at: at, updated_at: now })
            .where((eb) => eb.or([eb('presence_settings.last_active_at', 'is', null), eb('presence_settings.last_active_at', '<', at)])),
        )
        .execute();
    }
  });
}

/** Returns which of the given users share a team with the viewer; the viewer is always visible to themselves. */
export async function filterVisibleUsers(db: Db, viewerId: string, userIds: readonly string[]): Promise<Set<string>> {
  const visible = new Set<string>();
  const others = userIds.filter((id) => id !== viewerId);
  if (others.length < userIds.length) visible.add(viewerId);
  for (let start = 0; start < others.length; start += CHUNK) {
    const rows = await db
      .selectFrom('team_members as mine')
      .innerJoin('team_members as theirs', 'theirs.team_id', 'mine.team_id')
      .select('theirs.user_id')
      .distinct()
      .where('mine.user_id', '=', viewerId)
      .where('theirs.user_id', 'in', others.slice(start, start + CHUNK))
      .execute();
    for (const row of rows) visible.add(row.user_id);
  }
  return visible;
}
