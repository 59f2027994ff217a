import { enqueueJob } from '../jobs/queries.js';
import type { AppContext } from '../platform/context.js';
import { purgeExpiredMessages } from './purge.js';

/** Kind of the stored job that runs the retention purge. */
export const RETENTION_PURGE_JOB = 'retention.purge';

/** Time between two purges. A period is at least 365 days, so a day's delay keeps nothing noticeably longer. */
export const RETENTION_PURGE_INTERVAL_MS = 24 * 3600 * 1000;

/** Attempts of one day's purge. A purge that failed for good is tried again the next day. */
const PURGE_MAX_ATTEMPTS = 3;

/**
 * Registers the purge job on the node's job runner. Each run schedules the
 * next one a day later before it purges. The job runner's lease makes one node at a time run
 * it, and the dedupe key (the UTC date of the run) stores at most one purge a
 * day, however many nodes start.
 */
export function registerRetentionPurge(ctx: AppContext): void {
  ctx.jobs.register(RETENTION_PURGE_JOB, async (job) => {
    // The next run is stored first, so a purge that fails every attempt does not end the schedule.
    await scheduleRetentionPurge(ctx, ctx.now() + RETENTION_PURGE_INTERVAL_MS);
    const reports = await purgeExpiredMessages(ctx);
    const deleted = reports.reduce((sum, report) => sum + report.messagesDeleted, 0);
    job.log.info({ teams: reports.length, messagesDeleted: deleted }, 'retention purge finished');
  });
}

/**
 * Stores the purge job for `runAt`, unless a purge is already stored for
 * that UTC day. Returns true when it stored one. Nodes call it at start, so
 * a deployment whose schedule was lost (every attempt failed) starts again.
 */
export async function scheduleRetentionPurge(ctx: AppContext, runAt: number = ctx.now()): Promise<boolean> {
  const day = new Date(runAt).toISOString().slice(0, 10);
  const stored = await enqueueJob(
    ctx.storage.db,
    { kind: RETENTION_PURGE_JOB, payload: {}, dedupeKey: `${RETENTION_PURGE_JOB}:${day}`, runAt, maxAttempts: PURGE_MAX_ATTEMPTS },
    ctx.now(),
  );
  if (stored) ctx.logger.info({ component: 'retention', runAt: new Date(runAt).toISOString() }, 'retention purge scheduled');
  return stored;
}
