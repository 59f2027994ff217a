import pg from 'pg';
import { CompiledQuery, PostgresDialect, type Kysely } from 'kysely';
import type { StorageDialect } from './dialect.js';
import { executeWrite, findStatementName, nameStatement } from '../compiled-query.js';
import { unmarkWriteBehind, WriteBehindError } from '../write-behind.js';

// int8 (bigint) columns hold Unix-millisecond times and sequence numbers, all
// far below 2^53, so they are read as numbers rather than pg's default strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface PostgresOptions {
  connectionString: string;
  /** Schema for every table; tests use one schema per server so runs stay apart. */
  schema?: string;
  poolSize: number;
  statementTimeoutMs: number;
  /** Told when a pooled connection breaks, as it does when the server restarts. */
  onIdleError?: (error: Error) => void;
}

/** Result of a write sent behind, returned before it runs: no rows and no row count. */
const WRITTEN_BEHIND = { command: 'WRITE-BEHIND', rowCount: null, rows: [] };

/**
 * A pg client that sends each registered SQL text (see nameStatement) as a
 * named prepared statement, and that sends writes behind (see write-behind.ts).
 * pg parses a name once per connection and then only binds and executes it,
 * so PostgreSQL skips parsing and analysing the text again. A new connection,
 * such as one opened after a server restart, parses each name again on first
 * use. Kysely calls `query(text, values)`; every other form of call passes
 * through unchanged.
 */
class NamingClient extends pg.Client {
  /** Writes sent behind that wait for the connection's next statement. */
  #behind: Array<{ text: string; values: unknown[] }> = [];

  // Typed loosely because pg.Client.query has a dozen overloads that TypeScript cannot override one by one.
  override query(...args: any[]): any {
    const [text, values] = args;
    if (args.length !== 2 || typeof text !== 'string' || !Array.isArray(values)) {
      return (super.query as (...rest: unknown[]) => unknown)(...args);
    }
    const write = unmarkWriteBehind(text);
    if (write !== undefined) {
      this.#behind.push({ text: write, values });
      return Promise.resolve(WRITTEN_BEHIND);
    }
    return this.#behind.length === 0 ? this.#send(text, values) : this.#sendAfterWrites(text, values);
  }

  #send(text: string, values: unknown[]): Promise<pg.QueryResult> {
    const name = findStatementName(text);
    return name === undefined ? super.query(text, values) : super.query({ name, text, values });
  }

  /**
   * Sends the writes behind and then `text`, pipelined (the pool's clients run in pg's pipeline
   * mode) and in one write to the socket. Rejects with a WriteBehindError when a write failed.
   * A COMMIT waits for the writes' replies instead of joining them, because pg rejects a write
   * whose value it cannot serialise without sending it, and the server would commit the others.
   */
  async #sendAfterWrites(text: string, values: unknown[]): Promise<pg.QueryResult> {
    const writes = this.#behind;
    this.#behind = [];
    // A rollback undoes them anyway.
    if (/^rollback$/i.test(text)) return this.#send(text, values);
    if (/^commit$/i.test(text)) {
      await this.#settle(this.#sendPipelined(writes));
      return this.#send(text, values);
    }

    const sent = this.#sendPipelined([...writes, { text, values }]);
    const last = sent.pop()!;
    try {
      await this.#settle(sent);
    } catch (error) {
      // The statement after a failed write fails too, with "current transaction is aborted".
      last.catch(() => undefined);
      throw error;
    }
    return last;
  }

  #sendPipelined(statements: Array<{ text: string; values: unknown[] }>): Array<Promise<pg.QueryResult>> {
    const stream = (this as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection.stream;
    stream.cork();
    try {
      return statements.map((statement) => this.#send(statement.text, statement.values));
    } finally {
      stream.uncork();
    }
  }

  /** Waits for every write and rejects with a WriteBehindError carrying the first failure. */
  async #settle(writes: Array<Promise<pg.QueryResult>>): Promise<void> {
    const outcomes = await Promise.allSettled(writes);
    const failed = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed !== undefined) throw new WriteBehindError(failed.reason);
  }
}

