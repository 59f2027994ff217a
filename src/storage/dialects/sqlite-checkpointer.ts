import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../platform/logger.js';
import { RepeatThrottle } from '../../platform/redis.js';
import { OPEN_IN_WORKER_SOURCE } from './sqlite-reader.js';

/** Time between two checkpoints of the worker. A checkpoint writes and syncs the files in the worker, so it blocks only the worker. */
export const CHECKPOINT_INTERVAL_MS = 250;

/**
 * WAL pages after which the writer checkpoints on its own, four times SQLite's
 * default. While the worker keeps up the WAL restarts before it gets there,
 * so this applies only when the worker has stopped or falls behind.
 */
export const WRITER_CHECKPOINT_PAGES = 4000;

/** Runs in the worker: copies the WAL into the database file at every interval, and posts what failed. */
const WORKER_SOURCE = `${OPEN_IN_WORKER_SOURCE}
setInterval(() => {
  try {
    // PASSIVE copies what no reader still needs and never calls the busy handler, so it waits for
    // neither the writer nor the readers (SQLite's documentation of sqlite3_wal_checkpoint_v2).
    connection.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    parentPort.postMessage({ error: { message: error.message, code: error.code } });
  }
}, workerData.intervalMs);
`;

/**
 * Checkpoints a SQLite file in WAL mode from a worker thread with its own
 * connection. Left to the writer, a commit that takes the WAL past 1,000 pages
 * copies them into the database file and syncs it on the event loop. That
 * made a commit of a group of posts take about twice as long and held back
 * every request and delivery meanwhile.
 */
export class SqliteCheckpointer {
  readonly #worker: Worker;
  readonly #failures = new RepeatThrottle();

  constructor(file: string, key: string, logger: Logger, intervalMs = CHECKPOINT_INTERVAL_MS) {
    const driverPath = createRequire(import.meta.url).resolve('better-sqlite3-multiple-ciphers');
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, key, driverPath, intervalMs } });
    this.#worker.on('message', (reply: { error: { message: string; code?: string } }) => {
      const skipped = this.#failures.take();
      if (skipped !== undefined) logger.warn({ component: 'storage', err: reply.error, skipped }, 'SQLite checkpoint failed; the writer checkpoints if the WAL keeps growing');
    });
    this.#worker.on('error', (error) => logger.error({ component: 'storage', err: error }, `SQLite checkpoint thread failed; from now on the writer checkpoints past ${WRITER_CHECKPOINT_PAGES} WAL pages`));
    // The thread must not keep a process alive whose server has stopped.
    this.#worker.unref();
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}
