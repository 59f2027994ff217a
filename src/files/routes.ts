import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../http/app.js';
import { callerOf, readToken, requireAuth } from '../http/auth.js';
import { NoContent } from '../http/schemas.js';
import { ConversationParams } from '../conversations/schemas.js';
import { TeamParams } from '../teams/schemas.js';
import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { authenticateBotToken, isBotToken, type BotAuth } from '../slack/api/bots.js';
import { accessFile, type FileAccess } from './access.js';
import { createSignedLinks, deleteFile, linkSecret, listFilesOfConversation, listFilesOfTeam, uploadFile } from './actions.js';
import { sendDownload } from './downloads.js';
import { verifyLink, type LinkTarget } from './links.js';
import { cleanFileName, cleanMediaType, OCTET_STREAM } from './names.js';
import { presentFile } from './present.js';
import { DownloadQuery, FileListQuery, FilePage, FileParams, FileView, LinkBody, SignedLinks, UploadParams, UploadQuery } from './schemas.js';
import { checkUploadAccess, checkUploadCreation, createTusServer, handOverToTus, UPLOADS_PATH } from './uploads.js';

const tags = ['files'];

/** Registers uploads, downloads, file lists, signed links and deletion. */
export function registerFileRoutes(app: App, ctx: AppContext): void {
  // Upload bodies are file bytes of any type: this scope reads no body, and the handlers stream the raw request.
  void app.register(async (scope) => registerUploadRoutes(scope as App, ctx));
  registerFileReadRoutes(app, ctx);
}

function registerUploadRoutes(scope: App, ctx: AppContext): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  const authenticate = requireAuth(ctx);
  const tus = createTusServer(ctx);
  const toTus = (request: FastifyRequest, reply: FastifyReply) => handOverToTus(tus, request, reply);

  scope.post(
    '/api/conversations/:conversationId/files',
    {
      onRequest: [authenticate, acceptAnyContentType],
      // The name is cleaned before it is stored: a NUL becomes "_" like other control characters.
      config: { cleanedQueryFields: ['name'] },
      schema: {
        tags,
        summary: 'Upload a file in one request',
        description:
          'The request body is the file. Content-Type gives its media type and the name query parameter its name. ' +
          'A Content-Length past CHATTERBOX_MAX_FILE_BYTES answers 413 before the body is read, and so does a body that runs past it. ' +
          'The file stays the uploader\'s until a message claims it through file_ids. See docs/files.md.',
        params: ConversationParams,
        querystring: UploadQuery,
        response: { 201: FileView },
      },
    },
    async (request, reply) => {
      const lengthHeader = request.headers['content-length'];
      try {
        const file = await uploadFile(ctx, callerOf(request), request.params.conversationId, {
          name: cleanFileName(request.query.name),
          mimeType: cleanMediaType(request.headers['content-type']),
          declaredLength: lengthHeader === undefined ? undefined : Number(lengthHeader),
          body: request.raw,
        });
        request.log.info({ fileId: file.id, size: Number(file.size) }, 'file uploaded');
        return await reply.status(201).send(presentFile(file));
      } catch (error) {
        // The rest of a rejected body is not read: closing the connection drops it, where a kept-alive connection would stall on it.
        if (!request.raw.complete) void reply.header('connection', 'close');
        throw error;
      }
    },
  );

  const tusDescription = 'Resumable upload over the tus protocol 1.0 (creation, creation-with-upload, termination, expiration); see docs/files.md.';
  scope.route({
    method: 'POST',
    url: UPLOADS_PATH,
    onRequest: authenticate,
    preHandler: async (request) => checkUploadCreation(ctx, request),
    schema: { tags, summary: 'Create a resumable upload', description: `${tusDescription} Upload-Metadata carries conversation_id, filename and filetype.` },
    handler: toTus,
  });
  scope.route({
    method: ['HEAD', 'PATCH', 'DELETE'],
    url: `${UPLOADS_PATH}/:uploadId`,
    onRequest: authenticate,
    preHandler: async (request) => checkUploadAccess(ctx, request, (request.params as { uploadId: string }).uploadId),
    schema: { tags, summary: 'Read the offset of, continue or cancel a resumable upload', description: tusDescription, params: UploadParams },
    handler: toTus,
  });
  scope.route({
    method: 'OPTIONS',
    url: UPLOADS_PATH,
    schema: { tags, summary: 'Resumable upload capabilities', description: 'Tus-Version, Tus-Extension and Tus-Max-Size; no session needed.', security: [] },
    handler: toTus,
  });
}

/**
 * Replaces a Content-Type that is not a valid media type with
 * application/octet-stream before Fastify reads it, which would otherwise
 * reject the request: the file is then stored under that type.
 */
async function acceptAnyContentType(request: FastifyRequest): Promise<void> {
  const declared = request.headers['content-type'];
  if (declared !== undefined && cleanMediaType(declared) === OCTET_STREAM) request.headers['content-type'] = OCTET_STREAM;
}

/**
 * Authenticates a download by its signed link when the query carries a
 * signature, by a Slack bot token (`Authorization: Bearer xoxb-...`), so bots
 * can fetch a file's url_private, or else by the session.
 */