/** PostgreSQL through a pg connection pool. */
export function createPostgresDialect(options: PostgresOptions): StorageDialect {
  const searchPath = options.schema === undefined ? '' : ` -c search_path=${options.schema}`;
  const pool = new pg.Pool({
    Client: NamingClient,
    // Pipeline mode sends a statement without waiting for the reply to the one before. Kysely
    // still waits for each reply before it sends the next, so only the writes sent behind overlap.
    pipeline: true,
    connectionString: options.connectionString,
    max: options.poolSize,
    connectionTimeoutMillis: 5000,
    options: `-c statement_timeout=${options.statementTimeoutMs}${searchPath}`,
  });

  // Without a listener, a pooled connection that breaks would crash the process: the pool reports
  // idle ones, and a connection in use reports on itself as well as failing its query.
  pool.on('error', (error) => options.onIdleError?.(error));
  pool.on('connect', (client) => client.on('error', (error) => options.onIdleError?.(error)));

  return {
    name: 'postgres',
    singleWriter: false,
    createKyselyDialect: () => new PostgresDialect({ pool }),
    isUniqueViolation: (error) => typeof error === 'object' && error !== null && 'code' in error && error.code === '23505',
    // 40P01: deadlock detected; 40001: serialization failure.
    isTransientConflict: (error) =>
      typeof error === 'object' && error !== null && 'code' in error && (error.code === '40P01' || error.code === '40001'),
    insertMany: async (tx, table, rows, options) => {
      const first = rows[0];
      if (first === undefined) return;
      // PostgreSQL binds at most 65,535 parameters per statement.
      const chunk = Math.max(1, Math.floor(60_000 / Object.keys(first).length));
      for (let start = 0; start < rows.length; start += chunk) {
        const insert = tx.insertInto(table).values(rows.slice(start, start + chunk) as Record<string, unknown>[]);
        await (options?.ignoreConflicts ? insert.onConflict((conflict) => conflict.doNothing()) : insert).execute();
      }
    },
    executeTogether,
    close: async () => {
      // Kysely's destroy() ends the pool; ending it twice would throw.
    },
  };
}

/**
 * Runs data-changing statements in one round trip: all but the last become
 * data-modifying WITH queries of the last, which PostgreSQL runs to completion
 * whether or not the last one reads them. They all see the snapshot taken before
 * the statement, so none may depend on another's writes. Placeholders are
 * renumbered after the parameters of the statements before, so the SQL may
 * contain `$n` only as a placeholder, as Kysely's builders compile values.
 * In a transaction that sends writes behind, the statement goes out with the
 * transaction's next one.
 */
async function executeTogether(tx: Kysely<any>, statements: readonly CompiledQuery[]): Promise<void> {
  if (statements.length <= 1) {
    for (const statement of statements) await executeWrite(tx, statement);
    return;
  }
  const parameters: unknown[] = [];
  for (const statement of statements) parameters.push(...statement.parameters);
  await executeWrite(tx, CompiledQuery.raw(combinedText(statements), parameters));
}

/** A node of the cache of combined texts, reached through the texts of the statements in turn. */
interface CombinedTexts {
  next: Map<string, CombinedTexts>;
  text?: string;
}

const combinedTexts: CombinedTexts = { next: new Map() };

/**
 * Returns the text of `statements` combined, from a cache when every statement is a registered
 * shape (see nameStatement), because every post builds the same combination. A prepared query
 * passes the same string object each time, and V8 keeps a string's hash, so neither these keys
 * nor the combined text, looked up again by name when it is sent, are hashed on every post.
 */
function combinedText(statements: readonly CompiledQuery[]): string {
  if (!statements.every((statement) => findStatementName(statement.sql) !== undefined)) return buildCombinedText(statements);

  let node = combinedTexts;
  for (const statement of statements) {
    let child = node.next.get(statement.sql);
    if (child === undefined) {
      child = { next: new Map() };
      node.next.set(statement.sql, child);
    }
    node = child;
  }
  if (node.text === undefined) {
    node.text = buildCombinedText(statements);
    // Statements of a fixed shape make a combined text of a fixed shape, so it is prepared too.
    nameStatement(node.text);
  }
  return node.text;
}

function buildCombinedText(statements: readonly CompiledQuery[]): string {
  let offset = 0;
  const parts = statements.map((statement) => {
    const start = offset;
    offset += statement.parameters.length;
    return statement.sql.replace(/\$(\d+)/g, (_placeholder, index: string) => `$${Number(index) + start}`);
  });
  const last = parts.pop() as string;
  const withQueries = parts.map((part, index) => `together_${index} AS (${part})`).join(', ');
  return `WITH ${withQueries} ${last}`;
}
