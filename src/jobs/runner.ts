import { randomBytes } from 'node:crypto';
import type { JobsConfig } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { Storage } from '../storage/database.js';
import { completeJob, deleteFinishedJobs, failJob, leaseJob, listDueJobIds } from './queries.js';

/** One attempt of a job, as its handler receives it. */
export interface RunningJob<P = unknown> {
  id: string;
  kind: string;
  payload: P;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  log: Logger;
}

export type JobHandler<P = unknown> = (job: RunningJob<P>) => Promise<void>;

/** Thrown by a handler for a failure that no retry can mend: the job is marked failed at once. */
export class PermanentJobError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PermanentJobError';
  }
}

/** Thrown by a handler to retry after a given delay, such as a push service's Retry-After. */
export class RetryJobError extends Error {
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RetryJobError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** Finished jobs are kept this long, so their dedupe keys keep refusing repeats, then deleted. */
const FINISHED_RETENTION_MS = 7 * 24 * 3600_000;
const SWEEP_INTERVAL_MS = 10 * 60_000;

/**
 * Runs stored jobs (src/jobs/queries.ts) on every node that enables it. A
 * node leases a due job with one conditional update, runs its handler, and
 * marks it done. A failed attempt is retried with exponential backoff and
 * jitter until max_attempts. When a node stops during an attempt, its lease
 * runs out and any node takes the job again. So a job runs at least once,
 * and handlers make a repeat harmless (see the push handler).
 */
export class JobRunner {
  readonly #storage: Storage;
  readonly #config: JobsConfig;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #handlers = new Map<string, JobHandler<never>>();
  readonly #running = new Set<Promise<void>>();
  #pollTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #scanning = false;
  /** The scan in progress, which stop() waits for so that no job starts after it returns. */
  #currentScan: Promise<void> | undefined;
  #scanAgain = false;
  /** True when the last scan filled every free slot, so more jobs may be due than it took. */
  #slotsFilled = false;
  #stopped = true;

  constructor(storage: Storage, config: JobsConfig, logger: Logger, now: () => number = Date.now) {
    this.#storage = storage;
    this.#config = config;
    this.#log = logger.child({ component: 'jobs' });
    this.#now = now;
  }

  /** Registers the handler of a job kind; jobs of a kind with no handler stay pending. */
  register<P>(kind: string, handler: JobHandler<P>): void {
    this.#handlers.set(kind, handler as JobHandler<never>);
  }

