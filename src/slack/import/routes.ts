import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { App } from '../../http/app.js';
import { callerOf, requireAuth } from '../../http/auth.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { accessImportTeam, checkNoLiveRun, getImportRun, removeUploadedZip, startImport, stopImports } from './actions.js';
import { ImportParams, ImportRunView, presentImportRun, SlackTokenHeaders, StartImportBody, TeamParams } from './schemas.js';
import { startImportSweeps, uploadFolder } from './sweep.js';

const tags = ['slack'];

/** Registers the routes that start Slack imports and report their progress. */
export function registerSlackImportRoutes(app: App, ctx: AppContext): void {
  const stopSweeps = startImportSweeps(ctx);
  app.addHook('onClose', async () => {
    await stopSweeps();
    await stopImports(ctx);
  });
  const authenticated = { onRequest: requireAuth(ctx) };

  app.post(
    '/api/teams/:teamId/slack-imports',
    {
      ...authenticated,
      schema: {
        tags,
        summary: 'Import a Slack export from a path on the server',
        description: 'Server admins only. Starts the import in the background; poll the returned run. See docs/slack.md.',
        params: TeamParams,
        body: StartImportBody,
        response: { 202: ImportRunView },
      },
    },
    async (request, reply) => {
      const run = await startImport(ctx, callerOf(request), request.params.teamId, { path: request.body.path, slackToken: request.body.slack_token });
      return reply.status(202).send(presentImportRun(run));
    },
  );

  app.get(
    '/api/teams/:teamId/slack-imports/:importId',
    { ...authenticated, schema: { tags, summary: 'Read the status and report of a Slack import', params: ImportParams, response: { 200: ImportRunView } } },
    async (request) => presentImportRun(await getImportRun(ctx, callerOf(request), request.params.teamId, request.params.importId)),
  );

  // The zip is the raw body: this scope parses no body, and the handler streams the request to a file.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    (scope as App).post(
      '/api/teams/:teamId/slack-imports/zip',
      {
        ...authenticated,
        schema: {
          tags,
          summary: 'Import an uploaded Slack export zip',
          description:
            'Team owners and server admins. The body is the zip, at most CHATTERBOX_MAX_FILE_BYTES. Starts the import in the background. ' +
            'A Slack token with files:read in the Slack-Token header downloads the file bytes the export lacks; it is never stored.',
          params: TeamParams,
          headers: SlackTokenHeaders,
          response: { 202: ImportRunView },
        },
      },
      async (request, reply) => {
        const auth = callerOf(request);
        // Permission first, so a refused caller's body is never stored.
        await accessImportTeam(ctx, auth, request.params.teamId);
        await checkNoLiveRun(ctx, request.params.teamId);
        const runId = newId();
        const file = await receiveZip(ctx, request.raw, request.headers['content-length'], runId);
        try {
          const slackToken = request.headers['slack-token'] as string | undefined;
          const run = await startImport(ctx, auth, request.params.teamId, { uploadedZip: file, runId, slackToken });
          return await reply.status(202).send(presentImportRun(run));
        } catch (error) {
          await removeUploadedZip(ctx, file, runId);
          throw error;
        }
      },
    );
  });
}

/**
 * Streams an uploaded zip into the data folder as `<runId>.zip`, rejecting one
 * past the file size limit with FILE_TOO_LARGE. The run deletes it when it
 * ends; the import sweep deletes the zip of a run whose node died.
 */
async function receiveZip(ctx: AppContext, body: NodeJS.ReadableStream, lengthHeader: string | undefined, runId: string): Promise<string> {
  const max = ctx.config.files.maxFileBytes;
  if (lengthHeader !== undefined && Number(lengthHeader) > max) throw new AppError('FILE_TOO_LARGE', `The zip is larger than ${max} bytes`, { field: 'body', max });
  const folder = uploadFolder(ctx);
  await fs.promises.mkdir(folder, { recursive: true });
  const file = path.join(folder, `${runId}.zip`);

  let received = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received > max) callback(new AppError('FILE_TOO_LARGE', `The zip is larger than ${max} bytes`, { field: 'body', max }));
      else callback(null, chunk);
    },
  });
  try {
    await pipeline(body, limit, fs.createWriteStream(file, { mode: 0o600 }));
  } catch (error) {
    await fs.promises.rm(file, { force: true });
    throw error;
  }
  if (received === 0) {
    await fs.promises.rm(file, { force: true });
    throw new AppError('VALIDATION_FAILED', 'The body must be the export zip', { field: 'body' });
  }
  return file;
}
