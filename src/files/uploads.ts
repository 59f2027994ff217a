import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { DataStore, ERRORS, Metadata, Server as TusServer, Upload } from '@tus/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Auth } from '../accounts/actions.js';
import { accessConversation } from '../conversations/access.js';
import { callerOf } from '../http/auth.js';
import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { ID_PATTERN, newId } from '../platform/ids.js';
import { checkDeclaredLength, completeUpload, discardUpload } from './actions.js';
import { cleanFileName, cleanMediaType } from './names.js';
import { findFile, findUpload, insertUpload, listExpiredUploadIds } from './queries.js';
import type { FileRow } from '../storage/schema.js';

/**
 * Resumable uploads over the tus protocol 1.0 (https://tus.io/protocols/resumable-upload),
 * served by @tus/server 2 on top of the staging area of the file store, so any
 * node can continue an upload that another node started.
 *
 * Fastify authenticates each request and checks access first; the tus server
 * then handles the protocol on the raw request and response. An upload's id
 * becomes the id of its file once the last byte has arrived.
 */
export const UPLOADS_PATH = '/api/uploads';

/** Response header of the PATCH that completes an upload: the id of the new file, which is also the upload's id. */
const FILE_ID_HEADER = 'ChatterBox-File-Id';

/** Expired uploads deleted per call of deleteExpired. */
const EXPIRY_BATCH = 500;

/** Metadata of an upload creation request, checked by Fastify and read back by the tus server's hooks. */
interface UploadCreation {
  auth: Auth;
  teamId: string;
  conversationId: string;
  name: string;
  mimeType: string;
  size: number;
}

const ID = new RegExp(ID_PATTERN);

/** Creations checked by the Fastify preHandler, keyed by the raw request the tus server receives. */
const creations = new WeakMap<IncomingMessage, UploadCreation>();

function rawRequestOf(request: Request): IncomingMessage | undefined {
  return (request as Request & { runtime?: { node?: { req?: IncomingMessage } } }).runtime?.node?.req;
}

/** Decodes the Upload-Metadata header: comma-separated keys with base64 values. */
function parseMetadata(header: string | undefined): Record<string, string | null> {
  if (header === undefined || header.trim() === '') return {};
  try {
    return Metadata.parse(header);
  } catch {
    throw new AppError('VALIDATION_FAILED', 'Upload-Metadata must be comma-separated "key base64value" pairs', { field: 'upload-metadata' });
  }
}

/**
 * A tus DataStore over the file store's staging area. Upload rows hold the
 * declared metadata, and the staging area stores the bytes and their offset.
 */
class StagingDataStore extends DataStore {
  constructor(private readonly ctx: AppContext) {
    super();
    this.extensions = ['creation', 'creation-with-upload', 'termination', 'expiration'];
  }

  override async create(upload: Upload): Promise<Upload> {
    await this.ctx.files.staging.create(upload.id);
    return upload;
  }

  override async write(body: Readable, id: string, offset: number): Promise<number> {
    const row = await findUpload(this.ctx.storage.db, id);
    if (row === undefined) throw ERRORS.FILE_NOT_FOUND;
    try {
      return await this.ctx.files.staging.append(id, offset, body, Number(row.size));
    } catch (error) {
      // A parallel request, perhaps on another node, finished the upload and discarded its staging area.
      const file = await findFile(this.ctx.storage.db, id);
      if (file === undefined) throw error;
      this.ctx.logger.info({ component: 'files', uploadId: id, err: error }, 'upload finished by a parallel request');
      return Number(file.size);
    }
  }

  override async getUpload(id: string): Promise<Upload> {
    const row = await findUpload(this.ctx.storage.db, id);
    if (row !== undefined) {
      return new Upload({
        id,
        size: Number(row.size),
        offset: await this.ctx.files.staging.offset(id),
        metadata: { filename: row.name, filetype: row.mime_type, conversation_id: row.conversation_id },
        creation_date: new Date(Number(row.created_at)).toISOString(),
      });
    }
    // A finished upload reports itself complete, so a client that resumes it stops there.
    const file = await findFile(this.ctx.storage.db, id);
    if (file === undefined) throw ERRORS.FILE_NOT_FOUND;
    return new Upload({ id, size: Number(file.size), offset: Number(file.size), metadata: { filename: file.name, filetype: file.mime_type } });
  }

  override async remove(id: string): Promise<void> {
    await discardUpload(this.ctx, id);
  }

  override getExpiration(): number {
    return this.ctx.config.files.uploadExpiryMs;
  }

  /** Deletes expired uploads, for tus's cleanUpExpiredUploads; the file sweep does the same every hour. */
  override async deleteExpired(): Promise<number> {
    const ids = await listExpiredUploadIds(this.ctx.storage.db, this.ctx.now(), EXPIRY_BATCH);
    for (const id of ids) await discardUpload(this.ctx, id);
    return ids.length;
  }
}

/** Maps errors raised inside the tus server to its response: AppErrors keep their status and JSON body. */
function tusErrorResponse(ctx: AppContext, error: Error | { status_code: number; body: string }) {
  if (error instanceof AppError) return { status_code: error.status, body: JSON.stringify(error.toBody()) };
  if ('status_code' in error) return undefined;
  ctx.logger.error({ component: 'files', err: error }, 'resumable upload request failed');
  return { status_code: 500, body: JSON.stringify(new AppError('INTERNAL', 'Internal server error').toBody()) };
}

/**
 * Completes an upload, or returns its file when a parallel request (perhaps
 * on another node) completed it first. Without this, the request that lost
 * the race would report a finished upload as missing.
 */
