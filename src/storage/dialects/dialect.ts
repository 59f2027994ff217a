import type { Logger } from '../../platform/logger.js';
import type { Dialect } from 'kysely';

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
  /** Closes anything the Kysely dialect does not close itself. */
  close(): Promise<void>;
}
