import type { Readable } from 'node:stream';
import type { Auth } from '../accounts/actions.js';
import { accessConversation } from '../conversations/access.js';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { conversationStream } from '../realtime/events.js';
import type { Tx } from '../storage/database.js';
import type { FileRow } from '../storage/schema.js';
import { accessTeam, isTeamAdmin } from '../teams/access.js';
import { accessFile } from './access.js';
import { signLink, type LinkTarget } from './links.js';
import { contentPath, decodeFileCursor, encodeFileCursor, presentFile, thumbnailPath } from './present.js';
import {
  claimFiles,
  deleteFileRow,
  deleteFilesOfMessage,
  deleteUpload,
  findUpload,
  insertFile,
  listConversationFiles,
  listTeamFiles,
  type FileBlobs,
} from './queries.js';
import type { FileListQuery, FileView } from './schemas.js';
import { indexFile, unindexFile } from '../search/indexing.js';
import type { StoredBlob } from './vault.js';

/** Label of the secret that signs download links, derived from the master key. */
export const LINK_SECRET_LABEL = 'signed-download-links';

interface NewFile {
  id: string;
  conversationId: string;
  uploaderId: string;
  name: string;
  mimeType: string;
}

/** Raises FILE_TOO_LARGE for a declared length past the configured maximum, before any byte is read. */
export function checkDeclaredLength(ctx: AppContext, length: number, field: string): void {
  const max = ctx.config.files.maxFileBytes;
  if (length > max) throw new AppError('FILE_TOO_LARGE', `The file is larger than ${max} bytes`, { field, max });
}

/**
 * Stores a file sent in one request body: checks write access before
 * reading, streams the body through the vault (which rejects past the size
 * limit and leaves no blob), and records the row only once the blob is
 * durable. The file is the uploader's alone until a message claims it.
 */
export async function uploadFile(
  ctx: AppContext,
  auth: Auth,
  conversationId: string,
  input: { name: string; mimeType: string; declaredLength: number | undefined; body: Readable },
): Promise<FileRow> {
  await accessConversation(ctx.storage.db, conversationId, auth.user.id, 'write');
  if (input.declaredLength !== undefined) checkDeclaredLength(ctx, input.declaredLength, 'content-length');

  const stored = await ctx.files.vault.write(input.body, { maxBytes: ctx.config.files.maxFileBytes });
  const file: NewFile = { id: newId(), conversationId, uploaderId: auth.user.id, name: input.name, mimeType: input.mimeType };
  return recordFile(ctx, file, stored, undefined);
}

/**
 * Turns a complete resumable upload into a file: streams the staged bytes
 * through the vault, then records the file under the upload's id and drops
 * the upload row in one transaction. The staged bytes and the upload row are
 * deleted afterwards on success and on failure, so after a failure the
 * client starts again with a new upload.
 */
export async function completeUpload(ctx: AppContext, uploadId: string): Promise<FileRow> {
  const upload = await findUpload(ctx.storage.db, uploadId);
  if (upload === undefined) throw new AppError('UPLOAD_NOT_FOUND', 'Upload not found');

  try {
    const body = await ctx.files.staging.open(uploadId);
    const stored = await ctx.files.vault.write(body, { maxBytes: Number(upload.size) });
    if (stored.size !== Number(upload.size)) {
      await removeBlobs(ctx, [{ blobKey: stored.blobKey, thumbnailKey: null }]);
      throw new Error(`Upload ${uploadId} staged ${stored.size} bytes but declared ${upload.size}`);
    }
    const file: NewFile = { id: uploadId, conversationId: upload.conversation_id, uploaderId: upload.uploader_id, name: upload.name, mimeType: upload.mime_type };
    return await recordFile(ctx, file, stored, uploadId);
  } finally {
    await discardUpload(ctx, uploadId);
  }
}

/**
 * Records a file whose bytes the vault already stored, such as a Slack API
 * upload that learns its channel only when it completes. The uploader's
 * write access is checked as for any upload, and a failure removes the blob.
 */
export async function recordStoredFile(
  ctx: AppContext,
  input: { id: string; conversationId: string; uploaderId: string; name: string; mimeType: string },
  stored: StoredBlob,
): Promise<FileRow> {
  return recordFile(ctx, input, stored, undefined);
}

