import fs from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { openSqliteFile } from '../sqlite-encryption.js';
import { SqliteDialect, type CompiledQuery, type DialectAdapter, type QueryResult } from 'kysely';
import { executeCompiled, registerDirectExecutor, type DirectExecutor } from '../compiled-query.js';
import type { StorageDialect } from './dialect.js';
import { createSqliteReaderDialect } from './sqlite-reader.js';
import { SqliteCheckpointer, WRITER_CHECKPOINT_PAGES } from './sqlite-checkpointer.js';
import { createLogger, type Logger } from '../../platform/logger.js';

/**
 * Opens the embedded default: one SQLite file in write-ahead-log mode,
 * encrypted when `key` is not empty, checkpointed from a worker thread.
 */
export function createSqliteDialect(file: string, key = '', logger: Logger = createLogger('silent')): StorageDialect {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const connection = openSqliteFile(file, key);
  // The file contains password hashes and every message, so only its owner may read it.
  fs.chmodSync(file, 0o600);

  // WAL lets readers run beside the single writer; NORMAL sync is durable
  // across process crashes and loses at most the last commits on power loss.
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = NORMAL');
  connection.pragma('foreign_keys = ON');
  connection.pragma('busy_timeout = 5000');
  connection.pragma(`wal_autocheckpoint = ${WRITER_CHECKPOINT_PAGES}`);
  const checkpointer = new SqliteCheckpointer(file, key, logger);

  const inserts = new Map<string, BetterSqlite3.Statement>();
  const cached = withStatementCache(connection);
  // Outside a transaction a statement runs at once only while no transaction is open, as it would
  // once Kysely's connection lock is free. Otherwise it would run inside that transaction.
  const runDirect = (query: CompiledQuery, fromTransaction: boolean): QueryResult<unknown> | undefined => {
    if (!fromTransaction && connection.inTransaction) return undefined;
    return runStatement(cached.prepare(query.sql), query.parameters);
  };
  return {
    name: 'sqlite',
    singleWriter: true,
    createKyselyDialect: () => new WriterDialect({ database: cached }, runDirect),
    createReaderKyselyDialect: (logger) => createSqliteReaderDialect(file, key, logger),
    isUniqueViolation: (error) =>
      typeof error === 'object' &&
      error !== null &&
      'code' in error &&
      (error.code === 'SQLITE_CONSTRAINT_UNIQUE' || error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'),
    // One connection runs every transaction in turn, so transactions never conflict.
    isTransientConflict: () => false,
    // The caller's transaction owns the one connection, so statements run on it directly are part of it.
    insertMany: async (_tx, table, rows, options) => insertRows(connection, inserts, table, rows, options?.ignoreConflicts === true),
    executeTogether: async (tx, statements) => {
      for (const statement of statements) await executeCompiled(tx, statement);
    },
    close: async () => {
      await checkpointer.close();
      if (connection.open) connection.close();
    },
  };
}

/**
 * Kysely's SQLite dialect that runs compiled queries directly on the writer
 * connection (see executeCompiled). A transaction owns that one connection from
 * BEGIN to COMMIT, because Kysely's driver holds its connection lock meanwhile.
 * So a transaction's statements run at once, and others only while no
 * transaction is open.
 */
class WriterDialect extends SqliteDialect {
  readonly #runDirect: DirectExecutor;

  constructor(config: ConstructorParameters<typeof SqliteDialect>[0], runDirect: DirectExecutor) {
    super(config);
    this.#runDirect = runDirect;
  }

  override createAdapter(): DialectAdapter {
    const adapter = super.createAdapter();
    registerDirectExecutor(adapter, this.#runDirect);
    return adapter;
  }
}

/** Runs a prepared statement and returns what Kysely's SQLite driver would. */
function runStatement(statement: BetterSqlite3.Statement, parameters: readonly unknown[]): QueryResult<unknown> {
  if (statement.reader) return { rows: statement.all(parameters) };
  const { changes, lastInsertRowid } = statement.run(parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}

/** Most distinct statements kept prepared; the application issues a few hundred at most. */
const STATEMENT_CACHE_SIZE = 1000;

/**
 * Wraps the connection so that Kysely's prepare() reuses statements by SQL
 * text. Kysely prepares every query again otherwise, which profiling showed
 * to cost about an eighth of the server's CPU on the posting path.
 */
function withStatementCache(connection: BetterSqlite3.Database) {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => connection.close(),
    prepare(sql: string): BetterSqlite3.Statement {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = connection.prepare(sql);
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value as string);
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}

/** Runs one cached INSERT per row; the few statement shapes of bulk imports are kept prepared in `cache`. */
function insertRows(
  connection: BetterSqlite3.Database,
  cache: Map<string, BetterSqlite3.Statement>,
  table: string,
  rows: readonly object[],
  ignoreConflicts: boolean,
): void {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first);
  const text = `INSERT ${ignoreConflicts ? 'OR IGNORE ' : ''}INTO "${table}" (${columns.map((column) => `"${column}"`).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
  let statement = cache.get(text);
  if (statement === undefined) {
    statement = connection.prepare(text);
    cache.set(text, statement);
  }
  for (const row of rows) statement.run(columns.map((column) => (row as Record<string, unknown>)[column] ?? null));
}
