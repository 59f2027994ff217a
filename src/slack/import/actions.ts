import fs from 'node:fs';
import type { Auth } from '../../accounts/actions.js';
import { isServerAdmin } from '../../admin/access.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import type { SlackImportRow, TeamRow } from '../../storage/schema.js';
import { createTeam } from '../../teams/actions.js';
import { findTeam, findTeamMember } from '../../teams/queries.js';
import { findRun, hasLiveRun } from './queries.js';
import { createImportRun, executeImportRun, interruptStaleRuns, RUN_STALE_MS, RUNNING_MESSAGE } from './run.js';

/** A run started through the API, which the node stops when it shuts down. */
interface BackgroundRun {
  controller: AbortController;
  done: Promise<void>;
}

/** Runs of each node by run id; one context is one node. */
const runningByContext = new WeakMap<AppContext, Map<string, BackgroundRun>>();

function runningOf(ctx: AppContext): Map<string, BackgroundRun> {
  let running = runningByContext.get(ctx);
  if (running === undefined) {
    running = new Map();
    runningByContext.set(ctx, running);
  }
  return running;
}

/**
 * Loads the team an import targets and checks the caller's right: server
 * admins may import into any team, team owners into their own. Others get
 * TEAM_NOT_FOUND when they are not members and FORBIDDEN when they are.
 */
export async function accessImportTeam(ctx: AppContext, auth: Auth, teamId: string): Promise<TeamRow> {
  const team = await findTeam(ctx.storage.db, teamId);
  if (team !== undefined && (await isServerAdmin(ctx, auth.user))) return team;
  const membership = await findTeamMember(ctx.storage.db, teamId, auth.user.id);
  if (team === undefined || membership === undefined) throw new AppError('TEAM_NOT_FOUND', 'Team not found');
  if (membership.role !== 'owner') throw new AppError('FORBIDDEN', 'Only team owners and server admins can import a Slack export');
  return team;
}

/**
 * Raises IMPORT_RUNNING when a live run of the team exists, so an upload is
 * rejected before its body is stored. createImportRun checks again.
 */
export async function checkNoLiveRun(ctx: AppContext, teamId: string): Promise<void> {
  if (await hasLiveRun(ctx.storage.db, teamId, ctx.now() - RUN_STALE_MS)) throw new AppError('IMPORT_RUNNING', RUNNING_MESSAGE);
}

/**
 * Source of a run's export: a path on the server (server admins only) or an
 * uploaded zip, stored as `<runId>.zip` so the sweep can tell whose it is.
 * `slackToken` downloads the file bytes the export lacks; it is kept in
 * memory for the run only, so a resumed run needs it again.
 */
export type ImportInput = ({ path: string } | { uploadedZip: string; runId: string }) & { slackToken?: string };

/**
 * Starts an import in the background and returns its run row at once. A
 * server path is read only for server admins, because it exposes the
 * server's files. A live run of the team raises IMPORT_RUNNING. An uploaded
 * zip is deleted when the run ends, whether it succeeded or failed.
 */
export async function startImport(ctx: AppContext, auth: Auth, teamId: string, input: ImportInput): Promise<SlackImportRow> {
  const team = await accessImportTeam(ctx, auth, teamId);
  if ('path' in input && !(await isServerAdmin(ctx, auth.user))) {
    throw new AppError('FORBIDDEN', 'Only server admins can import from a path on the server; upload the zip instead', { field: 'path' });
  }
  if ('path' in input && !fs.existsSync(input.path)) throw new AppError('VALIDATION_FAILED', 'No file or folder at this path on the server', { field: 'path' });

  const location = 'path' in input ? input.path : input.uploadedZip;
  const runId = await createImportRun(ctx, team.id, 'path' in input ? input.path : 'uploaded zip', auth.user.id, 'runId' in input ? input.runId : undefined);
  const controller = new AbortController();
  const running = runningOf(ctx);
  const done = executeImportRun(ctx, runId, team, location, { signal: controller.signal, slackToken: input.slackToken })
    // The run row stores the error, and executeImportRun logged it.
    .then(() => undefined, () => undefined)
    .finally(async () => {
      running.delete(runId);
      if ('uploadedZip' in input) await removeUploadedZip(ctx, input.uploadedZip, runId);
    });
  running.set(runId, { controller, done });
  return getImportRun(ctx, auth, team.id, runId);
}

/** Deletes an uploaded zip; a failure is logged, and the sweep deletes the file later. */
export async function removeUploadedZip(ctx: AppContext, file: string, runId: string): Promise<void> {
  try {
    await fs.promises.rm(file, { force: true });
  } catch (error) {
    ctx.logger.warn({ component: 'slack-import', runId, err: error }, 'deleting the uploaded Slack export failed');
  }
}

/** Returns a run of the team with its report so far; a stale running run is marked interrupted first. */
export async function getImportRun(ctx: AppContext, auth: Auth, teamId: string, runId: string): Promise<SlackImportRow> {
  const team = await accessImportTeam(ctx, auth, teamId);
  let run = await findRun(ctx.storage.db, team.id, runId);
  if (run === undefined) throw new AppError('IMPORT_NOT_FOUND', 'Import run not found', { field: 'importId' });
  if (run.status === 'running' && Number(run.updated_at) < ctx.now() - RUN_STALE_MS) {
    await interruptStaleRuns(ctx, team.id);
    run = (await findRun(ctx.storage.db, team.id, runId)) ?? run;
  }
  return run;
}

/** Stops this node's runs between two batches and waits for them; each resumes when started again. */
export async function stopImports(ctx: AppContext): Promise<void> {
  const running = [...runningOf(ctx).values()];
  for (const run of running) run.controller.abort();
  await Promise.all(running.map((run) => run.done));
}

/**
 * Finds the team of a command-line import by name, or creates it owned by
 * the first server admin. Raises a plain Error when several teams share the
 * name or no account exists to own a new team.
 */
export async function findOrCreateTeamByName(ctx: AppContext, name: string): Promise<TeamRow> {
  const teams = await ctx.storage.db.selectFrom('teams').selectAll().where('name', '=', name).execute();
  if (teams.length > 1) throw new Error(`${teams.length} teams are named "${name}"; rename all but one first`);
  if (teams[0] !== undefined) return teams[0];

  const owner = await findServerAdmin(ctx);
  if (owner === undefined) throw new Error('No account can own the new team: register the first account (the server admin), then import');
  // createTeam reads only the owner's account from the caller.
  return createTeam(ctx, { user: owner } as Auth, { name });
}

async function findServerAdmin(ctx: AppContext) {
  const candidates = ctx.config.adminUsers.length > 0
    ? await ctx.storage.db.selectFrom('users').selectAll().where('username_key', 'in', ctx.config.adminUsers).orderBy('created_at').execute()
    : await ctx.storage.db.selectFrom('users').selectAll().orderBy('created_at').orderBy('id').limit(1).execute();
  return candidates[0];
}
