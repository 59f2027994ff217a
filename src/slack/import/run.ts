import { randomBytes } from 'node:crypto';
import { hashPassword } from '../../accounts/passwords.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { newId } from '../../platform/ids.js';
import { conversationStream } from '../../realtime/events.js';
import type { Db, Tx } from '../../storage/database.js';
import type { TeamRow } from '../../storage/schema.js';
import { getStreamHead } from '../../storage/streams.js';
import { importConversations } from './conversations.js';
import type { ConversationListKind, SlackConversation, SlackUser } from './export-types.js';
import { SlackFileDownloader } from './file-download.js';
import { importConversationMessages } from './messages.js';
import { insertRun, interruptRunsBefore, touchRun, updateRun } from './queries.js';
import { emptyReport, reportProblem, type ImportReport } from './report.js';
import { openExportSource } from './source.js';
import type { ImportState, MappedConversation } from './state.js';
import { importUsers } from './users.js';

/** The conversation lists of an export, in import order, with the report kind of their problems. */
const CONVERSATION_LISTS: Array<[ConversationListKind, 'channels' | 'direct_messages']> = [
  ['channels', 'channels'],
  ['groups', 'channels'],
  ['dms', 'direct_messages'],
  ['mpims', 'direct_messages'],
];

/** Minimum time between two writes of a run's progress to its row. */
const PROGRESS_INTERVAL_MS = 1000;

/**
 * Interval of a running run's heartbeat, which refreshes its row's updated_at
 * even while one step (a large users.json, many file bytes) writes no progress.
 */
export const RUN_HEARTBEAT_MS = 15_000;

/**
 * Age of updated_at after which a 'running' row counts as stale: its process
 * was killed or lost the database. Eight missed heartbeats, so a busy node is
 * not taken for a dead one. A stale run is marked 'interrupted'.
 */
export const RUN_STALE_MS = 120_000;

export const RUNNING_MESSAGE = 'A Slack import into this team is already running; wait for it to end (a run whose node died ends when it goes stale)';
const STALE_ERROR = 'The node running this import stopped sending its heartbeat; start the import again to resume';
const STOPPED_ERROR = 'The node running this import shut down; start the import again to resume';

/**
 * Creates the row of a new run in state 'running' and returns its id. A
 * stale run of the team is marked interrupted first. A live run of the team,
 * on any node or in the command line, raises IMPORT_RUNNING: the unique index
 * over the team's running row decides between two nodes starting at once.
 */
export async function createImportRun(ctx: AppContext, teamId: string, source: string, startedBy: string | null, id: string = newId()): Promise<string> {
  const now = ctx.now();
  try {
    await ctx.storage.db.transaction().execute(async (tx) => {
      await interruptStale(ctx, tx, teamId);
      await insertRun(tx, {
        id,
        team_id: teamId,
        started_by: startedBy,
        status: 'running',
        source,
        report: JSON.stringify(emptyReport()),
        error: null,
        created_at: now,
        updated_at: now,
        finished_at: null,
      });
    });
  } catch (error) {
    if (!ctx.storage.dialect.isUniqueViolation(error)) throw error;
    throw new AppError('IMPORT_RUNNING', RUNNING_MESSAGE);
  }
  return id;
}

/** Marks the stale running runs of a team, or of every team, as interrupted and returns their ids. */
export async function interruptStaleRuns(ctx: AppContext, teamId?: string): Promise<string[]> {
  return interruptStale(ctx, ctx.storage.db, teamId);
}

async function interruptStale(ctx: AppContext, db: Db | Tx, teamId?: string): Promise<string[]> {
  const now = ctx.now();
  const ids = await interruptRunsBefore(db, now - RUN_STALE_MS, now, STALE_ERROR, teamId);
  for (const runId of ids) ctx.logger.warn({ component: 'slack-import', runId, teamId, staleMs: RUN_STALE_MS }, 'marked a stale Slack import interrupted');
  return ids;
}

/**
 * Imports a Slack export (folder or zip) into a team and keeps the run's row
 * up to date: a heartbeat every RUN_HEARTBEAT_MS, its report at most every
 * second while running, and its final status. Problems with single files go
 * into the report. An error that stops the whole run (unreadable zip, lost
 * database) marks the run failed and is thrown. A run stopped through
 * `signal`, or found marked interrupted by another node, ends 'interrupted'.
 * Running it again on the same export adds only what is missing. With
 * `slackToken`, the bytes of files the export lacks are downloaded from Slack.
 */