/** Deletes an upload's row and staged bytes; failures are logged, and the sweep removes what is left. */
export async function discardUpload(ctx: AppContext, uploadId: string): Promise<void> {
  try {
    await deleteUpload(ctx.storage.db, uploadId);
    await ctx.files.staging.discard(uploadId);
  } catch (error) {
    ctx.logger.warn({ component: 'files', uploadId, err: error }, 'discarding an upload failed; the sweep removes its parts later');
  }
}

/**
 * Inserts the files row for a stored blob, after checking again that the
 * uploader may still write to the conversation: access lost during a long
 * upload keeps the file out. On any failure the blob is removed.
 */
async function recordFile(ctx: AppContext, file: NewFile, stored: StoredBlob, uploadId: string | undefined): Promise<FileRow> {
  try {
    return await commitWithEvents(ctx, async (tx, _events, now) => {
      const access = await accessConversation(tx, file.conversationId, file.uploaderId, 'write');
      if (uploadId !== undefined && !(await deleteUpload(tx, uploadId))) {
        throw new AppError('UPLOAD_NOT_FOUND', 'The upload was cancelled or finished by another request');
      }
      const row = buildFileRow(stored, {
        id: file.id,
        team_id: access.conversation.team_id,
        conversation_id: file.conversationId,
        message_id: null,
        uploader_id: file.uploaderId,
        name: file.name,
        mime_type: file.mimeType,
        created_at: now,
      });
      await insertFile(tx, row);
      return row;
    });
  } catch (error) {
    await removeBlobs(ctx, [{ blobKey: stored.blobKey, thumbnailKey: null }]);
    throw error;
  }
}

/**
 * Records a file whose blob the vault already stored, attached to a message,
 * inside the caller's transaction, and indexes it. Importers use this: the
 * caller checked access and removes the blob if the transaction fails.
 */
/** Fields of a new file row that do not come from its stored blob. */
export type NewFileFields = Pick<FileRow, 'id' | 'team_id' | 'conversation_id' | 'message_id' | 'uploader_id' | 'name' | 'mime_type' | 'created_at'>;

/** Builds the row of a file whose bytes are stored, before any thumbnail exists. */
export function buildFileRow(stored: StoredBlob, fields: NewFileFields): FileRow {
  return {
    ...fields,
    size: stored.size,
    sha256: stored.sha256,
    blob_key: stored.blobKey,
    wrapped_key: stored.wrappedKey,
    master_key_id: stored.masterKeyId,
    width: null,
    height: null,
    thumbnail_key: null,
    thumbnail_wrapped_key: null,
    thumbnail_master_key_id: null,
    thumbnail_size: null,
    deleted_at: null,
  };
}

export async function insertStoredFile(ctx: AppContext, tx: Tx, row: FileRow): Promise<void> {
  await insertFile(tx, row);
  await indexFile(ctx, tx, row);
}

/**
 * Attaches the poster's uploads to a new message inside its transaction and
 * returns them in the order given. Each id must name an unattached upload of
 * the poster in this conversation; otherwise FILE_NOT_FOUND names file_ids.
 */
export async function claimMessageFiles(
  tx: Tx,
  input: { fileIds: readonly string[]; messageId: string; conversationId: string; uploaderId: string },
): Promise<FileRow[]> {
  if (input.fileIds.length === 0) return [];
  const claimed = await claimFiles(tx, input);
  if (claimed.length !== input.fileIds.length) {
    throw new AppError('FILE_NOT_FOUND', 'A file in file_ids is not your unattached upload to this conversation', { field: 'file_ids' });
  }
  const byId = new Map(claimed.map((row) => [row.id, row]));
  return input.fileIds.map((id) => byId.get(id) as FileRow);
}

/** Deletes the rows of a message's files inside the message's delete transaction; returns their blobs for removeBlobs. */
export async function deleteMessageFiles(tx: Tx, messageId: string): Promise<FileBlobs[]> {
  const files = await tx.selectFrom('files').select('id').where('message_id', '=', messageId).execute();
  for (const file of files) await unindexFile(tx, file.id);
  return deleteFilesOfMessage(tx, messageId);
}

