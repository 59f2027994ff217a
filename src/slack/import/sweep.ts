import fs from 'node:fs';
import path from 'node:path';
import type { AppContext } from '../../platform/context.js';
import { ID_PATTERN } from '../../platform/ids.js';
import { findLiveRunIds } from './queries.js';
import { interruptStaleRuns, RUN_STALE_MS } from './run.js';

/** Names of uploaded zips: the id of the run that reads them. */
const ZIP_NAME = new RegExp(`${ID_PATTERN.slice(0, -1)}\\.zip$`);

/** Returns the folder of uploaded export zips in the data folder. */
export function uploadFolder(ctx: AppContext): string {
  return path.join(ctx.config.dataDir, 'slack-imports');
}

/** Counts of what one sweep of import leftovers changed, and its duration. */
export interface ImportSweepResult {
  interruptedRuns: number;
  deletedZips: number;
  durationMs: number;
}

/**
 * Cleans up after runs whose node died: marks their stale rows interrupted
 * and deletes uploaded zips that no live run reads. A zip is spared while it
 * was written to within RUN_STALE_MS, because an upload in progress has no
 * run row yet. Several nodes may sweep at once; each deletes only the zips
 * in its own data folder.
 */
export async function sweepImportLeftovers(ctx: AppContext): Promise<ImportSweepResult> {
  const started = ctx.now();
  const interruptedRuns = (await interruptStaleRuns(ctx)).length;

  const folder = uploadFolder(ctx);
  const names = await fs.promises.readdir(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const old: string[] = [];
  for (const name of names.filter((entry) => ZIP_NAME.test(entry))) {
    const stat = await fs.promises.stat(path.join(folder, name)).catch(() => undefined);
    if (stat !== undefined && stat.mtimeMs < started - RUN_STALE_MS) old.push(name);
  }
  const live = await findLiveRunIds(ctx.storage.db, old.map((name) => name.slice(0, -'.zip'.length)), started - RUN_STALE_MS);

  let deletedZips = 0;
  for (const name of old) {
    const runId = name.slice(0, -'.zip'.length);
    if (live.has(runId)) continue;
    await fs.promises.rm(path.join(folder, name), { force: true });
    ctx.logger.info({ component: 'slack-import', runId }, 'deleted the uploaded zip of a run that is no longer running');
    deletedZips += 1;
  }

  const result = { interruptedRuns, deletedZips, durationMs: ctx.now() - started };
  ctx.logger.info({ component: 'slack-import', ...result }, 'Slack import sweep finished');
  return result;
}

/**
 * Sweeps import leftovers now in the background, then on the file sweep's
 * schedule (CHATTERBOX_FILE_SWEEP_INTERVAL_MS); an interval of 0 disables
 * both, as for the command line. Returns a function that stops the schedule
 * and waits for a sweep in progress.
 */
export function startImportSweeps(ctx: AppContext): () => Promise<void> {
  const intervalMs = ctx.config.files.sweepIntervalMs;
  if (intervalMs === 0) return async () => {};

  let running: Promise<void> | undefined;
  const run = () => {
    // A sweep still running when the next one is due is not doubled.
    if (running !== undefined) return;
    running = sweepImportLeftovers(ctx)
      .then(() => undefined)
      .catch((error: unknown) => ctx.logger.error({ component: 'slack-import', err: error }, 'Slack import sweep failed'))
      .finally(() => {
        running = undefined;
      });
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
