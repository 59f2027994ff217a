import { createHash } from 'node:crypto';
import { CompiledQuery, PostgresAdapter, type Compilable, type DialectAdapter, type QueryResult, type RawBuilder } from 'kysely';
import type { Db, Tx } from './database.js';
import { markWriteBehind } from './write-behind.js';

/** One parameter of the compiled SQL: a named value given at each run, or a constant of the built query. */
type Slot = { name: string } | { value: unknown };

/** Stands for the value of the named parameter of each run. */
export type Param<P> = <K extends keyof P & string>(name: K) => P[K];

/** Prefix of the placeholder of a named parameter while the query is built. Its NUL character appears in no value of the prepared queries. */
const MARKER_PREFIX = '\u0000cb-param:';

/**
 * Runs a compiled query at once on the engine's connection and returns its
 * result, or returns undefined when it must wait for Kysely's executor.
 * `fromTransaction` is true when the caller is a transaction on that connection.
 */
export type DirectExecutor = (query: CompiledQuery, fromTransaction: boolean) => QueryResult<unknown> | undefined;

/** Direct executors by the adapter of the Kysely instance that may use them. */
const directExecutors = new WeakMap<DialectAdapter, DirectExecutor>();

/** Executors of the transactions whose work is running inside runTransaction. */
const directTransactions = new WeakSet<object>();

/** Executors of the transactions, among directTransactions, that send writes behind (see write-behind.ts). */
const writeBehindTransactions = new WeakSet<object>();

/**
 * Runs `work` in a transaction of `db`, whose compiled queries may take the
 * direct executor while `work` runs, the only time the transaction is sure to
 * be open. Used afterwards, the transaction goes through Kysely's executor,
 * which rejects a query on a transaction that has ended. Directly, such a
 * query would join whatever transaction is open then. With `writeBehind`,
 * executeWrite sends its writes behind while `work` runs.
 */
export function runTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>, options: { writeBehind?: boolean } = {}): Promise<T> {
  return db.transaction().execute(async (tx) => {
    const executor = tx.getExecutor();
    directTransactions.add(executor);
    if (options.writeBehind === true) writeBehindTransactions.add(executor);
    try {
      return await work(tx);
    } finally {
      directTransactions.delete(executor);
      writeBehindTransactions.delete(executor);
    }
  });
}

/**
 * Runs a write whose result the caller does not read. In a transaction that
 * sends writes behind, it resolves at once and the write goes out with the
 * transaction's next statement. Elsewhere it runs as executeCompiled does.
 */
export async function executeWrite(db: Db | Tx, query: CompiledQuery): Promise<void> {
  if (db.isTransaction && writeBehindTransactions.has(db.getExecutor())) await db.executeQuery(markWriteBehind(query, findStatementName(query.sql) !== undefined));
  else await executeCompiled(db, query);
}

/**
 * Lets the Kysely instance with this adapter run compiled queries through
 * `executor`. Only an engine with a single connection, which a transaction
 * owns for its whole run (SQLite's writer), may register one.
 */
export function registerDirectExecutor(adapter: DialectAdapter, executor: DirectExecutor): void {
  directExecutors.set(adapter, executor);
}

/**
 * Runs a compiled query on `db`. Where the engine registered a direct executor
 * and `db` has no plugins, the query runs at once on the connection: from a
 * transaction only inside runTransaction, and from outside one when the
 * executor allows. Kysely's executor would wait for its connection lock and
 * pass the query through a chain of promises, which took about 7% of the
 * server's CPU in a profile of the storage benchmark on SQLite.
 */
export function executeCompiled<R>(db: Db | Tx, query: CompiledQuery<R>): Promise<QueryResult<R>> {
  const executor = db.getExecutor();
  // Plugins transform results in Kysely's executor, so a database or transaction with plugins keeps it.
  const direct = executor.plugins.length === 0 ? directExecutors.get(executor.adapter) : undefined;
  const fromTransaction = db.isTransaction;
  if (direct === undefined || (fromTransaction && !directTransactions.has(executor))) return db.executeQuery<R>(query);
  let result: QueryResult<unknown> | undefined;
  try {
    result = direct(query, fromTransaction);
  } catch (error) {
    return Promise.reject(error);
  }
  return result === undefined ? db.executeQuery<R>(query) : Promise.resolve(result as QueryResult<R>);
}

/** Names of the SQL texts that run often, by text. Only compiled shapes enter it, so it stays small. */
const statementNames = new Map<string, string>();

/**
 * Registers `sql` as a statement that runs often with this exact text and
 * returns its name. PostgreSQL then parses it once per connection as a named
 * prepared statement (see dialects/postgres.ts). The name is a hash of the
 * text, so a changed query gets a new name. The statement must list its
 * columns: a prepared `SELECT *` or `RETURNING *` fails with "cached plan must
 * not change result type" once a migration adds a column to its table. Only
 * texts of a fixed shape may be registered, because every connection keeps
 * each registered statement it has run until it closes.
 */
export function nameStatement(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = `cb_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`;
    statementNames.set(sql, name);
  }
  return name;
}

/** Returns the name that nameStatement gave `sql`, or undefined for a text never registered. */
export function findStatementName(sql: string): string | undefined {
  return statementNames.get(sql);
}

/**
 * `true` when `Listed` names every column of `Row`, and `never` otherwise. Assigning `true` to a
 * constant of this type makes a column list of a prepared statement fail to compile once the
 * table gains a column that the list lacks.
 */
export type ListsEveryColumn<Row, Listed extends ReadonlyArray<keyof Row>> = [Exclude<keyof Row, Listed[number]>] extends [never] ? true : never;

