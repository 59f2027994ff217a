import { RETENTION_PURGE_JOB } from '../../src/retention/schedule.js';
import type { TestServer } from './server.js';
import { settle } from './realtime.js';

/**
 * Counts the server's jobs that are still pending (due, leased or waiting for
 * a retry). Without a kind, the daily retention purge, which is always
 * pending for the next day, is left out.
 */
export async function countPendingJobs(server: TestServer, kind?: string): Promise<number> {
  const row = await server.server.ctx.storage.db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('status', '=', 'pending')
    .$if(kind !== undefined, (query) => query.where('kind', '=', kind as string))
    .$if(kind === undefined, (query) => query.where('kind', '!=', RETENTION_PURGE_JOB))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Waits until no job of the server is pending, so every notification decided so far was delivered. */
export async function waitForJobsIdle(server: TestServer, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await countPendingJobs(server)) > 0) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for the server's jobs to finish`);
    await settle(50);
  }
}
