/**
 * The search benchmark. It writes a corpus of ~1 KB messages in 1,000
 * channels straight into a ChatterBox SQLite file and indexes it through the
 * search index code. It then measures ChatterBox's search beside the bare
 * FTS5 query for the same words, in this one process on the same file.
 *
 * ChatterBox is measured twice. The index query alone is SearchIndex.listNewest
 * with the permission filter inside, for a page of 21 or for the 1,001 rows a
 * relevance search counts and takes its candidates from; it answers the same
 * question as the bare query. The whole search is runSearch plus
 * presentMessageHits (parse, resolve names, index query, count, ranking,
 * loading and highlighting the page), which is GET /api/search without HTTP.
 * The bare queries are
 *   SELECT rowid FROM search_fts WHERE search_fts MATCH ? ORDER BY rowid LIMIT 20
 *   SELECT rowid FROM search_fts WHERE search_fts MATCH ? ORDER BY rank LIMIT 20
 * with the MATCH expression ChatterBox builds for the same words, without
 * its filters. The first is newest first, because the FTS5 rowid is the
 * negated doc id.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import type { Auth } from '../src/accounts/actions.js';
import { buildChatterBox, type ChatterBox } from '../src/http/app.js';
import { buildConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { indexMessage, messageDocument } from '../src/search/indexing.js';
import { presentMessageHits } from '../src/search/present.js';
import { parseSearchQuery } from '../src/search/query-parser.js';
import { runSearch, TOTAL_CAP } from '../src/search/run-search.js';
import { resolveSearch } from '../src/search/resolve.js';
import { searchIndexFor } from '../src/search/search-index.js';
import { ftsColumns, ftsRowid, matchExpression } from '../src/search/sqlite-index.js';
import { openStorage } from '../src/storage/database.js';
import type { MessageRow, SessionRow, UserRow } from '../src/storage/schema.js';
import { buildMessage, buildVocabulary, seededRandom, zipfSampler } from './lib/search-corpus.js';
import { startForeignCpuMeter } from './lib/proc.js';
import { addRow, progress, recordForeignCpu, type RunSettings } from './lib/report.js';
import { LatencyHistogram, formatNumber, type LatencySummary } from './lib/stats.js';

export interface CorpusSize {
  messages: number;
  channels: number;
  privateChannels: number;
  users: number;
  /** Messages indexed through indexMessage in Kysely transactions, as posting and the migration do. */
  indexedThroughActions: number;
  samples: number;
  /** Samples of the bare and the index newest-first queries, taken alternately. */
  newestSamples: number;
  bm25Samples: number;
}

export const FULL: CorpusSize = { messages: 1_000_000, channels: 1000, privateChannels: 100, users: 50, indexedThroughActions: 50_000, samples: 30, newestSamples: 300, bm25Samples: 10 };
export const SMOKE: CorpusSize = { messages: 20_000, channels: 100, privateChannels: 10, users: 20, indexedThroughActions: 2_000, samples: 3, newestSamples: 3, bm25Samples: 2 };

export const MESSAGE_CHARS = 1000;
export const VOCABULARY_SIZE = 30_000;
/** 2024-01-01T00:00:00Z; messages are 2 s apart from here. */
export const FIRST_MESSAGE_AT = Date.UTC(2024, 0, 1);
export const MESSAGE_SPACING_MS = 2000;
/** Private channels the searcher belongs to; the other private channels are hidden from them. */
export const JOINED_PRIVATE_CHANNELS = 20;

interface Corpus {
  dataDir: string;
  file: string;
  searcherId: string;
  teamId: string;
  vocabulary: string[];
}