  /** Starts polling for due jobs, unless the configuration disables the runner on this node. */
  start(): void {
    if (!this.#config.enabled || !this.#stopped) return;
    this.#stopped = false;
    this.#log.info({ kinds: [...this.#handlers.keys()], concurrency: this.#config.concurrency }, 'job runner started');
    this.#schedulePoll();
    this.#sweepTimer = setInterval(() => void this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
    this.poke();
  }

  /** Looks for due jobs now, such as right after a commit that enqueued one. */
  poke(): void {
    if (this.#stopped) return;
    if (this.#scanning) {
      this.#scanAgain = true;
      return;
    }
    setImmediate(() => void this.#startScan());
  }

  /** Stops taking jobs and waits for the attempts in progress to finish. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#pollTimer);
    clearInterval(this.#sweepTimer);
    // A scan may be leasing a job right now, and its attempt joins #running before the scan ends.
    await this.#currentScan;
    const running = this.#running.size;
    await Promise.allSettled([...this.#running]);
    this.#log.info({ finishedOnStop: running }, 'job runner stopped');
  }

  #schedulePoll(): void {
    clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => void this.#startScan(), this.#config.pollIntervalMs);
    this.#pollTimer.unref();
  }

  #startScan(): Promise<void> {
    if (this.#scanning) return this.#currentScan ?? Promise.resolve();
    const scan = this.#scan();
    this.#currentScan = scan;
    return scan;
  }

  async #scan(): Promise<void> {
    if (this.#stopped || this.#scanning) return;
    this.#scanning = true;
    try {
      do {
        this.#scanAgain = false;
        const free = this.#config.concurrency - this.#running.size;
        if (free <= 0) {
          // Every slot is busy, so due jobs were not looked for, and the attempt that frees a slot scans.
          this.#slotsFilled = true;
          break;
        }
        const now = this.#now();
        const ids = await listDueJobIds(this.#storage.db, now, free);
        for (const id of ids) {
          if (this.#stopped) break;
          const token = randomBytes(12).toString('hex');
          const row = await leaseJob(this.#storage.db, id, token, now, this.#config.leaseMs);
          if (row === undefined) continue;
          this.#track(this.#attempt(row.id, row.kind, row.payload, Number(row.attempts), Number(row.max_attempts), token));
        }
        this.#slotsFilled = ids.length === free;
        if (this.#slotsFilled) this.#scanAgain = true;
      } while (this.#scanAgain && !this.#stopped);
    } catch (error) {
      this.#log.error({ err: error }, 'reading due jobs failed');
    } finally {
      this.#scanning = false;
      if (!this.#stopped) this.#schedulePoll();
    }
  }

  #track(attempt: Promise<void>): void {
    this.#running.add(attempt);
    void attempt.finally(() => {
      this.#running.delete(attempt);
      // A slot is free again: jobs the last scan left waiting for one can start without waiting for
      // the next poll. When it left none, new jobs come with the poke after their commit or with
      // the poll, so this saves a query per job.
      if (this.#slotsFilled) this.poke();
    });
  }

  async #attempt(id: string, kind: string, rawPayload: string, attempt: number, maxAttempts: number, token: string): Promise<void> {
    const log = this.#log.child({ jobId: id, kind, attempt });
    const handler = this.#handlers.get(kind);
    const started = this.#now();
    try {
      if (handler === undefined) throw new RetryJobError(`no handler for job kind ${kind} on this node`, this.#config.retryMaxDelayMs);
      await handler({ id, kind, payload: JSON.parse(rawPayload) as never, attempt, maxAttempts, log });
      if (!(await completeJob(this.#storage.db, id, token, this.#now()))) {
        log.warn('job finished after its lease ran out; another node may run it again');
        return;
      }
      log.debug({ durationMs: this.#now() - started }, 'job done');
    } catch (error) {
      await this.#fail(id, token, attempt, maxAttempts, error, log);
    }
  }

  async #fail(id: string, token: string, attempt: number, maxAttempts: number, error: unknown, log: Logger): Promise<void> {
    const now = this.#now();
    const message = error instanceof Error ? error.message : String(error);
    const permanent = error instanceof PermanentJobError || attempt >= maxAttempts;
    const retryAt = permanent ? undefined : now + this.#retryDelay(attempt, error);
    try {
      await failJob(this.#storage.db, id, token, message, now, retryAt);
    } catch (storeError) {
      log.error({ err: storeError }, 'recording a failed job attempt failed; the lease runs out instead');
    }
    if (retryAt === undefined) log.error({ err: error, maxAttempts }, 'job failed for good');
    else log.warn({ err: error, retryInMs: retryAt - now }, 'job attempt failed; retrying');
  }

  /** Returns the delay before the next attempt: doubling from the base, capped, with ±25% jitter so retries spread out. */
  #retryDelay(attempt: number, error: unknown): number {
    if (error instanceof RetryJobError) return Math.min(error.retryAfterMs, this.#config.retryMaxDelayMs);
    const delay = Math.min(this.#config.retryMaxDelayMs, this.#config.retryBaseDelayMs * 2 ** (attempt - 1));
    return Math.round(delay * (0.75 + Math.random() * 0.5));
  }

  async #sweep(): Promise<void> {
    try {
      const deleted = await deleteFinishedJobs(this.#storage.db, this.#now() - FINISHED_RETENTION_MS);
      if (deleted > 0) this.#log.info({ deleted }, 'finished jobs deleted');
    } catch (error) {
      this.#log.error({ err: error }, 'deleting finished jobs failed');
    }
  }
}
