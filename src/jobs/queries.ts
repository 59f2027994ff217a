import type { CompiledQuery } from 'kysely';
import type { Db, Tx } from '../storage/database.js';
import { prepareQuery } from '../storage/compiled-query.js';
import type { JobRow } from '../storage/schema.js';
import { newId } from '../platform/ids.js';

/** Attempts of a job unless its enqueuer sets another number. */
export const DEFAULT_MAX_ATTEMPTS = 8;

export interface NewJob {
  kind: string;
  payload: unknown;
  /** Makes the job unique: a second job with the same key is not stored, whatever the state of the first. */
  dedupeKey?: string;
  runAt?: number;
  maxAttempts?: number;
}

/**
 * Stores a job, usually inside the transaction that makes the change it
 * follows, so the job exists exactly when the change was committed. Returns
 * false when a job with the same dedupe key exists already.
 */
export async function enqueueJob(db: Db | Tx, job: NewJob, now: number): Promise<boolean> {
  const result = await db.executeQuery(enqueueJobStatement(db, job, now));
  return result.rows.length > 0;
}

/** Builds the statement of enqueueJob, to run together with others (StorageDialect.executeTogether). */
export function enqueueJobStatement(db: Db | Tx, job: NewJob, now: number): CompiledQuery<{ id: string }> {
  return insertJobQuery.compile(db, {
    id: newId(),
    kind: job.kind,
    payload: JSON.stringify(job.payload),
    dedupeKey: job.dedupeKey ?? null,
    runAt: job.runAt ?? now,
    maxAttempts: job.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    now,
  });
}

// Prepared because every post enqueues its notifications.
const insertJobQuery = prepareQuery<{ id: string; kind: string; payload: string; dedupeKey: string | null; runAt: number; maxAttempts: number; now: number }>()(
  (db, param) =>
    db
      .insertInto('jobs')
      .values({
        id: param('id'),
        kind: param('kind'),
        payload: param('payload'),
        dedupe_key: param('dedupeKey'),
        status: 'pending',
        run_at: param('runAt'),
        attempts: 0,
        max_attempts: param('maxAttempts'),
        lease_token: null,
        lease_until: null,
        last_error: null,
        created_at: param('now'),
        updated_at: param('now'),
      })
      .onConflict((conflict) => conflict.column('dedupe_key').doNothing())
      .returning('id'),
);

/** Lists the ids of pending jobs that are due, including those whose lease ran out, oldest first. */
export async function listDueJobIds(db: Db, now: number, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('jobs')
    .select('id')
    .where('status', '=', 'pending')
    .where('run_at', '<=', now)
    .orderBy('run_at')
    .limit(limit)
    .execute();
  return rows.map((row) => row.id);
}

/**
 * Takes the lease of a due job. The update matches only while the job is
 * still pending and due, so of several nodes racing for one job exactly one
 * gets it. Leasing moves run_at to the end of the lease: a job whose node
 * stopped during the attempt becomes due again then.
 */
export async function leaseJob(db: Db, id: string, token: string, now: number, leaseMs: number): Promise<JobRow | undefined> {
  return db
    .updateTable('jobs')
    .set((eb) => ({
      lease_token: token,
      lease_until: now + leaseMs,
      run_at: now + leaseMs,
      attempts: eb('attempts', '+', 1),
      updated_at: now,
    }))
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where('run_at', '<=', now)
    .returningAll()
    .executeTakeFirst();
}

/** Marks a leased job done; returns false when the lease was lost to another node meanwhile. */
export async function completeJob(db: Db, id: string, token: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('jobs')
    .set({ status: 'done', lease_token: null, lease_until: null, last_error: null, updated_at: now })
    .where('id', '=', id)
    .where('lease_token', '=', token)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Releases a failed attempt: the job runs again at `retryAt`, or is marked failed when retryAt is undefined. */
export async function failJob(db: Db, id: string, token: string, error: string, now: number, retryAt: number | undefined): Promise<boolean> {
  const result = await db
    .updateTable('jobs')
    .set({
      status: retryAt === undefined ? 'failed' : 'pending',
      run_at: retryAt ?? now,
      lease_token: null,
      lease_until: null,
      last_error: error.slice(0, 1000),
      updated_at: now,
    })
    .where('id', '=', id)
    .where('lease_token', '=', token)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Deletes finished jobs last changed before `before`, and returns how many. */
export async function deleteFinishedJobs(db: Db, before: number): Promise<number> {
  const result = await db.deleteFrom('jobs').where('status', 'in', ['done', 'failed']).where('updated_at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export function findJobByDedupeKey(db: Db, dedupeKey: string): Promise<JobRow | undefined> {
  return db.selectFrom('jobs').selectAll().where('dedupe_key', '=', dedupeKey).executeTakeFirst();
}
