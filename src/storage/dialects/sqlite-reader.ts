import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import {
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
} from 'kysely';
import type { Logger } from '../../platform/logger.js';

/**
 * Read-only queries on the SQLite file from a worker thread with its own
 * connection, for the queries that may scan many rows (search). In WAL mode
 * the worker reads the last committed state beside the writer, and the event
 * loop stays free for other requests while such a query runs.
 *
 * The worker is started on the first query, so servers that never search pay
 * nothing. Its code is a script evaluated in the worker, because a worker
 * cannot load TypeScript when the server runs from source in tests.
 */

/** Statements a reader keeps prepared, by SQL text. */
const READER_STATEMENT_CACHE = 200;

/**
 * Opens `connection` on workerData.file in a worker, with the SQLCipher settings of
 * sqlite-encryption.ts when workerData.key is set. It needs workerData.driverPath.
 */
export const OPEN_IN_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driverPath);
const connection = new Database(workerData.file);
if (workerData.key !== '') {
  connection.pragma("cipher = 'sqlcipher'");
  connection.pragma('legacy = 4');
  connection.key(Buffer.from(workerData.key, 'utf8'));
  connection.pragma('temp_store = MEMORY');
}
connection.pragma('busy_timeout = 5000');
`;

/** Runs in the worker: opens the file, then runs each posted statement and posts its rows or its error. */
const WORKER_SOURCE = `${OPEN_IN_WORKER_SOURCE}
connection.pragma('query_only = ON');
const statements = new Map();
parentPort.on('message', ({ id, sql, parameters }) => {
  try {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = connection.prepare(sql);
      if (statements.size >= workerData.cacheSize) statements.delete(statements.keys().next().value);
      statements.set(sql, statement);
    }
    // query_only makes SQLite itself reject a write with SQLITE_READONLY.
    const rows = statement.reader ? statement.all(parameters) : (statement.run(parameters), []);
    parentPort.postMessage({ id, rows });
  } catch (error) {
    parentPort.postMessage({ id, error: { message: error.message, code: error.code } });
  }
});
`;

interface Pending {
  resolve(rows: unknown[]): void;
  reject(error: Error): void;
}

interface WorkerReply {
  id: number;
  rows?: unknown[];
  error?: { message: string; code?: string };
}

/** Error of a query that failed in the reader, with SQLite's error code. */
export class SqliteReaderError extends Error {
  readonly code: string | undefined;

  constructor(message: string, code: string | undefined) {
    super(message);
    this.name = 'SqliteReaderError';
    this.code = code;
  }
}

/** One worker thread and the queries waiting for its replies. */
class ReaderThread {
  readonly #pending = new Map<number, Pending>();
  readonly #worker: Worker;
  #nextId = 0;
  /** False once the thread has exited, so the driver starts a new one. */
  alive = true;

  constructor(file: string, key: string, logger: Logger) {
    const driverPath = createRequire(import.meta.url).resolve('better-sqlite3-multiple-ciphers');
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, key, driverPath, cacheSize: READER_STATEMENT_CACHE } });
    this.#worker.on('message', (reply: WorkerReply) => this.#settle(reply));
    this.#worker.on('error', (error) => {
      logger.error({ component: 'storage', err: error }, 'SQLite reader thread failed');
      this.#failAll(error);
    });
    this.#worker.on('exit', (code) => {
      this.alive = false;
      this.#failAll(new Error(`SQLite reader thread exited with code ${code}`));
    });
    // An idle reader must not keep the process alive; one with queries in flight must (see #settle and run).
    this.#worker.unref();
  }

  run(sql: string, parameters: readonly unknown[]): Promise<unknown[]> {
    if (!this.alive) return Promise.reject(new Error('SQLite reader thread has exited'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, sql, parameters });
    });
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }

  #settle(reply: WorkerReply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (reply.error !== undefined) pending.reject(new SqliteReaderError(reply.error.message, reply.error.code));
    else pending.resolve(reply.rows ?? []);
  }

  #failAll(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/** A Kysely driver whose one connection sends each query to the reader thread. It rejects transactions. */
class SqliteReaderDriver implements Driver {
  #thread: ReaderThread | undefined;

  constructor(
    private readonly file: string,
    private readonly key: string,
    private readonly logger: Logger,
  ) {}

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#thread?.alive !== true) this.#thread = new ReaderThread(this.file, this.key, this.logger);
    const thread = this.#thread;
    return {
      executeQuery: async <R>(query: CompiledQuery): Promise<QueryResult<R>> => ({ rows: (await thread.run(query.sql, query.parameters)) as R[] }),
      streamQuery: () => {
        throw new Error('The SQLite reader does not stream');
      },
    };
  }

  async beginTransaction(): Promise<void> {
    throw new Error('The SQLite reader runs no transactions: use the main connection');
  }

  async commitTransaction(): Promise<void> {}

  async rollbackTransaction(): Promise<void> {}

  async releaseConnection(): Promise<void> {}

  async destroy(): Promise<void> {
    await this.#thread?.close();
    this.#thread = undefined;
  }
}

/** Builds the Kysely dialect of the reader of a SQLite file. */
export function createSqliteReaderDialect(file: string, key: string, logger: Logger): Dialect {
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new SqliteReaderDriver(file, key, logger),
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  };
}
