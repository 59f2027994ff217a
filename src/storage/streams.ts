import { sql, type CompiledQuery } from 'kysely';
import type { Db, Tx } from './database.js';
import { executeWrite, MAX_LIST_VALUES, PreparedListQuery, prepareQuery, type PreparedQuery } from './compiled-query.js';
import type { StorageDialect } from './dialects/dialect.js';
import { keepPayloadEncoding, type EventType, type StreamEvent, type StreamId } from '../realtime/events.js';
import type { EventRow, StreamRow } from './schema.js';

/**
 * Collects the events of one transaction. Each append takes the stream's next
 * sequence number with an upsert on its `streams` row. That row lock makes
 * concurrent writers to one stream commit in sequence order with no gaps.
 */
export class EventWriter {
  readonly events: StreamEvent[] = [];
  readonly #tx: Tx;
  readonly #now: number;
  readonly #dialect: Pick<StorageDialect, 'executeTogether'>;
  readonly #sequences: StreamSequences | undefined;

  /** `sequences`, when given, is shared by the writers of one transaction (see StreamSequences). */
  constructor(tx: Tx, now: number, dialect: Pick<StorageDialect, 'executeTogether'>, sequences?: StreamSequences) {
    this.#tx = tx;
    this.#now = now;
    this.#dialect = dialect;
    this.#sequences = sequences;
  }

  /**
   * Appends one event and returns it. `data` may be a function of the new
   * sequence number, for rows that store the number of the event that made them.
   */
  async append(
    stream: StreamId,
    type: EventType,
    data: Record<string, unknown> | ((seq: number) => Record<string, unknown> | Promise<Record<string, unknown>>),
  ): Promise<StreamEvent> {
    const seq = await this.#nextSeq(stream);
    const payload = typeof data === 'function' ? await data(seq) : data;
    return this.#store(stream, seq, type, payload, []);
  }

  /**
   * Appends one event together with the statements that store the row it
   * describes. `build` receives the new sequence number and returns the
   * payload and those statements, which must not depend on one another's
   * writes. They run with the event's insert as one statement where the
   * engine allows (see StorageDialect.executeTogether), so on PostgreSQL the
   * stream's row lock is held for one round trip fewer per statement.
   * `json`, when given, is `data` encoded already.
   */
  async appendWith(
    stream: StreamId,
    type: EventType,
    build: (seq: number) => { data: Record<string, unknown>; json?: string; statements: CompiledQuery[] },
  ): Promise<StreamEvent> {
    const seq = await this.#nextSeq(stream);
    const { data, json, statements } = build(seq);
    return this.#store(stream, seq, type, data, statements, json);
  }

  /** True when this transaction has locked the stream's row and counts its numbers in memory (see StreamSequences). */
  holdsRowLock(stream: StreamId): boolean {
    return this.#sequences?.holdsRowLock(stream) === true;
  }

  async #nextSeq(stream: StreamId): Promise<number> {
    const counted = this.#sequences?.takeNext(stream);
    if (counted !== undefined) return counted;
    const result = await nextSeqQuery.execute(this.#tx, { stream });
    const seq = Number(result.rows[0]!.last_seq);
    this.#sequences?.locked(stream, seq);
    return seq;
  }

