/**
 * The search benchmark on PostgreSQL. It writes the corpus of bench/search.ts
 * (the same seed, so the same messages) into a schema of its own and indexes
 * it through the PostgreSQL search index code. It then measures ChatterBox's
 * search beside the bare full-text queries for the same words, in this one
 * process on the same database.
 *
 * The bare queries are
 *   SELECT doc_id FROM search_documents WHERE tsv @@ $1::tsquery ORDER BY created_at DESC LIMIT 20
 *   SELECT doc_id FROM search_documents WHERE tsv @@ $1::tsquery ORDER BY ts_rank(tsv, $1::tsquery) DESC LIMIT 20
 * with the tsquery that ChatterBox builds for the same words, without its
 * filters.
 *
 * BENCH_DATABASE_URL selects the server (default
 * postgres://postgres@127.0.0.1:5432/test) and BENCH_SEARCH_SCHEMA the schema
 * (default chatterbox_search_bench). The schema is dropped at the end unless
 * BENCH_SEARCH_KEEP=1, and a later run with BENCH_SEARCH_KEEP=1 that finds an
 * indexed corpus there measures queries without building it again.
 * BENCH_SEARCH_MESSAGES sets another message count, for trial runs.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Auth } from '../src/accounts/actions.js';
import { buildChatterBox, type ChatterBox } from '../src/http/app.js';
import { buildConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { indexMessage, messageDocument } from '../src/search/indexing.js';
import { includedQuery, toTsvector } from '../src/search/postgres-index.js';
import { presentMessageHits } from '../src/search/present.js';
import { parseSearchQuery } from '../src/search/query-parser.js';
import { resolveSearch } from '../src/search/resolve.js';
import { runSearch, TOTAL_CAP } from '../src/search/run-search.js';
import { searchIndexFor } from '../src/search/search-index.js';
import { openStorage } from '../src/storage/database.js';
import type { MessageRow, SessionRow, UserRow } from '../src/storage/schema.js';
import { startForeignCpuMeter } from './lib/proc.js';
import { addRow, progress, recordForeignCpu, type RunSettings } from './lib/report.js';
import { buildMessage, buildVocabulary, seededRandom, zipfSampler } from './lib/search-corpus.js';
import { formatNumber, type LatencySummary } from './lib/stats.js';
import {
  FIRST_MESSAGE_AT,
  FULL,
  JOINED_PRIVATE_CHANNELS,
  MESSAGE_CHARS,
  MESSAGE_SPACING_MS,
  SMOKE,
  VOCABULARY_SIZE,
  measure,
  measureAlternately,
  measureWithCpu,
  queryKinds,
  type CorpusSize,
} from './search.js';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const DEFAULT_SCHEMA = 'chatterbox_search_bench';

/** Messages per INSERT statement while writing the corpus and indexing in bulk. */
const BULK_ROWS = 2000;

interface Target {
  url: string;
  schema: string;
  keep: boolean;
}

/** Reads the database settings from the environment and checks the schema name, which goes into SQL unquoted. */
function targetFromEnvironment(): Target {
  const schema = process.env.BENCH_SEARCH_SCHEMA || DEFAULT_SCHEMA;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`BENCH_SEARCH_SCHEMA must be a lower-case SQL identifier, got "${schema}"`);
  return { url: process.env.BENCH_DATABASE_URL || DEFAULT_DATABASE_URL, schema, keep: process.env.BENCH_SEARCH_KEEP === '1' };
}

/** Returns the corpus size, with BENCH_SEARCH_MESSAGES replacing the message count and scaling the part indexed through indexMessage. */
function sizeFromEnvironment(smoke: boolean): CorpusSize {
  const base = smoke ? SMOKE : FULL;
  const raw = process.env.BENCH_SEARCH_MESSAGES;
  if (raw === undefined || raw === '') return base;
  const messages = Number(raw);
  if (!Number.isInteger(messages) || messages < 1000) throw new Error(`BENCH_SEARCH_MESSAGES must be an integer of at least 1000, got "${raw}"`);
  return { ...base, messages, indexedThroughActions: Math.min(base.indexedThroughActions, Math.round(messages / 20)) };
}

async function connect(target: Target): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: target.url, options: `-c search_path=${target.schema}` });
  await client.connect();
  return client;
}

interface Corpus {
  searcherId: string;
  teamId: string;
  vocabulary: string[];
}

