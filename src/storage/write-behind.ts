import { CompiledQuery } from 'kysely';

/**
 * Write-behind: in a transaction that allows it (see runTransaction), a write
 * whose result the caller does not read is not sent at once. The PostgreSQL dialect keeps
 * it and sends it with the transaction's next statement that returns something,
 * or with its COMMIT, all pipelined in one write to the socket. The server
 * still runs them in the order they were issued, so each statement sees the
 * writes before it. Only where a write fails does the order of events change:
 * its error surfaces at that later statement, wrapped in a WriteBehindError,
 * which tells the caller that it cannot know which earlier write failed.
 */

/** Prefix of the SQL text of a write sent behind. The dialect removes it before it sends the text. */
export const WRITE_BEHIND_PREFIX = '/* write-behind */ ';

/** Marks a compiled write to be sent behind. */
export function markWriteBehind(query: CompiledQuery): CompiledQuery {
  return CompiledQuery.raw(WRITE_BEHIND_PREFIX + query.sql, [...query.parameters]);
}

/** Error of the statement that carried a failed write sent behind. Its `cause` is the write's own error. */
export class WriteBehindError extends Error {
  constructor(cause: unknown) {
    super('A write sent behind in this transaction failed', { cause });
    this.name = 'WriteBehindError';
  }
}
