import Busboy from 'busboy';
import { Type } from '@sinclair/typebox';
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../http/app.js';
import { readToken } from '../../http/auth.js';
import { PUBLIC } from '../../http/schemas.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { authenticateBotToken, type BotAuth } from './bots.js';
import { slackErrorOf, SlackApiError, type SlackArgs } from './args.js';
import { receiveSlackUpload, SLACK_UPLOAD_PATH } from './files.js';
import { SLACK_METHODS } from './methods.js';

const tags = ['slack'];

/** Slack errors that mean the caller's token was missing or not accepted. */
const AUTH_ERRORS = new Set(['not_authed', 'invalid_auth', 'token_revoked', 'account_inactive']);

/** Registers the Slack Web API at /api/slack/METHOD and the upload URL of its file flow. */
export function registerSlackApiRoutes(app: App, ctx: AppContext): void {
  void app.register(async (scope) => registerMethodRoute(scope as App, ctx));
  void app.register(async (scope) => registerUploadRoute(scope as App, ctx));
}

/** Parses Slack's two argument encodings; other bodies are ignored, leaving the query string. */
function registerSlackBodyParsers(scope: App): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      const parsed: unknown = (body as string).trim() === '' ? {} : JSON.parse(body as string);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SyntaxError('not an object');
      done(null, parsed);
    } catch {
      done(new SlackApiError('invalid_json'), undefined);
    }
  });
  scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
}

/**
 * Sends Slack's error body. Slack responds to errors with HTTP 200 and
 * `{ ok: false, error }`, except a rate limit, which is 429 with Retry-After.
 */
function sendSlackError(ctx: AppContext, error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof AppError && error.code === 'RATE_LIMITED') {
    const retryAfter = Math.max(1, Math.ceil(Number(error.details.retryAfterSeconds ?? 1)));
    return reply.status(429).header('retry-after', String(retryAfter)).send({ ok: false, error: 'ratelimited' });
  }
  const code = (error as { code?: string }).code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.status(413).send({ ok: false, error: 'request_too_large' });
  if ((error as { validation?: unknown }).validation !== undefined) return reply.status(200).send({ ok: false, error: 'invalid_arguments' });

  const slackError = slackErrorOf(error);
  if (slackError === undefined) {
    request.log.error({ err: error }, 'slack api call failed');
    ctx.metrics.databaseErrors.inc({ source: 'http' });
    return reply.status(200).send({ ok: false, error: 'internal_error' });
  }
  request.log.info({ slackError }, 'slack api call rejected');
  // Slack names the argument at fault only for invalid_arguments; the SDK logs these messages.
  const argument = error instanceof SlackApiError && slackError === 'invalid_arguments' ? error.argument : undefined;
  return reply.status(200).send({ ok: false, error: slackError, ...(argument !== undefined && { response_metadata: { messages: [`[ERROR] invalid argument: ${argument}`] } }) });
}

/** Authenticates a Slack call by its bearer header or `token` argument. */
async function authenticateCall(ctx: AppContext, request: FastifyRequest, args: SlackArgs): Promise<BotAuth> {
  const header = readToken(request);
  // Session cookies are ignored, so no browser page can make a call with a visitor's cookie.
  let token = typeof args.token === 'string' ? args.token : undefined;
  if (header !== undefined && !header.viaCookie) token = header.token;
  delete args.token;
  if (token === undefined) throw new SlackApiError('not_authed');
  const check = await authenticateBotToken(ctx, token);
  if (!check.ok) throw new SlackApiError(check.error);
  request.log = request.log.child({ userId: check.auth.user.id, tokenId: check.auth.tokenId });
  return { ...check.auth, address: request.ip };
}

function baseUrlOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

function registerMethodRoute(scope: App, ctx: AppContext): void {
  registerSlackBodyParsers(scope);
  scope.setErrorHandler((error, request, reply) => sendSlackError(ctx, error, request, reply));

  scope.route({
    method: ['GET', 'POST'],
    url: '/api/slack/:method',
    schema: {
      tags,
      summary: 'Call a Slack Web API method',
      description:
        'Slack-compatible Web API for bots: arguments form-encoded, as JSON or in the query string; the bot token as a bearer header or the token argument. ' +
        'Responds with Slack-shaped JSON, with errors as HTTP 200 {"ok":false,"error":"..."}. See docs/slack.md for the methods.',
      params: Type.Object({ method: Type.String({ maxLength: 64 }) }),
      security: PUBLIC,
    },
    handler: async (request, reply) => {
      const name = (request.params as { method: string }).method;
      const method = SLACK_METHODS.get(name);
      if (method === undefined) return reply.status(404).send({ ok: false, error: 'unknown_method' });

      const args: SlackArgs = { ...(request.query as SlackArgs), ...((request.body as SlackArgs | undefined) ?? {}) };
      const auth = await authenticateCall(ctx, request, args);
      const result = await method({ ctx, auth, args, address: request.ip, baseUrl: baseUrlOf(request) });
      return { ok: true, ...result };
    },
  });
}

/**
 * Registers the URL that files.getUploadURLExternal returns. Slack's SDKs send the bytes as
 * multipart/form-data (the first file part is taken) or as the raw body, with
 * the bot's bearer token. Responses are plain text, as from Slack's upload host.
 */
function registerUploadRoute(scope: App, ctx: AppContext): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  scope.setErrorHandler((error, request, reply) => {
    if (!request.raw.complete) void reply.header('connection', 'close');
    if (error instanceof AppError && error.code === 'FILE_TOO_LARGE') return reply.status(413).type('text/plain').send('file_too_large');
    if (error instanceof SlackApiError) return reply.status(AUTH_ERRORS.has(error.error) ? 401 : 400).type('text/plain').send(error.error);
    request.log.error({ err: error }, 'slack upload failed');
    return reply.status(500).type('text/plain').send('internal_error');
  });

  scope.post(
    `${SLACK_UPLOAD_PATH}/:uploadId`,
    {
      schema: {
        tags,
        summary: 'Send the bytes of a file announced by files.getUploadURLExternal',
        params: Type.Object({ uploadId: Type.String({ maxLength: 64 }) }),
        security: PUBLIC,
      },
    },
    async (request, reply) => {
      const auth = await authenticateCall(ctx, request, {});
      const body = await fileStreamOf(request);
      const { found, size } = await receiveSlackUpload(ctx, auth, (request.params as { uploadId: string }).uploadId, body);
      if (!found) return reply.status(404).type('text/plain').send('file_not_found');
      return reply.status(200).type('text/plain').send(`OK - ${size}`);
    },
  );
}

/** Returns the file bytes of an upload request: the first file part of a multipart body, or the body itself. */
function fileStreamOf(request: FastifyRequest): Promise<Readable> {
  const contentType = request.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(contentType)) return Promise.resolve(request.raw);

  return new Promise((resolve, reject) => {
    const parser = Busboy({ headers: request.headers, limits: { files: 1 } });
    let found = false;
    parser.on('file', (_name, stream) => {
      found = true;
      resolve(stream);
    });
    parser.on('error', reject);
    parser.on('close', () => {
      if (!found) reject(new SlackApiError('no_file_data'));
    });
    request.raw.pipe(parser);
  });
}