async function completeOrFindUpload(ctx: AppContext, uploadId: string): Promise<FileRow> {
  try {
    return await completeUpload(ctx, uploadId);
  } catch (error) {
    const file = await findFile(ctx.storage.db, uploadId);
    if (file === undefined) throw error;
    ctx.logger.info({ component: 'files', uploadId, err: error }, 'upload completed by a parallel request');
    return file;
  }
}

/** Builds the tus server of a node. */
export function createTusServer(ctx: AppContext): TusServer {
  return new TusServer({
    path: UPLOADS_PATH,
    datastore: new StagingDataStore(ctx),
    maxSize: ctx.config.files.maxFileBytes,
    relativeLocation: true,
    // The default locker serializes requests within one node only. Across nodes, staging keeps parallel parts
    // of one upload apart, and completeOrFindUpload lets the slower request report the finished file.
    disableTerminationForFinishedUploads: true,
    allowedOrigins: (origin) => ctx.config.allowedOrigins.includes(origin),
    allowedCredentials: true,
    exposedHeaders: [FILE_ID_HEADER],
    namingFunction: () => newId(),
    onUploadCreate: async (request, upload) => {
      const raw = rawRequestOf(request);
      const creation = raw === undefined ? undefined : creations.get(raw);
      if (creation === undefined) throw new Error('upload creation reached the tus server without the checks of its route');
      const now = ctx.now();
      await insertUpload(ctx.storage.db, {
        id: upload.id,
        team_id: creation.teamId,
        conversation_id: creation.conversationId,
        uploader_id: creation.auth.user.id,
        name: creation.name,
        mime_type: creation.mimeType,
        size: creation.size,
        created_at: now,
        expires_at: now + ctx.config.files.uploadExpiryMs,
      });
      ctx.logger.info({ component: 'files', uploadId: upload.id, userId: creation.auth.user.id, size: creation.size }, 'resumable upload created');
      return {};
    },
    onUploadFinish: async (_request, upload) => {
      const file = await completeOrFindUpload(ctx, upload.id);
      ctx.logger.info({ component: 'files', fileId: file.id, size: Number(file.size) }, 'resumable upload finished');
      return { headers: { [FILE_ID_HEADER]: file.id } };
    },
    onResponseError: (_request, error) => tusErrorResponse(ctx, error),
  });
}

/**
 * Checks a creation request before the tus server handles it: write access to
 * the conversation named in the metadata, a declared length within the
 * limit, and a file name. Lengths past the limit answer 413 before any byte is read.
 */
export async function checkUploadCreation(ctx: AppContext, request: FastifyRequest): Promise<void> {
  const auth = callerOf(request);
  const metadata = parseMetadata(request.headers['upload-metadata'] as string | undefined);

  const conversationId = metadata.conversation_id ?? '';
  if (!ID.test(conversationId)) {
    throw new AppError('VALIDATION_FAILED', 'Upload-Metadata must carry conversation_id, the id of the conversation to share the file in', { field: 'upload-metadata/conversation_id' });
  }
  const rawName = metadata.filename ?? metadata.name ?? '';
  if (rawName === '' || rawName.length > 1024) {
    throw new AppError('VALIDATION_FAILED', 'Upload-Metadata must carry filename, of 1 to 1024 characters', { field: 'upload-metadata/filename' });
  }

  const lengthHeader = request.headers['upload-length'];
  if (typeof lengthHeader !== 'string' || !/^\d{1,16}$/.test(lengthHeader)) {
    throw new AppError('VALIDATION_FAILED', 'Upload-Length must be the file size in bytes; deferred lengths are not supported', { field: 'upload-length' });
  }
  const size = Number(lengthHeader);
  checkDeclaredLength(ctx, size, 'upload-length');

  const access = await accessConversation(ctx.storage.db, conversationId, auth.user.id, 'write');
  creations.set(request.raw, {
    auth,
    teamId: access.conversation.team_id,
    conversationId,
    name: cleanFileName(rawName),
    mimeType: cleanMediaType(metadata.filetype ?? metadata.type),
    size,
  });
}

/**
 * Checks a request on an existing upload: only its uploader may see, continue
 * or cancel it, and continuing needs write access to the conversation still,
 * so someone removed mid-upload cannot finish it.
 */
export async function checkUploadAccess(ctx: AppContext, request: FastifyRequest, uploadId: string): Promise<void> {
  const auth = callerOf(request);
  const notFound = () => new AppError('UPLOAD_NOT_FOUND', 'Upload not found');
  const upload = await findUpload(ctx.storage.db, uploadId);
  if (upload === undefined) {
    const file = request.method === 'HEAD' ? await findFile(ctx.storage.db, uploadId) : undefined;
    if (file === undefined || file.uploader_id !== auth.user.id) throw notFound();
    return;
  }
  if (upload.uploader_id !== auth.user.id) throw notFound();
  if (request.method === 'PATCH') await accessConversation(ctx.storage.db, upload.conversation_id, auth.user.id, 'write');
}

/** Hands a checked request to the tus server, which writes the response itself. */
export async function handOverToTus(tus: TusServer, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.hijack();
  reply.raw.setHeader('x-request-id', request.id);
  reply.raw.setHeader('x-content-type-options', 'nosniff');
  try {
    await tus.handle(request.raw, reply.raw);
  } catch (error) {
    request.log.error({ err: error }, 'resumable upload handler failed');
    if (!reply.raw.headersSent) reply.raw.writeHead(500, { 'content-type': 'application/json' });
    reply.raw.end(JSON.stringify(new AppError('INTERNAL', 'Internal server error').toBody()));
  }
}