export async function executeImportRun(
  ctx: AppContext,
  runId: string,
  team: TeamRow,
  location: string,
  options: { signal?: AbortSignal; slackToken?: string } = {},
): Promise<ImportReport> {
  const { signal, slackToken } = options;
  const report = emptyReport();
  const started = Date.now();
  let lastWrite = 0;
  const saveProgress = async () => {
    if (Date.now() - lastWrite < PROGRESS_INTERVAL_MS) return;
    lastWrite = Date.now();
    await updateRun(ctx.storage.db, runId, { report: JSON.stringify(report), updated_at: ctx.now() });
  };
  const heartbeat = startHeartbeat(ctx, runId, team.id);
  const stop = signal === undefined ? heartbeat.signal : AbortSignal.any([signal, heartbeat.signal]);
  ctx.logger.info({ component: 'slack-import', runId, teamId: team.id, downloadsFiles: slackToken !== undefined }, 'Slack import started');

  try {
    await importExport(ctx, team, location, report, { signal: stop, onProgress: saveProgress, slackToken });
  } catch (error) {
    const status = stop.aborted ? 'interrupted' : 'failed';
    let message = (error as Error).message;
    if (heartbeat.signal.aborted) message = STALE_ERROR;
    if (signal?.aborted) message = STOPPED_ERROR;
    ctx.logger.error({ component: 'slack-import', runId, teamId: team.id, err: error }, `Slack import ${status}`);
    await updateRun(ctx.storage.db, runId, { status, error: message, report: JSON.stringify(report), updated_at: ctx.now(), finished_at: ctx.now() });
    throw error;
  } finally {
    heartbeat.stop();
  }

  await updateRun(ctx.storage.db, runId, { status: 'done', report: JSON.stringify(report), updated_at: ctx.now(), finished_at: ctx.now() });
  ctx.logger.info(
    { component: 'slack-import', runId, teamId: team.id, durationMs: Date.now() - started, messages: report.counts.messages, problems: report.problem_count },
    'Slack import finished',
  );
  return report;
}

/**
 * Refreshes the run's updated_at every RUN_HEARTBEAT_MS. When the row is no
 * longer 'running', another node took this run for dead and a new run may
 * have started, so the returned signal aborts this one between two batches.
 */
function startHeartbeat(ctx: AppContext, runId: string, teamId: string): { signal: AbortSignal; stop: () => void } {
  const controller = new AbortController();
  const timer = setInterval(() => {
    touchRun(ctx.storage.db, runId, ctx.now()).then(
      (running) => {
        if (running || controller.signal.aborted) return;
        ctx.logger.warn({ component: 'slack-import', runId, teamId }, 'Slack import was marked interrupted elsewhere; stopping it');
        controller.abort();
      },
      (error: unknown) => ctx.logger.warn({ component: 'slack-import', runId, teamId, err: error }, 'Slack import heartbeat failed'),
    );
  }, RUN_HEARTBEAT_MS);
  timer.unref();
  return { signal: controller.signal, stop: () => clearInterval(timer) };
}

async function importExport(
  ctx: AppContext,
  team: TeamRow,
  location: string,
  report: ImportReport,
  hooks: { signal?: AbortSignal; onProgress: () => Promise<void>; slackToken?: string },
): Promise<void> {
  const source = await openExportSource(location);
  const downloader = hooks.slackToken === undefined ? undefined : new SlackFileDownloader(ctx.config.slackFiles, hooks.slackToken, ctx.config.files.maxFileBytes);
  try {
    const state: ImportState = {
      ctx,
      team,
      source,
      report,
      users: new Map(),
      bots: new Map(),
      usernames: new Map(),
      conversations: new Map(),
      unusableHash: await hashPassword(randomBytes(32).toString('base64')),
      downloader,
      signal: hooks.signal,
      onProgress: hooks.onProgress,
    };

    await importUsers(state, (await readList<SlackUser>(state, 'users.json', 'users')) ?? []);
    for (const [kind, reportKind] of CONVERSATION_LISTS) {
      const list = await readList<SlackConversation>(state, `${kind}.json`, reportKind);
      if (list !== undefined) await importConversations(state, kind, list, `${kind}.json`);
    }
    for (const [slackId, conversation] of state.conversations) {
      const before = report.counts.messages.imported;
      await importConversationMessages(state, slackId, conversation);
      await finishConversation(state, conversation, report.counts.messages.imported > before);
    }
  } finally {
    downloader?.close();
    await source.close();
  }
}

/** Reads a top-level list file; a missing file is an empty list, an invalid one is reported and skipped. */
async function readList<T>(state: ImportState, path: string, kind: 'users' | 'channels' | 'direct_messages'): Promise<T[] | undefined> {
  const text = await state.source.readText(path);
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (Array.isArray(parsed)) return parsed as T[];
    reportProblem(state.report, { kind, path, reason: 'the file is not a JSON array' });
  } catch (error) {
    reportProblem(state.report, { kind, path, reason: `invalid JSON: ${(error as Error).message}` });
  }
  return undefined;
}

/**
 * Marks the imported history as read by every member and archives a channel
 * that Slack had archived. When this run imported messages, it also moves the
 * stream's oldest replayable position past the head. Imported messages have
 * no stored events, so a client that resumes from before them gets a resync
 * frame and reloads the history.
 */
async function finishConversation(state: ImportState, conversation: MappedConversation, imported: boolean): Promise<void> {
  const now = state.ctx.now();
  await state.ctx.storage.db.transaction().execute(async (tx) => {
    const stream = conversationStream(conversation.id);
    const head = await getStreamHead(tx, stream);
    await tx.updateTable('conversation_members').set({ last_read_seq: head }).where('conversation_id', '=', conversation.id).where('last_read_seq', '<', head).execute();
    if (imported) await tx.updateTable('streams').set({ min_seq: head + 1 }).where('id', '=', stream).execute();
    if (conversation.archived) {
      await tx.updateTable('conversations').set({ archived_at: now, updated_at: now }).where('id', '=', conversation.id).where('archived_at', 'is', null).execute();
    }
  });
}
