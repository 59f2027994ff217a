import { toIso } from '../http/schemas.js';
import { AppError } from '../platform/errors.js';
import type { Db, Tx } from '../storage/database.js';
import type { FileRow } from '../storage/schema.js';
import { listFilesOfMessages, type FileCursor } from './queries.js';
import type { FileView } from './schemas.js';

export const contentPath = (fileId: string): string => `/api/files/${fileId}/content`;
export const thumbnailPath = (fileId: string): string => `/api/files/${fileId}/thumbnail`;

export function presentFile(row: FileRow): FileView {
  return {
    id: row.id,
    conversation_id: row.conversation_id,
    message_id: row.message_id,
    uploader_id: row.uploader_id,
    name: row.name,
    size: Number(row.size),
    mime_type: row.mime_type,
    sha256: row.sha256,
    width: row.width === null ? null : Number(row.width),
    height: row.height === null ? null : Number(row.height),
    url: contentPath(row.id),
    thumbnail_url: row.thumbnail_key === null ? null : thumbnailPath(row.id),
    created_at: toIso(row.created_at),
  };
}

/** Loads and presents the files of messages, grouped by message id. */
export async function presentFilesOfMessages(db: Db | Tx, messageIds: readonly string[]): Promise<Map<string, FileView[]>> {
  const byMessage = new Map<string, FileView[]>();
  for (const row of await listFilesOfMessages(db, messageIds)) {
    const messageId = row.message_id as string;
    const views = byMessage.get(messageId) ?? [];
    views.push(presentFile(row));
    byMessage.set(messageId, views);
  }
  return byMessage;
}

/** Encodes the last file of a page as an opaque cursor. */
export function encodeFileCursor(row: FileRow): string {
  return Buffer.from(`${Number(row.created_at)}.${row.id}`, 'utf8').toString('base64url');
}

/** Decodes a cursor from encodeFileCursor; anything else raises INVALID_CURSOR naming `before`. */
export function decodeFileCursor(raw: string | undefined): FileCursor | undefined {
  if (raw === undefined) return undefined;
  const match = /^(\d{1,15})\.([0-9a-f-]{36})$/.exec(Buffer.from(raw, 'base64url').toString('utf8'));
  if (match === null) throw new AppError('INVALID_CURSOR', 'before is not a cursor from an earlier page', { field: 'before' });
  return { createdAt: Number(match[1]), id: match[2] as string };
}