/**
 * Removes blobs whose rows were deleted and committed. A failure is logged
 * and left to the sweep, which deletes blobs that no row references.
 */
export async function removeBlobs(ctx: AppContext, blobs: readonly FileBlobs[]): Promise<void> {
  for (const blob of blobs) {
    for (const key of [blob.blobKey, blob.thumbnailKey]) {
      if (key === null) continue;
      try {
        await ctx.files.vault.remove(key);
      } catch (error) {
        ctx.logger.warn({ component: 'files', blobKey: key, err: error }, 'removing a blob failed; the sweep removes it later');
      }
    }
  }
}

/**
 * Deletes a file: its uploader or a team admin may. A file attached to a
 * message leaves it with a `file.deleted` event; the blob goes after the commit.
 */
export async function deleteFile(ctx: AppContext, auth: Auth, fileId: string): Promise<void> {
  const blobs = await commitWithEvents(ctx, async (tx, events) => {
    const { file, access } = await accessFile(tx, fileId, auth.user.id);
    if (file.uploader_id !== auth.user.id && !isTeamAdmin(access.teamMembership.role)) {
      throw new AppError('FORBIDDEN', 'Only the uploader or a team admin can delete a file');
    }
    if (access.conversation.archived_at !== null) {
      throw new AppError('CONVERSATION_ARCHIVED', 'This channel is archived and read-only');
    }

    const row = await deleteFileRow(tx, fileId);
    if (row === undefined) throw new AppError('FILE_NOT_FOUND', 'File not found');
    await unindexFile(tx, row.id);
    if (row.message_id !== null) {
      await events.append(conversationStream(row.conversation_id), 'file.deleted', { file_id: row.id, message_id: row.message_id });
    }
    return [{ blobKey: row.blob_key, thumbnailKey: row.thumbnail_key }];
  });
  await removeBlobs(ctx, blobs);
  ctx.logger.info({ component: 'files', fileId, userId: auth.user.id }, 'file deleted');
}

export interface FilePage {
  files: FileView[];
  next_cursor: string | null;
}

function toPage(rows: FileRow[], limit: number): FilePage {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { files: page.map(presentFile), next_cursor: rows.length > limit && last !== undefined ? encodeFileCursor(last) : null };
}

/** Lists the files attached to messages of a conversation the caller may read, newest first. */
export async function listFilesOfConversation(ctx: AppContext, auth: Auth, conversationId: string, query: FileListQuery): Promise<FilePage> {
  const cursor = decodeFileCursor(query.before);
  await accessConversation(ctx.storage.db, conversationId, auth.user.id, 'read');
  const limit = query.limit ?? 50;
  return toPage(await listConversationFiles(ctx.storage.db, conversationId, cursor, limit + 1), limit);
}

/** Lists the files of a team's conversations that the caller may read, newest first. */
export async function listFilesOfTeam(ctx: AppContext, auth: Auth, teamId: string, query: FileListQuery): Promise<FilePage> {
  const cursor = decodeFileCursor(query.before);
  await accessTeam(ctx.storage.db, teamId, auth.user.id);
  const limit = query.limit ?? 50;
  return toPage(await listTeamFiles(ctx.storage.db, teamId, auth.user.id, cursor, limit + 1), limit);
}

/** Returns the secret that signs download links, the same on every node that shares the master key. */
export function linkSecret(ctx: AppContext): Buffer {
  return ctx.files.keys.deriveSecret(LINK_SECRET_LABEL);
}

/** Issues signed links to a file's content and thumbnail for the caller, valid for expiresInSeconds. */
export async function createSignedLinks(ctx: AppContext, auth: Auth, fileId: string, expiresInSeconds: number) {
  const { file } = await accessFile(ctx.storage.db, fileId, auth.user.id);
  const expires = Math.floor(ctx.now() / 1000) + expiresInSeconds;
  const secret = linkSecret(ctx);
  const link = (target: LinkTarget, path: string) => `${path}?${signLink(secret, { target, fileId, userId: auth.user.id, expires })}`;
  return {
    url: link('content', contentPath(fileId)),
    thumbnail_url: file.thumbnail_key === null ? null : link('thumbnail', thumbnailPath(fileId)),
    expires_at: new Date(expires * 1000).toISOString(),
  };
}
