import { AppError } from '../platform/errors.js';
import type { Db } from '../storage/database.js';
import type { AuditLogRow } from '../storage/schema.js';

export interface AuditPage {
  entries: AuditLogRow[];
  /** Cursor of the next older page, or null after the oldest entry. */
  nextCursor: string | null;
}

export interface AuditFilter {
  teamId?: string;
  actorId?: string;
  action?: string;
}

/** Encodes the position after an entry: its time and id, so entries at the same millisecond keep one order. */
function encodeCursor(row: AuditLogRow): string {
  return Buffer.from(`${Number(row.at)}:${row.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: number; id: string } {
  const [at, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  if (rest.length > 0 || at === undefined || id === undefined || !/^\d{1,16}$/.test(at) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new AppError('INVALID_CURSOR', 'The cursor is not one this API returned', { field: 'cursor' });
  }
  return { at: Number(at), id };
}

/** Lists audit entries newest first, `limit` at a time, after an optional cursor. */
export async function listAuditEntries(db: Db, filter: AuditFilter, limit: number, cursor?: string): Promise<AuditPage> {
  let query = db.selectFrom('audit_log').selectAll();
  if (filter.teamId !== undefined) query = query.where('team_id', '=', filter.teamId);
  if (filter.actorId !== undefined) query = query.where('actor_id', '=', filter.actorId);
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (cursor !== undefined) {
    const after = decodeCursor(cursor);
    query = query.where((eb) => eb.or([eb('at', '<', after.at), eb.and([eb('at', '=', after.at), eb('id', '<', after.id)])]));
  }

  const rows = await query
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const entries = rows.slice(0, limit);
  const last = entries[entries.length - 1];
  return { entries, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last) : null };
}