/** True for the stand-in value of a named parameter while a PreparedQuery is built. */
export function isParameterMarker(value: unknown): boolean {
  return typeof value === 'string' && value.startsWith(MARKER_PREFIX);
}

/**
 * A query that Kysely builds and compiles once per database engine and that
 * then runs with new parameters. Kysely builds and compiles a query on every
 * run otherwise, which the delivery benchmark's CPU profile showed as at
 * least 6% of the server's busy time while posting. Use it for statements that run on every post, whose shape does
 * not change with their values.
 *
 * `build` receives `param(name)`, which stands for the value of that name in
 * the parameters of each run. Every value that varies must come through
 * `param`; a value written into the builder is kept as a constant.
 */
export class PreparedQuery<P extends Record<string, unknown>, R> {
  readonly #build: (db: Db | Tx, param: Param<P>) => Compilable<R>;
  // Keyed by Kysely's adapter, which a transaction shares with its database, so one SQL text serves each engine.
  readonly #compiled = new WeakMap<DialectAdapter, { sql: string; slots: Slot[] }>();

  constructor(build: (db: Db | Tx, param: Param<P>) => Compilable<R>) {
    this.#build = build;
  }

  /** Runs the query on `db` (a database or a transaction) with the given parameters. */
  execute(db: Db | Tx, parameters: P): Promise<QueryResult<R>> {
    return executeCompiled(db, this.compile(db, parameters));
  }

  /** Returns the query for `db`'s engine with the given parameters, to run later. */
  compile(db: Db | Tx, parameters: P): CompiledQuery<R> {
    const { sql, slots } = this.#compile(db);
    const values = slots.map((slot) => ('name' in slot ? parameters[slot.name] : slot.value));
    return CompiledQuery.raw(sql, values) as CompiledQuery<R>;
  }

  #compile(db: Db | Tx): { sql: string; slots: Slot[] } {
    const adapter = db.getExecutor().adapter;
    const cached = this.#compiled.get(adapter);
    if (cached !== undefined) return cached;

    const param = (name: string) => `${MARKER_PREFIX}${name}` as never;
    const compiled = this.#build(db, param).compile();
    const slots = compiled.parameters.map((value): Slot => {
      if (isParameterMarker(value)) return { name: (value as string).slice(MARKER_PREFIX.length) };
      return { value };
    });
    const entry = { sql: compiled.sql, slots };
    // Only PostgreSQL runs named statements; on SQLite the names would only fill the map.
    if (adapter instanceof PostgresAdapter) nameStatement(compiled.sql);
    this.#compiled.set(adapter, entry);
    return entry;
  }
}

/**
 * Makes a PreparedQuery with parameters of type `P`, inferring the result type
 * from the builder: `prepareQuery<{ id: string }>()((db, param) => ...)`.
 */
export function prepareQuery<P extends Record<string, unknown>>() {
  return <R>(build: (db: Db | Tx, param: Param<P>) => Compilable<R>) => new PreparedQuery<P, R>(build);
}

/**
 * Makes a PreparedQuery of SQL written with Kysely's `sql` tag, for statements
 * its builders do not express: `prepareSql<{ id: string }>()((param) => sql`...`)`.
 */
export function prepareSql<P extends Record<string, unknown>>() {
  return <R>(build: (param: Param<P>) => RawBuilder<R>) =>
    new PreparedQuery<P, R>((db, param) => {
      const text = build(param);
      return { compile: () => text.compile(db) };
    });
}

/** Most values of a PreparedListQuery: far below SQLite's limit of 32,766 bound parameters. */
export const MAX_LIST_VALUES = 512;

/** Values of a PreparedListQuery, as an array: the statement reads value i from key `${i}`. */
type ListValues = Record<`${number}`, unknown>;

/**
 * A query over a list of values (an `IN` list) that Kysely builds and compiles
 * once per list size, rounded up to a power of two, so a statement exists for
 * at most ten sizes up to 512 per engine. The unused places of a list are
 * filled with `padding`, which must match no row. Other values of each run
 * come through `param`, as in a PreparedQuery, and their names must not be numbers.
 */
export class PreparedListQuery<V, R, P extends Record<string, unknown> = Record<never, never>> {
  readonly #build: (db: Db | Tx, values: V[], param: Param<P>) => Compilable<R>;
  readonly #padding: V;
  readonly #bySize = new Map<number, PreparedQuery<ListValues & P, R>>();

  constructor(padding: V, build: (db: Db | Tx, values: V[], param: Param<P>) => Compilable<R>) {
    this.#padding = padding;
    this.#build = build;
  }

  /** Runs the query on `db` with `values`, at most 512 of them, and the named `parameters`. */
  execute(db: Db | Tx, values: readonly V[], parameters?: P): Promise<QueryResult<R>> {
    if (values.length > MAX_LIST_VALUES) throw new RangeError(`A prepared list query takes at most ${MAX_LIST_VALUES} values, got ${values.length}`);
    const size = values.length <= 1 ? 1 : 2 ** Math.ceil(Math.log2(values.length));
    const padded: unknown[] = [...values];
    while (padded.length < size) padded.push(this.#padding);
    if (parameters === undefined) return this.#query(size).execute(db, padded as unknown as ListValues & P);
    const named: Record<string, unknown> = { ...parameters };
    for (const [index, value] of padded.entries()) named[index] = value;
    return this.#query(size).execute(db, named as ListValues & P);
  }

  #query(size: number): PreparedQuery<ListValues & P, R> {
    let query = this.#bySize.get(size);
    if (query === undefined) {
      query = new PreparedQuery<ListValues & P, R>((db, param) =>
        this.#build(db, Array.from({ length: size }, (_unused, index) => param(`${index}`) as V), param as Param<P>),
      );
      this.#bySize.set(size, query);
    }
    return query;
  }
}
