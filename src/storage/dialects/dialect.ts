import type { Logger } from '../../platform/logger.js';
import type { CompiledQuery, Dialect, Kysely } from 'kysely';

/**
 * The differences between database engines. Code outside `storage/dialects/` uses
 * only this interface and the shared Kysely query layer.
 */
export interface StorageDialect {
  readonly name: 'sqlite' | 'postgres';
  /** True when one connection runs every write in turn, so grouping commits costs no concurrency. */
  readonly singleWriter: boolean;
  createKyselyDialect(): Dialect;
  /** Builds a dialect for long read-only queries off the event loop, where the engine's driver is synchronous. */
  createReaderKyselyDialect?(logger: Logger): Dialect;
  /** True when the error is a unique-constraint violation. */
  isUniqueViolation(error: unknown): boolean;
  /** True when the transaction failed only because of a concurrent one (deadlock, serialization) and may be retried. */
  isTransientConflict(error: unknown): boolean;
  /**
   * Inserts rows of one table, all with the keys of the first row, inside the
   * caller's open transaction `tx`. For bulk imports: SQLite runs one prepared
   * statement per row, which skips building SQL for each, and PostgreSQL sends
   * multi-row INSERTs. `ignoreConflicts` skips rows that hit a unique index.
   */
  insertMany(tx: Kysely<any>, table: string, rows: readonly object[], options?: { ignoreConflicts?: boolean }): Promise<void>;
  /**
   * Runs statements inside the caller's open transaction `tx` and drops their
   * results. They must be INSERT, UPDATE or DELETE statements compiled by
   * Kysely for this engine, and none may depend on another's writes. The
   * reason is that PostgreSQL runs them as one statement (all but the last as
   * WITH queries), which saves a round trip each. SQLite runs them one after another.
   */
  executeTogether(tx: Kysely<any>, statements: readonly CompiledQuery[]): Promise<void>;
  /** Closes anything the Kysely dialect does not close itself. */
  close(): Promise<void>;
}