function downloadAuth(ctx: AppContext) {
  const session = requireAuth(ctx);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if ((request.query as { signature?: unknown }).signature !== undefined) return;
    const credentials = readToken(request);
    if (credentials !== undefined && !credentials.viaCookie && isBotToken(credentials.token)) {
      const check = await authenticateBotToken(ctx, credentials.token);
      if (!check.ok) throw new AppError('UNAUTHENTICATED', `The bot token was not accepted (${check.error})`);
      request.auth = { ...check.auth, address: request.ip };
      request.log = request.log.child({ userId: check.auth.user.id, tokenId: check.auth.tokenId });
      return;
    }
    await session(request, reply);
  };
}

/**
 * Loads a file for a download and checks, on every request, that its
 * downloader may read its conversation: the signer of its link, the bot of a
 * bot token, or the session's user. A bot reads only files of its own team,
 * as its Web API calls do.
 */
async function accessDownload(ctx: AppContext, request: FastifyRequest, fileId: string, query: DownloadQuery, target: LinkTarget): Promise<FileAccess> {
  if (query.signature !== undefined) return accessFile(ctx.storage.db, fileId, verifyLink(linkSecret(ctx), target, fileId, query, ctx.now()));
  const caller = callerOf(request);
  const access = await accessFile(ctx.storage.db, fileId, caller.user.id);
  const botTeamId = (caller as Partial<BotAuth>).teamId;
  if (botTeamId !== undefined && access.file.team_id !== botTeamId) throw new AppError('FILE_NOT_FOUND', 'File not found');
  return access;
}

function registerFileReadRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const downloads = { onRequest: downloadAuth(ctx) };
  const downloadDescription =
    'Serves the bytes with Range support (one range; several ranges get the whole file), an ETag from the SHA-256 and a safe Content-Disposition. ' +
    'Types other than plain text and common images, audio and video are sent as application/octet-stream attachments. ' +
    'Authenticate with a session, a Slack bot token (Bearer xoxb-...), or with expires, user and signature from POST /api/files/{fileId}/links instead.';

  app.get('/api/files/:fileId', { ...authenticated, schema: { tags, summary: 'A file\'s metadata', params: FileParams, response: { 200: FileView } } }, async (request) => {
    const { file } = await accessFile(ctx.storage.db, request.params.fileId, callerOf(request).user.id);
    return presentFile(file);
  });

  // HEAD is declared with GET: Fastify's automatic HEAD route would read and discard the whole body.
  app.route({
    method: ['GET', 'HEAD'],
    url: '/api/files/:fileId/content',
    ...downloads,
    schema: { tags, summary: 'Download a file', description: downloadDescription, params: FileParams, querystring: DownloadQuery, security: [{ bearer: [] }, {}] },
    handler: async (request, reply) => {
      const { file } = await accessDownload(ctx, request, request.params.fileId, request.query, 'content');
      return sendDownload(ctx, request, reply, {
        file,
        blob: file,
        name: file.name,
        mediaType: file.mime_type,
        sha256: file.sha256,
        forceAttachment: request.query.download === true,
      });
    },
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/api/files/:fileId/thumbnail',
    ...downloads,
    schema: { tags, summary: 'Download a file\'s WebP thumbnail', description: downloadDescription, params: FileParams, querystring: DownloadQuery, security: [{ bearer: [] }, {}] },
    handler: async (request, reply) => {
      const { file } = await accessDownload(ctx, request, request.params.fileId, request.query, 'thumbnail');
      if (file.thumbnail_key === null || file.thumbnail_size === null) throw new AppError('FILE_NOT_FOUND', 'This file has no thumbnail');
      return sendDownload(ctx, request, reply, {
        file,
        blob: { blob_key: file.thumbnail_key, wrapped_key: file.thumbnail_wrapped_key, master_key_id: file.thumbnail_master_key_id, size: file.thumbnail_size },
        name: `${file.name}.webp`,
        mediaType: 'image/webp',
        // The thumbnail's key changes whenever a new thumbnail is stored, so it tags the version.
        sha256: createHash('sha256').update(file.thumbnail_key).digest('hex'),
        forceAttachment: request.query.download === true,
      });
    },
  });

  app.post(
    '/api/files/:fileId/links',
    { ...authenticated, schema: { tags, summary: 'Signed, time-limited download links', params: FileParams, body: LinkBody, response: { 200: SignedLinks } } },
    async (request) => createSignedLinks(ctx, callerOf(request), request.params.fileId, request.body.expires_in ?? 3600),
  );

  app.delete('/api/files/:fileId', { ...authenticated, schema: { tags, summary: 'Delete a file (its uploader or a team admin)', params: FileParams, response: NoContent } }, async (request, reply) => {
    await deleteFile(ctx, callerOf(request), request.params.fileId);
    return reply.status(204).send();
  });

  app.get(
    '/api/conversations/:conversationId/files',
    { ...authenticated, schema: { tags, summary: 'Files shared in a conversation, newest first', params: ConversationParams, querystring: FileListQuery, response: { 200: FilePage } } },
    async (request) => listFilesOfConversation(ctx, callerOf(request), request.params.conversationId, request.query),
  );

  app.get(
    '/api/teams/:teamId/files',
    {
      ...authenticated,
      schema: { tags, summary: 'Files shared in the team\'s conversations the caller may read, newest first', params: TeamParams, querystring: FileListQuery, response: { 200: FilePage } },
    },
    async (request) => listFilesOfTeam(ctx, callerOf(request), request.params.teamId, request.query),
  );
}
