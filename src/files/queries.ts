import { MAX_LIST_VALUES, PreparedListQuery, type ListsEveryColumn } from '../storage/compiled-query.js';
import type { Db, Tx } from '../storage/database.js';
import type { FileRow, UploadRow } from '../storage/schema.js';

/** The blob keys a deleted file leaves behind, to remove after the commit. */
export interface FileBlobs {
  blobKey: string;
  thumbnailKey: string | null;
}

/** Position in a newest-first file list: the last file of the previous page. */
export interface FileCursor {
  createdAt: number;
  id: string;
}

export function findFile(db: Db | Tx, id: string): Promise<FileRow | undefined> {
  return db.selectFrom('files').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
}

export async function insertFile(tx: Tx | Db, row: FileRow): Promise<void> {
  await tx.insertInto('files').values(row).execute();
}

/** The columns of FileRow, listed because PostgreSQL runs a prepared query as a named statement. */
const FILE_COLUMNS = [
  'id',
  'team_id',
  'conversation_id',
  'message_id',
  'uploader_id',
  'name',
  'mime_type',
  'size',
  'sha256',
  'blob_key',
  'wrapped_key',
  'master_key_id',
  'width',
  'height',
  'thumbnail_key',
  'thumbnail_wrapped_key',
  'thumbnail_master_key_id',
  'thumbnail_size',
  'created_at',
  'deleted_at',
] as const satisfies ReadonlyArray<keyof FileRow>;

// Fails to compile when FileRow gains a column that FILE_COLUMNS lacks.
const fileColumnsComplete: ListsEveryColumn<FileRow, typeof FILE_COLUMNS> = true;
void fileColumnsComplete;

const filesOfMessagesQuery = new PreparedListQuery<string, FileRow>('', (db, messageIds) =>
  db
    .selectFrom('files')
    .select(FILE_COLUMNS)
    .where('message_id', 'in', messageIds)
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id'),
);

/** Files of the given messages, in upload order within each message. */
export async function listFilesOfMessages(db: Db | Tx, messageIds: readonly string[]): Promise<FileRow[]> {
  if (messageIds.length === 0) return [];
  if (messageIds.length <= MAX_LIST_VALUES) return (await filesOfMessagesQuery.execute(db, messageIds)).rows;
  return db
    .selectFrom('files')
    .selectAll()
    .where('message_id', 'in', [...messageIds])
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/**
 * Attaches uploads to a message. Only the uploader's own unattached files of
 * the conversation match, and the update locks their rows, so two posts
 * racing for one upload cannot both claim it. Returns the claimed rows.
 */
export function claimFiles(tx: Tx, input: { fileIds: readonly string[]; messageId: string; conversationId: string; uploaderId: string }): Promise<FileRow[]> {
  return tx
    .updateTable('files')
    .set({ message_id: input.messageId })
    .where('id', 'in', [...input.fileIds])
    .where('conversation_id', '=', input.conversationId)
    .where('uploader_id', '=', input.uploaderId)
    .where('message_id', 'is', null)
    .where('deleted_at', 'is', null)
    .returningAll()
    .execute();
}

function blobsOf(rows: Array<Pick<FileRow, 'blob_key' | 'thumbnail_key'>>): FileBlobs[] {
  return rows.map((row) => ({ blobKey: row.blob_key, thumbnailKey: row.thumbnail_key }));
}

/** Deletes the rows of a message's files and returns their blobs. */
export async function deleteFilesOfMessage(tx: Tx, messageId: string): Promise<FileBlobs[]> {
  const rows = await tx.deleteFrom('files').where('message_id', '=', messageId).returning(['blob_key', 'thumbnail_key']).execute();
  return blobsOf(rows);
}

/** Deletes one file row and returns it, or undefined when another request deleted it first. */
export function deleteFileRow(tx: Tx, id: string): Promise<FileRow | undefined> {
  return tx.deleteFrom('files').where('id', '=', id).returningAll().executeTakeFirst();
}

/** Records a finished thumbnail; returns the updated row, or undefined when the file was deleted meanwhile. */
export function recordThumbnail(
  tx: Tx,
  id: string,
  thumbnail: Pick<FileRow, 'width' | 'height' | 'thumbnail_key' | 'thumbnail_wrapped_key' | 'thumbnail_master_key_id' | 'thumbnail_size'>,
): Promise<FileRow | undefined> {
  return tx.updateTable('files').set(thumbnail).where('id', '=', id).returningAll().executeTakeFirst();
}

/** Newest first, attached files only, after the cursor. */
function filePage(db: Db, cursor: FileCursor | undefined, limit: number) {
  let query = db.selectFrom('files').selectAll().where('message_id', 'is not', null).where('deleted_at', 'is', null);
  if (cursor !== undefined) {
    query = query.where((eb) =>
      eb.or([eb('created_at', '<', cursor.createdAt), eb.and([eb('created_at', '=', cursor.createdAt), eb('id', '<', cursor.id)])]),
    );
  }
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit);
}

/** Files attached to messages of one conversation, newest first. */
export function listConversationFiles(db: Db, conversationId: string, cursor: FileCursor | undefined, limit: number): Promise<FileRow[]> {
  return filePage(db, cursor, limit).where('conversation_id', '=', conversationId).execute();
}

/**
 * Files attached to messages of a team's conversations that the user may
 * read: those they are a member of, and every public channel of the team.
 * The caller checks that the user belongs to the team.
 */
export function listTeamFiles(db: Db, teamId: string, userId: string, cursor: FileCursor | undefined, limit: number): Promise<FileRow[]> {
  return filePage(db, cursor, limit)
    .where('team_id', '=', teamId)
    .where((eb) =>
      eb.or([
        eb('conversation_id', 'in', eb.selectFrom('conversation_members').select('conversation_id').where('user_id', '=', userId)),
        eb('conversation_id', 'in', eb.selectFrom('conversations').select('id').where('team_id', '=', teamId).where('kind', '=', 'public')),
      ]),
    )
    .execute();
}

export async function insertUpload(db: Db | Tx, row: UploadRow): Promise<void> {
  await db.insertInto('uploads').values(row).execute();
}

export function findUpload(db: Db | Tx, id: string): Promise<UploadRow | undefined> {
  return db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Deletes an upload row; returns false when it was already gone. */
export async function deleteUpload(db: Db | Tx, id: string): Promise<boolean> {
  const result = await db.deleteFrom('uploads').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Ids of uploads whose expiry has passed, oldest first. */
export async function listExpiredUploadIds(db: Db, now: number, limit: number): Promise<string[]> {
  const rows = await db.selectFrom('uploads').select('id').where('expires_at', '<', now).orderBy('expires_at').limit(limit).execute();
  return rows.map((row) => row.id);
}
