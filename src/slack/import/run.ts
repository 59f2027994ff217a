import { randomBytes } from 'node:crypto';
import { hashPassword } from '../../accounts/passwords.js';
import type { AppContext } from '../../platform/context.js';
import { newId } from '../../platform/ids.js';
import { conversationStream } from '../../realtime/events.js';
import type { TeamRow } from '../../storage/schema.js';
import { getStreamHead } from '../../storage/streams.js';
import { importConversations } from './conversations.js';
import type { ConversationListKind, SlackConversation, SlackUser } from './export-types.js';
import { importConversationMessages } from './messages.js';
import { insertRun, updateRun } from './queries.js';
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

/** Creates the row of a new run in state 'running' and returns its id. */
// TODO: a run whose process was killed stays 'running'; nothing marks it failed when the node starts again.
export async function createImportRun(ctx: AppContext, teamId: string, source: string, startedBy: string | null): Promise<string> {
  const id = newId();
  const now = ctx.now();
  await insertRun(ctx.storage.db, {
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
  return id;
}

/**
 * Imports a Slack export (folder or zip) into a team and keeps the run's row
 * up to date: its report at most every second while running, and its final
 * status. Problems with single files go into the report. An error that stops
 * the whole run (unreadable zip, lost database) marks the run failed and is
 * thrown. Running it again on the same export adds only what is missing.
 */
export async function executeImportRun(ctx: AppContext, runId: string, team: TeamRow, location: string, signal?: AbortSignal): Promise<ImportReport> {
  const report = emptyReport();
  const started = Date.now();
  let lastWrite = 0;
  const saveProgress = async () => {
    if (Date.now() - lastWrite < PROGRESS_INTERVAL_MS) return;
    lastWrite = Date.now();
    await updateRun(ctx.storage.db, runId, { report: JSON.stringify(report), updated_at: ctx.now() });
  };
  ctx.logger.info({ component: 'slack-import', runId, teamId: team.id }, 'Slack import started');

  try {
    await importExport(ctx, team, location, report, { signal, onProgress: saveProgress });
  } catch (error) {
    const status = signal?.aborted ? 'stopped' : 'failed';
    ctx.logger.error({ component: 'slack-import', runId, teamId: team.id, err: error }, `Slack import ${status}`);
    await updateRun(ctx.storage.db, runId, { status: 'failed', error: (error as Error).message, report: JSON.stringify(report), updated_at: ctx.now(), finished_at: ctx.now() });
    throw error;
  }

  await updateRun(ctx.storage.db, runId, { status: 'done', report: JSON.stringify(report), updated_at: ctx.now(), finished_at: ctx.now() });
  ctx.logger.info(
    { component: 'slack-import', runId, teamId: team.id, durationMs: Date.now() - started, messages: report.counts.messages, problems: report.problem_count },
    'Slack import finished',
  );
  return report;
}

async function importExport(
  ctx: AppContext,
  team: TeamRow,
  location: string,
  report: ImportReport,
  hooks: { signal?: AbortSignal; onProgress: () => Promise<void> },
): Promise<void> {
  const source = await openExportSource(location);
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