/** Inserts rows of equal-length columns in one statement, through unnest of one array per column. */
async function insertColumns(client: pg.Client, table: string, columns: Array<[name: string, type: string]>, values: unknown[][]): Promise<void> {
  const names = columns.map(([name]) => name).join(', ');
  const arrays = columns.map(([, type], index) => `$${index + 1}::${type}[]`).join(', ');
  await client.query(`INSERT INTO ${table} (${names}) SELECT * FROM unnest(${arrays})`, values);
}

/**
 * Writes users, one team, channels and messages with bulk SQL, in the layout
 * and order of the SQLite benchmark, so both engines hold the same messages.
 */
async function writeCorpus(client: pg.Client, size: CorpusSize): Promise<Corpus> {
  const random = seededRandom(42);
  const now = Date.now();
  const userIds = Array.from({ length: size.users }, () => randomUUID());
  const teamId = randomUUID();
  const channelIds = Array.from({ length: size.channels }, () => randomUUID());

  await client.query('BEGIN');
  const names = userIds.map((_, index) => `bench${index}`);
  await insertColumns(
    client,
    'users',
    [['id', 'text'], ['email', 'text'], ['email_key', 'text'], ['username', 'text'], ['username_key', 'text'], ['display_name', 'text'], ['password_hash', 'text'], ['created_at', 'bigint'], ['updated_at', 'bigint']],
    [userIds, names.map((name) => `${name}@bench.example`), names.map((name) => `${name}@bench.example`), names, names, userIds.map((_, index) => `Bench ${index}`), userIds.map(() => 'not-a-hash'), userIds.map(() => now), userIds.map(() => now)],
  );
  await client.query('INSERT INTO teams (id, name, created_by, created_at, general_conversation_id) VALUES ($1, $2, $3, $4, $5)', [teamId, 'Bench', userIds[0], now, channelIds[0]]);
  await insertColumns(client, 'team_members', [['team_id', 'text'], ['user_id', 'text'], ['role', 'text'], ['joined_at', 'bigint']], [userIds.map(() => teamId), userIds, userIds.map(() => 'member'), userIds.map(() => now)]);
  const firstPrivate = size.channels - size.privateChannels;
  await insertColumns(
    client,
    'conversations',
    [['id', 'text'], ['team_id', 'text'], ['kind', 'text'], ['name', 'text'], ['created_by', 'text'], ['created_at', 'bigint'], ['updated_at', 'bigint']],
    [channelIds, channelIds.map(() => teamId), channelIds.map((_, index) => (index >= firstPrivate ? 'private' : 'public')), channelIds.map((_, index) => `ch-${String(index).padStart(4, '0')}`), channelIds.map(() => userIds[0]), channelIds.map(() => now), channelIds.map(() => now)],
  );
  const joined = channelIds.slice(firstPrivate, firstPrivate + JOINED_PRIVATE_CHANNELS);
  await insertColumns(client, 'conversation_members', [['conversation_id', 'text'], ['user_id', 'text'], ['joined_at', 'bigint']], [joined, joined.map(() => userIds[0]), joined.map(() => now)]);
  await client.query('COMMIT');

  const vocabulary = buildVocabulary(VOCABULARY_SIZE, random);
  const sample = zipfSampler(VOCABULARY_SIZE, random);
  const seqs = new Map<string, number>();
  const started = performance.now();
  for (let start = 0; start < size.messages; start += BULK_ROWS) {
    const end = Math.min(size.messages, start + BULK_ROWS);
    const columns: unknown[][] = [[], [], [], [], [], []];
    for (let index = start; index < end; index += 1) {
      // The draws come in the SQLite benchmark's order: channel, author, text.
      const conversationId = channelIds[Math.floor(random() * channelIds.length)]!;
      const seq = (seqs.get(conversationId) ?? 0) + 1;
      seqs.set(conversationId, seq);
      const authorId = userIds[Math.floor(random() * userIds.length)]!;
      const row = [randomUUID(), conversationId, seq, authorId, buildMessage(vocabulary, sample, random, MESSAGE_CHARS), FIRST_MESSAGE_AT + index * MESSAGE_SPACING_MS];
      row.forEach((value, column) => columns[column]!.push(value));
    }
    await insertColumns(client, 'messages', [['id', 'text'], ['conversation_id', 'text'], ['seq', 'bigint'], ['author_id', 'text'], ['text', 'text'], ['created_at', 'bigint']], columns);
    if (end % 100_000 === 0) progress(`search-postgres: ${end} messages written`);
  }
  progress(`search-postgres: ${size.messages} messages written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { searcherId: userIds[0]!, teamId, vocabulary };
}

interface IndexingFigures {
  throughActionsPerSecond: number;
  bulkPerSecond: number;
  /** CPU that other processes used meanwhile, as a fraction of one core; PostgreSQL's own processes count as other processes. */
  throughActionsForeignCpu: number;
  bulkForeignCpu: number;
  analyzeSeconds: number;
}

/**
 * Indexes every message in posting order. The first messages go through
 * indexMessage in Kysely transactions of 500, the code that posting and the
 * migration run. The rest go through the same analyser and tsvector literal
 * in multi-row INSERTs of BULK_ROWS, as a bulk import would, with the GIN
 * index in place. Analysing one batch overlaps with writing the one before. ANALYZE then gives the planner statistics of the new rows,
 * as autovacuum would later.
 */
async function indexCorpus(client: pg.Client, target: Target, corpus: Corpus, size: CorpusSize): Promise<IndexingFigures> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-search-pg-bench-'));
  const storage = await openStorage({ dataDir, databaseUrl: target.url, databaseSchema: target.schema, databasePoolSize: 2 });
  const context = { storage };
  const readBatch = async (after: number, limit: number) =>
    (await client.query<MessageRow>('SELECT * FROM messages WHERE created_at > $1 ORDER BY created_at LIMIT $2', [after, limit])).rows;
  let lastCreatedAt = -1;

  let foreignCpu = startForeignCpuMeter([]);
  let started = performance.now();
  let indexed = 0;
  try {
    while (indexed < size.indexedThroughActions) {
      const rows = await readBatch(lastCreatedAt, Math.min(500, size.indexedThroughActions - indexed));
      if (rows.length === 0) break;
      await storage.db.transaction().execute(async (tx) => {
        for (const row of rows) await indexMessage(context, tx, row);
      });
      indexed += rows.length;
      lastCreatedAt = Number(rows[rows.length - 1]!.created_at);
    }
  } finally {
    await storage.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const throughActionsPerSecond = indexed / ((performance.now() - started) / 1000);
  const throughActionsForeignCpu = foreignCpu();
  progress(`search-postgres: ${indexed} messages indexed through indexMessage, ${formatNumber(throughActionsPerSecond)} msgs/s`);

  // A second connection writes each batch while this process reads and analyses the next one.
  const writer = await connect(target);
  let writing: Promise<unknown> = Promise.resolve();
  foreignCpu = startForeignCpuMeter([]);
  started = performance.now();
  let bulk = 0;
  for (;;) {
    const rows = await readBatch(lastCreatedAt, BULK_ROWS);
    if (rows.length === 0) break;
    const columns: unknown[][] = [[], [], [], [], [], []];
    for (const row of rows) {
      const document = messageDocument(row, corpus.teamId);
      const values = [document.messageId, document.conversationId, document.authorId, document.createdAt, document.hasLink ? 1 : 0, toTsvector(document.tokens)];
      values.forEach((value, column) => columns[column]!.push(value));
    }
    await writing;
    writing = insertColumns(writer, 'search_documents', [['message_id', 'text'], ['conversation_id', 'text'], ['author_id', 'text'], ['created_at', 'bigint'], ['has_link', 'integer'], ['tsv', 'tsvector']], columns);
    // The next `await writing` raises a failure; this handler only stops Node from reporting it as unhandled meanwhile.
    writing.catch(() => undefined);
    bulk += rows.length;
    lastCreatedAt = Number(rows[rows.length - 1]!.created_at);
    if ((indexed + bulk) % 100_000 === 0) progress(`search-postgres: ${indexed + bulk} messages indexed`);
  }
  await writing;
  await writer.end();
  const bulkPerSecond = bulk / ((performance.now() - started) / 1000);
  const bulkForeignCpu = foreignCpu();
  progress(`search-postgres: ${bulk} messages indexed in bulk, ${formatNumber(bulkPerSecond)} msgs/s`);

  started = performance.now();
  await client.query('ANALYZE');
  const analyzeSeconds = (performance.now() - started) / 1000;
  return { throughActionsPerSecond, bulkPerSecond, throughActionsForeignCpu, bulkForeignCpu, analyzeSeconds };
}

/** Returns the corpus that an earlier kept run left in the schema, or undefined when the schema contains none. */
async function findKeptCorpus(client: pg.Client, target: Target): Promise<Corpus | undefined> {
  const tables = await client.query("SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'search_documents'", [target.schema]);
  if (tables.rowCount === 0) return undefined;
  const documents = await client.query('SELECT 1 FROM search_documents LIMIT 1');
  const searcher = await client.query<{ id: string }>("SELECT id FROM users WHERE username = 'bench0'");
  const team = await client.query<{ id: string }>('SELECT id FROM teams LIMIT 1');
  if (documents.rowCount === 0 || searcher.rows[0] === undefined || team.rows[0] === undefined) return undefined;
  return { searcherId: searcher.rows[0].id, teamId: team.rows[0].id, vocabulary: buildVocabulary(VOCABULARY_SIZE, seededRandom(42)) };
}

/** Prints the indexing figures and the size of the search tables. */
async function printIndexing(client: pg.Client, size: CorpusSize, indexing: IndexingFigures): Promise<void> {
  console.log(`\nsearch-postgres indexing (${size.messages} messages of ~${MESSAGE_CHARS} characters in ${size.channels} channels)`);
  console.log(`  through indexMessage, Kysely transactions of 500: ${formatNumber(indexing.throughActionsPerSecond)} msgs/s (${size.indexedThroughActions} messages; other processes, PostgreSQL included, used ${formatNumber(100 * indexing.throughActionsForeignCpu)}% of a core)`);
  console.log(`  bulk, multi-row INSERTs of ${BULK_ROWS}: ${formatNumber(indexing.bulkPerSecond)} msgs/s (${size.messages - size.indexedThroughActions} messages; other processes, PostgreSQL included, used ${formatNumber(100 * indexing.bulkForeignCpu)}% of a core)`);
  console.log(`  ANALYZE afterwards: ${formatNumber(indexing.analyzeSeconds)} s`);
  const sizes = await client.query<{ table_bytes: string; gin_bytes: string }>(
    "SELECT pg_total_relation_size('search_documents') AS table_bytes, pg_relation_size('search_documents_tsv_idx') AS gin_bytes",
  );
  const mib = (bytes: string | undefined) => formatNumber(Number(bytes) / 1024 / 1024);
  console.log(`  search_documents with its indexes ${mib(sizes.rows[0]?.table_bytes)} MiB, of which the GIN index ${mib(sizes.rows[0]?.gin_bytes)} MiB`);
}

/**
 * Runs the PostgreSQL search scenario and adds its figures to the summary.
 * Other processes' CPU includes PostgreSQL's own backends, which serve this
 * benchmark, so it overstates the load from the rest of the machine.
 */
export async function runSearchPostgresBench(settings: RunSettings): Promise<void> {
  const size = sizeFromEnvironment(settings.smoke);
  const target = targetFromEnvironment();
  const client = await connect(target);
  let server: ChatterBox | undefined;
  let dataDir: string | undefined;
  try {
    let corpus = target.keep ? await findKeptCorpus(client, target) : undefined;
    if (corpus !== undefined) {
      console.log(`\nsearch-postgres: measuring queries on the corpus kept in schema ${target.schema}; indexing is not measured`);
    } else {
      await client.query(`DROP SCHEMA IF EXISTS ${target.schema} CASCADE`);
      await client.query(`CREATE SCHEMA ${target.schema}`);
      // Opening storage once creates the tables through the migrations.
      const migrateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-search-pg-bench-'));
      await (await openStorage({ dataDir: migrateDir, databaseUrl: target.url, databaseSchema: target.schema, databasePoolSize: 1 })).close();
      fs.rmSync(migrateDir, { recursive: true, force: true });
      corpus = await writeCorpus(client, size);
      await printIndexing(client, size, await indexCorpus(client, target, corpus, size));
    }

    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-search-pg-bench-'));
    server = await buildChatterBox(buildConfig({ dataDir, port: 0, databaseUrl: target.url, databaseSchema: target.schema, databasePoolSize: 5 }), createLogger('warn'));
    await measureQueries(server, client, corpus, size, settings);
  } finally {
    await server?.close();
    if (dataDir !== undefined) fs.rmSync(dataDir, { recursive: true, force: true });
    if (!target.keep) await client.query(`DROP SCHEMA IF EXISTS ${target.schema} CASCADE`);
    await client.end();
  }
}

async function measureQueries(server: ChatterBox, client: pg.Client, corpus: Corpus, size: CorpusSize, settings: RunSettings): Promise<void> {
  const ctx = server.ctx;
  const user = (await ctx.storage.db.selectFrom('users').selectAll().where('id', '=', corpus.searcherId).executeTakeFirstOrThrow()) as UserRow;
  const auth: Auth = { user, session: { id: 'bench', user_id: user.id } as SessionRow };
  const bareNewest = (query: string) => client.query('SELECT doc_id FROM search_documents WHERE tsv @@ $1::tsquery ORDER BY created_at DESC LIMIT 20', [query]);
  const bareRanked = (query: string) => client.query('SELECT doc_id FROM search_documents WHERE tsv @@ $1::tsquery ORDER BY ts_rank(tsv, $1::tsquery) DESC LIMIT 20', [query]);
  const countAll = async (query: string) => Number((await client.query<{ count: string }>('SELECT count(*) AS count FROM search_documents WHERE tsv @@ $1::tsquery', [query])).rows[0]!.count);
  const search = async (q: string, sort: 'date' | 'relevance') => {
    const outcome = await runSearch(ctx, auth, { q, sort, kind: 'messages', limit: 20, cursor: undefined, teamId: corpus.teamId });
    return presentMessageHits(ctx, outcome);
  };

  const index = searchIndexFor(ctx.storage.dialect);
  console.log(`\nLatency in ms, p50 / p95. "index" is the permission-filtered index query alone (21 rows newest first, or the ${TOTAL_CAP + 1} rows that a relevance search counts and takes its candidates from); "search" is the whole search without HTTP; "search relevance CPU" is its median CPU time in this process, without PostgreSQL's.`);
  console.log("\n| query | q | tsquery matches | bare newest | index newest | ratio p95 | search newest | bare ts_rank | index relevance | search relevance | search relevance CPU | other processes' CPU |");
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const kind of queryKinds(corpus.vocabulary)) {
    const parsed = parseSearchQuery(kind.q, { now: Date.now(), timeZone: 'UTC' });
    const resolved = (await resolveSearch(ctx.storage.db, { userId: auth.user.id, teamId: corpus.teamId, kind: 'messages' }, parsed))!;
    // The bare query has the same words and none of the filters.
    const query = includedQuery(parsed.include)!;
    const matches = await countAll(query);

    // One warm-up run of each, so the first sample does not pay for reading the index from disk.
    await search(kind.q, 'date');
    await search(kind.q, 'relevance');
    await bareNewest(query);

    const foreignCpu = startForeignCpuMeter([]);
    const [bareNewestFigures, indexNewest] = await measureAlternately(size.newestSamples, () => bareNewest(query), () => index.listNewest(ctx.storage.db, resolved, {}, 21));
    const searchNewest = await measure(size.samples, () => search(kind.q, 'date'));
    const bareRankedFigures = await measure(size.bm25Samples, () => bareRanked(query));
    const indexRanked = await measure(size.samples, () => index.listNewest(ctx.storage.db, resolved, {}, TOTAL_CAP + 1));
    const { latency: searchRanked, cpuMs: searchRankedCpu } = await measureWithCpu(size.samples, () => search(kind.q, 'relevance'));
    const ratio = indexNewest.p95Ms / bareNewestFigures.p95Ms;
    const foreign = foreignCpu();
    recordForeignCpu('search-postgres', foreign);

    const pair = (figures: LatencySummary) => `${formatNumber(figures.p50Ms)} / ${formatNumber(figures.p95Ms)}`;
    console.log(
      `| ${kind.name} | \`${kind.q}\` | ${formatNumber(matches)} | ${pair(bareNewestFigures)} | ${pair(indexNewest)} | ${formatNumber(ratio)} | ${pair(searchNewest)} | ${pair(bareRankedFigures)} | ${pair(indexRanked)} | ${pair(searchRanked)} | ${formatNumber(searchRankedCpu)} | ${formatNumber(100 * foreign)}% |`,
    );
    addRow({
      figure: `PostgreSQL search newest-first p95, ${kind.name} (index query)`,
      unit: 'ms',
      goal: 'p95 ≤ 3x bare tsquery newest-first',
      raw: [bareNewestFigures.p95Ms],
      chatterbox: [indexNewest.p95Ms],
      ratios: [ratio],
      met: settings.smoke ? undefined : ratio <= 3,
      note: `whole search p95 ${formatNumber(searchNewest.p95Ms)} ms`,
    });
    addRow({
      figure: `PostgreSQL search relevance p95, ${kind.name} (whole search)`,
      unit: 'ms',
      goal: 'p95 ≤ 100 ms (raw: bare ts_rank over every match)',
      raw: [bareRankedFigures.p95Ms],
      chatterbox: [searchRanked.p95Ms],
      ratios: [searchRanked.p95Ms / bareRankedFigures.p95Ms],
      met: settings.smoke ? undefined : searchRanked.p95Ms <= 100,
    });
  }
}