  async #store(
    stream: StreamId,
    seq: number,
    type: EventType,
    payload: Record<string, unknown>,
    statements: CompiledQuery[],
    json = JSON.stringify(payload),
  ): Promise<StreamEvent> {
    const event: StreamEvent = { stream, seq, type, at: this.#now, data: payload };
    // The event's frame reuses the stored text.
    keepPayloadEncoding(payload, json);
    const insert = insertEventQuery.compile(this.#tx, { stream, seq, type, payload: json, createdAt: this.#now });
    await this.#dialect.executeTogether(this.#tx, [...statements, insert]);

    this.events.push(event);
    return event;
  }
}

/**
 * The sequence numbers that the writers of one transaction took, for a
 * transaction that appends many events to the same streams. The first append
 * to a stream upserts its row, which locks the row until the commit. Later
 * appends count on from there without a statement, and `store` writes each
 * stream's last number once before the commit. Until then the `streams` rows
 * are behind, so the transaction must not read them: use it only for work that
 * does not, such as posting. The row lock keeps the numbers gap-free and in
 * order, exactly as an upsert per event does.
 */
export class StreamSequences {
  // Last number taken, by stream, for the streams whose row this transaction has locked.
  #last = new Map<StreamId, number>();
  // Streams whose row is behind #last.
  #behind = new Set<StreamId>();

  /** Returns the stream's next number, or undefined when this transaction has not locked its row yet. */
  takeNext(stream: StreamId): number | undefined {
    const last = this.#last.get(stream);
    if (last === undefined) return undefined;
    this.#last.set(stream, last + 1);
    this.#behind.add(stream);
    return last + 1;
  }

  /** True when this transaction has locked the stream's row. */
  holdsRowLock(stream: StreamId): boolean {
    return this.#last.has(stream);
  }

  /** Records the number that the upsert of the stream's row returned. */
  locked(stream: StreamId, seq: number): void {
    this.#last.set(stream, seq);
  }

  /**
   * Locks the stream's row without taking a number or writing it, so the transaction's appends to
   * the stream count on in memory from the start. A stream with no row yet is not locked: its first
   * append creates the row. `forUpdate` is false on an engine with a single writer, whose
   * transaction excludes every other writer already.
   */
  async lock(tx: Tx, stream: StreamId, options: { forUpdate: boolean }): Promise<void> {
    if (this.#last.has(stream)) return;
    const query = options.forUpdate ? lockStreamQuery : readStreamQuery;
    const row = (await query.execute(tx, { stream })).rows[0];
    if (row !== undefined) this.#last.set(stream, Number(row.last_seq));
  }

  /** Returns the state to restore when the work after this point rolls back to a savepoint. */
  mark(): { last: Map<StreamId, number>; behind: Set<StreamId> } {
    return { last: new Map(this.#last), behind: new Set(this.#behind) };
  }

  restore(mark: { last: Map<StreamId, number>; behind: Set<StreamId> }): void {
    this.#last = new Map(mark.last);
    this.#behind = new Set(mark.behind);
  }

  /** Writes the last number of each stream whose row is behind. Run it last in the transaction. */
  async store(tx: Tx): Promise<void> {
    for (const stream of this.#behind) await executeWrite(tx, storeLastSeqQuery.compile(tx, { stream, lastSeq: this.#last.get(stream)! }));
    this.#behind.clear();
  }
}

const storeLastSeqQuery = prepareQuery<{ stream: string; lastSeq: number }>()((db, param) =>
  db.updateTable('streams').set({ last_seq: param('lastSeq') }).where('id', '=', param('stream')),
);

const readStreamQuery = prepareQuery<{ stream: string }>()((db, param) => db.selectFrom('streams').select('last_seq').where('id', '=', param('stream')));

const lockStreamQuery = prepareQuery<{ stream: string }>()((db, param) =>
  db.selectFrom('streams').select('last_seq').where('id', '=', param('stream')).forUpdate(),
);

/** Takes the next sequence number of a stream, creating its row on the first event. */
const nextSeqQuery = prepareQuery<{ stream: string }>()((db, param) =>
  db
    .insertInto('streams')
    .values({ id: param('stream'), last_seq: 1, min_seq: 1 })
    .onConflict((conflict) => conflict.column('id').doUpdateSet({ last_seq: sql`streams.last_seq + 1` }))
    .returning('last_seq'),
);

const insertEventQuery = prepareQuery<{ stream: string; seq: number; type: string; payload: string; createdAt: number }>()((db, param) =>
  db
    .insertInto('events')
    .values({ stream_id: param('stream'), seq: param('seq'), type: param('type'), payload: param('payload'), created_at: param('createdAt') }),
);

/** Reads the stored events of a stream after a position, oldest first. */
export async function listEventsAfter(db: Db, stream: StreamId, afterSeq: number, limit: number): Promise<StreamEvent[]> {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .where('stream_id', '=', stream)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map(toStreamEvent);
}

/** Streams per query of `listEventsAfterEach`: two bound parameters each, far below SQLite's 32,766. */
const STREAMS_PER_QUERY = 512;

/** Stream id and position of each slot in turn, as an array: slot i's values sit at 2i and 2i + 1. */
type PagesParameters = Record<`${number}`, string | number>;

/** The statements of `listEventsAfterEach`, by slot count and page size. */
const pagesQueries = new Map<string, PreparedQuery<PagesParameters, EventRow>>();

/**
 * Returns the statement that reads `slots` streams' pages, built once per shape. Built on every
 * socket start, Kysely's building and compiling of a typical user's 22 subqueries took about 3% of
 * the server's busy time in a CPU profile of the connect storm. The slot counts are powers of two,
 * so at most ten shapes exist per page size, because PostgreSQL keeps each as a named statement on
 * every connection that ran it.
 */
function pagesQuery(slots: number, limitPerStream: number): PreparedQuery<PagesParameters, EventRow> {
  const key = `${slots}:${limitPerStream}`;
  let query = pagesQueries.get(key);
  if (query !== undefined) return query;

  query = prepareQuery<PagesParameters>()((db, param) => {
    // SQLite accepts ORDER BY and LIMIT in a UNION ALL member only inside a subquery. With a bound
    // LIMIT it ran the 22 subqueries of a typical user ten times slower than with a literal one.
    const pages = Array.from(
      { length: slots },
      (_unused, index) => sql`SELECT * FROM (SELECT stream_id, seq, type, payload, created_at FROM events
        WHERE stream_id = ${param(`${2 * index}`)} AND seq > ${param(`${2 * index + 1}`)} ORDER BY seq LIMIT ${sql.lit(limitPerStream)}) AS page`,
    );
    const text = sql<EventRow>`${sql.join(pages, sql` UNION ALL `)}`;
    return { compile: () => text.compile(db) };
  });
  pagesQueries.set(key, query);
  return query;
}

/**
 * Reads the first `limitPerStream` stored events after a position in each of several streams,
 * oldest first, with one query per 512 streams instead of one per stream. Each stream's page is
 * its own index range scan joined by UNION ALL, which SQLite and PostgreSQL run without merging
 * row sets as they do for an OR of the same conditions.
 */
export async function listEventsAfterEach(
  db: Db,
  positions: ReadonlyMap<StreamId, number>,
  limitPerStream: number,
): Promise<Map<StreamId, StreamEvent[]>> {
  if (!Number.isSafeInteger(limitPerStream) || limitPerStream < 1) throw new RangeError(`limitPerStream must be a positive integer, got ${limitPerStream}`);
  const entries = [...positions];
  const events = new Map<StreamId, StreamEvent[]>(entries.map(([stream]) => [stream, []]));

  for (let start = 0; start < entries.length; start += STREAMS_PER_QUERY) {
    const chunk = entries.slice(start, start + STREAMS_PER_QUERY);
    const slots = 2 ** Math.ceil(Math.log2(chunk.length));
    const parameters: Array<string | number> = [];
    for (const [stream, afterSeq] of chunk) parameters.push(stream, afterSeq);
    // A slot left over reads the empty stream id, which no stream has.
    for (let index = chunk.length; index < slots; index += 1) parameters.push('', 0);
    const result = await pagesQuery(slots, limitPerStream).execute(db, parameters);
    for (const row of result.rows) events.get(row.stream_id)!.push(toStreamEvent(row));
  }
  // UNION ALL keeps no order between its members' rows, so each page is sorted here.
  for (const page of events.values()) page.sort((a, b) => a.seq - b.seq);
  return events;
}

function toStreamEvent(row: EventRow): StreamEvent {
  return {
    stream: row.stream_id,
    seq: Number(row.seq),
    type: row.type as EventType,
    at: Number(row.created_at),
    data: JSON.parse(row.payload) as Record<string, unknown>,
  };
}

/** Reads the `streams` rows of a list of stream ids. The padding id '' matches no stream. */
const streamPositionsQuery = new PreparedListQuery<string, StreamRow>('', (db, streams) =>
  db.selectFrom('streams').select(['id', 'last_seq', 'min_seq']).where('id', 'in', streams),
);

/**
 * Returns the head and the oldest retained position of each stream that has a `streams` row. Every
 * socket start runs it, so it is a prepared statement per power-of-two list size.
 */
export async function getStreamPositions(
  db: Db | Tx,
  streams: readonly StreamId[],
): Promise<Map<StreamId, { lastSeq: number; minSeq: number }>> {
  const positions = new Map<StreamId, { lastSeq: number; minSeq: number }>();
  for (let start = 0; start < streams.length; start += MAX_LIST_VALUES) {
    const { rows } = await streamPositionsQuery.execute(db, streams.slice(start, start + MAX_LIST_VALUES));
    for (const row of rows) positions.set(row.id, { lastSeq: Number(row.last_seq), minSeq: Number(row.min_seq) });
  }
  return positions;
}

/** Returns the last seq of one stream, 0 for a stream with no events. */
export async function getStreamHead(db: Db | Tx, stream: StreamId): Promise<number> {
  const row = await db.selectFrom('streams').select('last_seq').where('id', '=', stream).executeTakeFirst();
  return row === undefined ? 0 : Number(row.last_seq);
}