/** Writes users, one team, channels and messages straight into the database file; returns what queries need. */
async function writeCorpus(size: CorpusSize, keptDir: string | undefined): Promise<Corpus> {
  const dataDir = keptDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-search-bench-'));
  fs.mkdirSync(dataDir, { recursive: true });
  const storage = await openStorage({ dataDir });
  await storage.close();

  const file = path.join(dataDir, 'chatterbox.db');
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const random = seededRandom(42);
  const now = Date.now();

  const userIds = Array.from({ length: size.users }, () => randomUUID());
  const teamId = randomUUID();
  const channelIds = Array.from({ length: size.channels }, () => randomUUID());
  db.transaction(() => {
    const user = db.prepare(`INSERT INTO users (id, email, email_key, username, username_key, display_name, password_hash, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, 'not-a-hash', ?, ?)`);
    userIds.forEach((id, index) => user.run(id, `bench${index}@bench.example`, `bench${index}@bench.example`, `bench${index}`, `bench${index}`, `Bench ${index}`, now, now));
    db.prepare('INSERT INTO teams (id, name, created_by, created_at, general_conversation_id) VALUES (?, ?, ?, ?, ?)').run(teamId, 'Bench', userIds[0], now, channelIds[0]);
    const member = db.prepare("INSERT INTO team_members (team_id, user_id, role, joined_at) VALUES (?, ?, 'member', ?)");
    for (const id of userIds) member.run(teamId, id, now);
    const channel = db.prepare('INSERT INTO conversations (id, team_id, kind, name, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const joined = db.prepare('INSERT INTO conversation_members (conversation_id, user_id, joined_at) VALUES (?, ?, ?)');
    channelIds.forEach((id, index) => {
      const isPrivate = index >= size.channels - size.privateChannels;
      channel.run(id, teamId, isPrivate ? 'private' : 'public', `ch-${String(index).padStart(4, '0')}`, userIds[0], now, now);
      if (isPrivate && index < size.channels - size.privateChannels + JOINED_PRIVATE_CHANNELS) joined.run(id, userIds[0], now);
    });
  })();

  const vocabulary = buildVocabulary(VOCABULARY_SIZE, random);
  const sample = zipfSampler(VOCABULARY_SIZE, random);
  const seqs = new Map<string, number>();
  const insert = db.prepare(`INSERT INTO messages (id, conversation_id, seq, author_id, text, root_id, also_in_channel, reply_count, reply_users,
      last_reply_at, edited_at, deleted_at, created_at, client_msg_id, entities)
    VALUES (?, ?, ?, ?, ?, NULL, 0, 0, '[]', NULL, NULL, NULL, ?, NULL, '{"mentions":[],"links":[]}')`);
  const writeBatch = db.transaction((start: number, end: number) => {
    for (let index = start; index < end; index += 1) {
      const conversationId = channelIds[Math.floor(random() * channelIds.length)]!;
      const seq = (seqs.get(conversationId) ?? 0) + 1;
      seqs.set(conversationId, seq);
      const authorId = userIds[Math.floor(random() * userIds.length)]!;
      insert.run(randomUUID(), conversationId, seq, authorId, buildMessage(vocabulary, sample, random, MESSAGE_CHARS), FIRST_MESSAGE_AT + index * MESSAGE_SPACING_MS);
    }
  });
  const started = performance.now();
  for (let start = 0; start < size.messages; start += 10_000) {
    writeBatch(start, Math.min(size.messages, start + 10_000));
    if (start % 200_000 === 0 && start > 0) progress(`search: ${start} messages written`);
  }
  progress(`search: ${size.messages} messages written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  db.close();
  return { dataDir, file, searcherId: userIds[0]!, teamId, vocabulary };
}

interface IndexingFigures {
  throughActionsPerSecond: number;
  bulkPerSecond: number;
  /** CPU that other processes used meanwhile, as a fraction of one core. */
  throughActionsForeignCpu: number;
  bulkForeignCpu: number;
}

/**
 * Indexes every message in posting order. The first messages go through
 * indexMessage in Kysely transactions of 500, the code that posting and the
 * migration run. The rest go through the same analyser and the same SQL on
 * prepared statements, as a bulk import would.
 */
async function indexCorpus(corpus: Corpus, size: CorpusSize): Promise<IndexingFigures> {
  const storage = await openStorage({ dataDir: corpus.dataDir });
  const context = { storage };
  const raw = new BetterSqlite3(corpus.file, { readonly: true });
  const readBatch = raw.prepare('SELECT rowid AS row_number, * FROM messages WHERE rowid > ? ORDER BY rowid LIMIT ?');
  let lastRowid = 0;

  let foreignCpu = startForeignCpuMeter([]);
  let started = performance.now();
  let indexed = 0;
  while (indexed < size.indexedThroughActions) {
    const rows = readBatch.all(lastRowid, Math.min(500, size.indexedThroughActions - indexed)) as Array<MessageRow & { row_number: number }>;
    if (rows.length === 0) break;
    await storage.db.transaction().execute(async (tx) => {
      for (const row of rows) await indexMessage(context, tx, row);
    });
    indexed += rows.length;
    lastRowid = rows[rows.length - 1]!.row_number;
  }
  const throughActionsPerSecond = indexed / ((performance.now() - started) / 1000);
  const throughActionsForeignCpu = foreignCpu();
  progress(`search: ${indexed} messages indexed through indexMessage, ${formatNumber(throughActionsPerSecond)} msgs/s`);
  await storage.close();
  raw.close();

  const db = new BetterSqlite3(corpus.file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const read = db.prepare('SELECT rowid AS row_number, * FROM messages WHERE rowid > ? ORDER BY rowid LIMIT 5000');
  const insertDocument = db.prepare('INSERT INTO search_documents (message_id, file_id, conversation_id, author_id, created_at, has_link) VALUES (?, NULL, ?, ?, ?, ?)');
  const insertTerms = db.prepare('INSERT INTO search_fts (rowid, stems, words, facets) VALUES (?, ?, ?, ?)');
  const writeBatch = db.transaction((rows: MessageRow[]) => {
    for (const row of rows) {
      const document = messageDocument(row, corpus.teamId);
      const { lastInsertRowid } = insertDocument.run(document.messageId, document.conversationId, document.authorId, document.createdAt, document.hasLink ? 1 : 0);
      const columns = ftsColumns(document);
      insertTerms.run(ftsRowid(Number(lastInsertRowid)), columns.stems, columns.words, columns.facets);
    }
  });

  foreignCpu = startForeignCpuMeter([]);
  started = performance.now();
  let bulk = 0;
  for (;;) {
    const rows = read.all(lastRowid) as Array<MessageRow & { row_number: number }>;
    if (rows.length === 0) break;
    writeBatch(rows);
    bulk += rows.length;
    lastRowid = rows[rows.length - 1]!.row_number;
    if (bulk % 100_000 === 0) progress(`search: ${indexed + bulk} messages indexed`);
  }
  const bulkPerSecond = bulk / ((performance.now() - started) / 1000);
  const bulkForeignCpu = foreignCpu();
  progress(`search: ${bulk} messages indexed in bulk, ${formatNumber(bulkPerSecond)} msgs/s`);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { throughActionsPerSecond, bulkPerSecond, throughActionsForeignCpu, bulkForeignCpu };
}

export interface QueryKind {
  name: string;
  /** The query as a user types it. */
  q: string;
}

/** Lists the measured query kinds. The rare word is the vocabulary's 25,000th, found in a few hundred messages. */
export function queryKinds(vocabulary: readonly string[]): QueryKind[] {
  return [
    { name: 'rare word', q: vocabulary[25_000]! },
    { name: 'common word', q: 'that' },
    { name: 'two-letter prefix', q: 'de*' },
    { name: 'multi-word', q: 'deploy database' },
    { name: 'phrase', q: '"release candidate"' },
    { name: 'filtered (in:)', q: 'that in:#ch-0007' },
    { name: 'filtered (from: after:)', q: 'deploy from:@bench3 after:2024-01-05' },
  ];
}

export function measure(samples: number, run: () => unknown | Promise<unknown>): Promise<LatencySummary> {
  return (async () => {
    const histogram = new LatencyHistogram();
    for (let index = 0; index < samples; index += 1) {
      const started = performance.now();
      await run();
      histogram.record(performance.now() - started);
    }
    return histogram.summary();
  })();
}

/**
 * Measures latency and, per run, the CPU time of this process (every thread,
 * so the SQLite reader's too, but not a database server's). It returns the
 * latency figures and the median CPU time of a run in ms.
 */
export async function measureWithCpu(samples: number, run: () => unknown): Promise<{ latency: LatencySummary; cpuMs: number }> {
  const histogram = new LatencyHistogram();
  const cpu: number[] = [];
  for (let index = 0; index < samples; index += 1) {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await run();
    histogram.record(performance.now() - started);
    const used = process.cpuUsage(cpuBefore);
    cpu.push((used.user + used.system) / 1000);
  }
  cpu.sort((a, b) => a - b);
  return { latency: histogram.summary(), cpuMs: cpu[Math.floor(cpu.length / 2)] ?? Number.NaN };
}

/**
 * Measures two operations in alternation, so that both meet the same load
 * from other processes. It returns the figures of the first, then the second.
 */
export async function measureAlternately(samples: number, first: () => unknown, second: () => unknown): Promise<[LatencySummary, LatencySummary]> {
  const firstHistogram = new LatencyHistogram();
  const secondHistogram = new LatencyHistogram();
  for (let index = 0; index < samples; index += 1) {
    let started = performance.now();
    await first();
    firstHistogram.record(performance.now() - started);
    started = performance.now();
    await second();
    secondHistogram.record(performance.now() - started);
  }
  return [firstHistogram.summary(), secondHistogram.summary()];
}

/**
 * Opens a corpus that an earlier run kept in BENCH_SEARCH_DIR. The vocabulary
 * is built again from the same seed, and the searcher is the user bench0.
 */
function openKeptCorpus(dataDir: string): Corpus {
  const file = path.join(dataDir, 'chatterbox.db');
  const db = new BetterSqlite3(file, { readonly: true });
  const searcherId = db.prepare("SELECT id FROM users WHERE username = 'bench0'").pluck().get() as string;
  const teamId = db.prepare('SELECT id FROM teams').pluck().get() as string;
  db.close();
  return { dataDir, file, searcherId, teamId, vocabulary: buildVocabulary(VOCABULARY_SIZE, seededRandom(42)) };
}

/**
 * Runs the search scenario and adds its figures to the summary. With
 * BENCH_SEARCH_DIR set, the corpus is kept in that folder, and a later run
 * with the same setting measures queries on it without building it again.
 */
export async function runSearchBench(settings: RunSettings): Promise<void> {
  const size = settings.smoke ? SMOKE : FULL;
  const keptDir = process.env.BENCH_SEARCH_DIR;
  const reuse = keptDir !== undefined && fs.existsSync(path.join(keptDir, 'chatterbox.db'));
  const corpus = reuse ? openKeptCorpus(keptDir) : await writeCorpus(size, keptDir);
  let server: ChatterBox | undefined;
  try {
    if (reuse) {
      console.log(`\nsearch: measuring queries on the corpus kept in ${keptDir}; indexing is not measured`);
    } else {
      const indexing = await indexCorpus(corpus, size);
      console.log(`\nsearch indexing (${size.messages} messages of ~${MESSAGE_CHARS} characters in ${size.channels} channels)`);
      console.log(`  through indexMessage, Kysely transactions of 500: ${formatNumber(indexing.throughActionsPerSecond)} msgs/s (${size.indexedThroughActions} messages; other processes used ${formatNumber(100 * indexing.throughActionsForeignCpu)}% of a core)`);
      console.log(`  bulk, prepared statements, transactions of 5000:  ${formatNumber(indexing.bulkPerSecond)} msgs/s (${size.messages - size.indexedThroughActions} messages; other processes used ${formatNumber(100 * indexing.bulkForeignCpu)}% of a core)`);
    }
    const databaseBytes = fs.statSync(corpus.file).size;
    console.log(`  database file ${formatNumber(databaseBytes / 1024 / 1024)} MiB`);

    server = await buildChatterBox(buildConfig({ dataDir: corpus.dataDir, port: 0 }), createLogger('warn'));
    const ctx = server.ctx;
    const user = (await ctx.storage.db.selectFrom('users').selectAll().where('id', '=', corpus.searcherId).executeTakeFirstOrThrow()) as UserRow;
    const auth: Auth = { user, session: { id: 'bench', user_id: user.id } as SessionRow };
    const bare = new BetterSqlite3(corpus.file, { readonly: true });
    const bareNewest = bare.prepare('SELECT rowid FROM search_fts WHERE search_fts MATCH ? ORDER BY rowid LIMIT 20');
    const bareRanked = bare.prepare('SELECT rowid FROM search_fts WHERE search_fts MATCH ? ORDER BY rank LIMIT 20');
    const countAll = bare.prepare('SELECT count(*) FROM search_fts WHERE search_fts MATCH ?').pluck();

    const search = async (q: string, sort: 'date' | 'relevance') => {
      const outcome = await runSearch(ctx, auth, { q, sort, kind: 'messages', limit: 20, cursor: undefined, teamId: corpus.teamId });
      return presentMessageHits(ctx, outcome);
    };

    const index = searchIndexFor(ctx.storage.dialect);
    console.log(`\nLatency in ms, p50 / p95. "index" is the permission-filtered index query alone (21 rows newest first, or the ${TOTAL_CAP + 1} rows that a relevance search counts and takes its candidates from); "search" is the whole search without HTTP; "search relevance CPU" is its median CPU time in this process.`);
    console.log('\n| query | q | FTS5 matches | bare FTS5 newest | index newest | ratio p95 | search newest | bare FTS5 bm25 | index relevance | search relevance | search relevance CPU | other processes\' CPU |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const kind of queryKinds(corpus.vocabulary)) {
      const parsed = parseSearchQuery(kind.q, { now: Date.now(), timeZone: 'UTC' });
      const resolved = (await resolveSearch(ctx.storage.db, { userId: auth.user.id, teamId: corpus.teamId, kind: 'messages' }, parsed))!;
      // The bare query has the same words and none of the filters.
      const match = matchExpression({ include: parsed.include, exclude: parsed.exclude, facetTeamIds: [], conversations: { any: [], none: [] }, authors: { any: [], none: [] } })!;
      const matches = countAll.get(match) as number;

      // One warm-up run of each, so the first sample does not pay for reading the index from disk.
      await search(kind.q, 'date');
      await search(kind.q, 'relevance');
      bareNewest.all(match);

      const foreignCpu = startForeignCpuMeter([]);
      const [bareNewestFigures, indexNewest] = await measureAlternately(size.newestSamples, () => bareNewest.all(match), () => index.listNewest(ctx.storage.db, resolved, {}, 21));
      const searchNewest = await measure(size.samples, () => search(kind.q, 'date'));
      const bareRankedFigures = await measure(size.bm25Samples, () => bareRanked.all(match));
      const indexRanked = await measure(size.samples, () => index.listNewest(ctx.storage.db, resolved, {}, TOTAL_CAP + 1));
      const { latency: searchRanked, cpuMs: searchRankedCpu } = await measureWithCpu(size.samples, () => search(kind.q, 'relevance'));
      const ratio = indexNewest.p95Ms / bareNewestFigures.p95Ms;
      const foreign = foreignCpu();
      recordForeignCpu('search', foreign);

      const pair = (figures: LatencySummary) => `${formatNumber(figures.p50Ms)} / ${formatNumber(figures.p95Ms)}`;
      console.log(
        `| ${kind.name} | \`${kind.q}\` | ${formatNumber(matches)} | ${pair(bareNewestFigures)} | ${pair(indexNewest)} | ${formatNumber(ratio)} | ${pair(searchNewest)} | ${pair(bareRankedFigures)} | ${pair(indexRanked)} | ${pair(searchRanked)} | ${formatNumber(searchRankedCpu)} | ${formatNumber(100 * foreign)}% |`,
      );
      addRow({
        figure: `search newest-first p95, ${kind.name} (index query)`,
        unit: 'ms',
        goal: 'p95 ≤ 3x bare FTS5 newest-first',
        raw: [bareNewestFigures.p95Ms],
        chatterbox: [indexNewest.p95Ms],
        ratios: [ratio],
        met: settings.smoke ? undefined : ratio <= 3,
        note: `whole search p95 ${formatNumber(searchNewest.p95Ms)} ms`,
      });
      addRow({
        figure: `search relevance p95, ${kind.name} (whole search)`,
        unit: 'ms',
        goal: 'p95 ≤ 100 ms (raw: bare FTS5 bm25 over every match)',
        raw: [bareRankedFigures.p95Ms],
        chatterbox: [searchRanked.p95Ms],
        ratios: [searchRanked.p95Ms / bareRankedFigures.p95Ms],
        met: settings.smoke ? undefined : searchRanked.p95Ms <= 100,
      });
    }
    bare.close();
  } finally {
    await server?.close();
    if (keptDir === undefined) fs.rmSync(corpus.dataDir, { recursive: true, force: true });
  }
}
