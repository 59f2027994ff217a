import { CompiledQuery } from 'kysely';

/**
 * Write-behind: in a transaction that allows it (see runTransaction), a write
 * whose result the caller does not read is not sent at once. The PostgreSQL
 * dialect keeps it and sends it pipelined, in one write to the socket, with the
 * transaction's next statement that returns rows, or just before its COMMIT.
 * The server still runs them in the order they were issued, so each statement
 * reads the writes issued before it. Only where a write fails does the order of
 * events change. Its error surfaces at that later statement, wrapped in a
 * WriteBehindError, which marks it as the error of an earlier write that the
 * caller cannot identify.
 */

/** Prefix of the SQL text of a write sent behind. The dialect removes it before it sends the text. */
const WRITE_BEHIND_PREFIX = '/* write-behind */ ';

// Marked texts of fixed-shape writes by their text, and the reverse. A marked text is then the same
// string object on every run, so V8 hashes it once, and the dialect finds the statement's name from
// the original text without hashing a new string per write.
const markedTexts = new Map<string, string>();
const originalTexts = new Map<string, string>();

/**
 * Marks a compiled write to be sent behind. Pass `fixedShape` only for a text that recurs, such
 * as a registered statement (see nameStatement), because each such text is kept for good.
 */
export function markWriteBehind(query: CompiledQuery, fixedShape: boolean): CompiledQuery {
  let marked = markedTexts.get(query.sql);
  if (marked === undefined) {
    marked = WRITE_BEHIND_PREFIX + query.sql;
    if (fixedShape) {
      markedTexts.set(query.sql, marked);
      originalTexts.set(marked, query.sql);
    }
  }
  return CompiledQuery.raw(marked, query.parameters as unknown[]);
}

/** Returns the text of a write that markWriteBehind marked, without its mark, or undefined for a text without one. */
export function unmarkWriteBehind(text: string): string | undefined {
  if (!text.startsWith(WRITE_BEHIND_PREFIX)) return undefined;
  return originalTexts.get(text) ?? text.slice(WRITE_BEHIND_PREFIX.length);
}

/** Error of the statement that carried a failed write sent behind. Its `cause` is the write's own error. */
export class WriteBehindError extends Error {
  constructor(cause: unknown) {
    super('A write sent behind in this transaction failed', { cause });
    this.name = 'WriteBehindError';
  }
}
