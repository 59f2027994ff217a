import pg from 'pg';
import { CompiledQuery, PostgresDialect, type Kysely } from 'kysely';
import type { StorageDialect } from './dialect.js';
import { findStatementName, nameStatement } from '../compiled-query.js';

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

/**
 * A pg client that sends each registered SQL text (see nameStatement) as a
 * named prepared statement. pg parses a name once per connection and then only
 * binds and executes it, so PostgreSQL skips parsing and analysing the text
 * again. A new connection, such as one opened after a server restart, parses
 * each name again on first use. Kysely calls `query(text, values)`; every other
 * form of call passes through unchanged.
 */
class NamingClient extends pg.Client {
  // Typed loosely because pg.Client.query has a dozen overloads that TypeScript cannot override one by one.
  override query(...args: any[]): any {
    const [text, values] = args;
    if (args.length === 2 && typeof text === 'string' && Array.isArray(values)) {
      const name = findStatementName(text);
      if (name !== undefined) return super.query({ name, text, values });
    }
    return (super.query as (...rest: unknown[]) => unknown)(...args);
  }
}

/** PostgreSQL through a pg connection pool. */
export function createPostgresDialect(options: PostgresOptions): StorageDialect {
  const searchPath = options.schema === undefined ? '' : ` -c search_path=${options.schema}`;
  const pool = new pg.Pool({
    Client: NamingClient,
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
 */
async function executeTogether(tx: Kysely<any>, statements: readonly CompiledQuery[]): Promise<void> {
  if (statements.length <= 1) {
    for (const statement of statements) await tx.executeQuery(statement);
    return;
  }
  const parameters: unknown[] = [];
  const parts = statements.map((statement) => {
    const offset = parameters.length;
    parameters.push(...statement.parameters);
    return statement.sql.replace(/\$(\d+)/g, (_placeholder, index: string) => `$${Number(index) + offset}`);
  });
  const last = parts.pop() as string;
  const withQueries = parts.map((part, index) => `together_${index} AS (${part})`).join(', ');
  const text = `WITH ${withQueries} ${last}`;
  // Statements of a fixed shape make a combined text of a fixed shape, so it is prepared too.
  if (statements.every((statement) => findStatementName(statement.sql) !== undefined)) nameStatement(text);
  await tx.executeQuery(CompiledQuery.raw(text, parameters));
}
