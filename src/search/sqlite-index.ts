import { sql, type CompiledQuery, type QueryExecutorProvider, type RawBuilder } from 'kysely';
import { isParameterMarker, prepareQuery, prepareSql, type Param, type PreparedQuery } from '../storage/compiled-query.js';
import type { Db, Tx } from '../storage/database.js';
import type { StorageDialect } from '../storage/dialects/dialect.js';
import type { DeferredWrites } from '../storage/deferred-writes.js';
import { allOf, documentConditions } from './conditions.js';
import { rankCandidates } from './rank.js';
import type { TextTerm } from './query-parser.js';
import type { PageBounds, ResolvedSearch, SearchDocument, SearchHit, SearchIndex } from './search-index.js';

/**
 * The search index on SQLite: the FTS5 table `search_fts`, whose rowid is
 * `search_documents.doc_id` negated (see `ftsRowid`). Its column `stems` contains every token's term in
 * order, `words` the unstemmed words that differ from their stems (for prefix
 * queries), and `facets` one token each for the team, conversation and
 * author, so that in: and from: narrow the match inside FTS5. The table is
 * contentless (it stores no text) and its tokenizer is FTS5's `ascii`, which
 * splits only at ASCII punctuation and spaces: the analyser has already
 * folded and split the text, so FTS5 keeps its tokens as they are. A trigger
 * deletes the FTS5 row with its document.
 *
 * Newest first is FTS5's ascending rowid order, and doc ids are given in
 * indexing order, so date order is the order in which messages were indexed.
 * For messages posted through the API that is the order of `created_at`.
 */
export class SqliteSearchIndex implements SearchIndex {
  // A document is a search_documents row and a search_fts row keyed by the first's new doc_id, so it takes two statements.
  newDocumentStatement(): undefined {
    return undefined;
  }

  async writeDocument(tx: Tx, document: SearchDocument, options?: { isNew?: boolean; deferred?: DeferredWrites }): Promise<void> {
    const { stems, words, facets } = ftsColumns(document);
    const key = document.messageId !== null ? sql`message_id = ${document.messageId}` : sql`file_id = ${document.fileId}`;
    const existing = options?.isNew === true ? undefined : await sql<{ doc_id: number }>`SELECT doc_id FROM search_documents WHERE ${key}`.execute(tx);
    const docId = existing?.rows[0]?.doc_id;

    if (docId !== undefined) {
      await sql`UPDATE search_documents SET conversation_id = ${document.conversationId}, author_id = ${document.authorId},
        created_at = ${document.createdAt}, has_link = ${document.hasLink ? 1 : 0} WHERE doc_id = ${docId}`.execute(tx);
      await sql`UPDATE search_fts SET stems = ${stems}, words = ${words}, facets = ${facets} WHERE rowid = ${ftsRowid(docId)}`.execute(tx);
      return;
    }

    const inserted = await insertDocumentQuery.execute(tx, {
      messageId: document.messageId,
      fileId: document.fileId,
      conversationId: document.conversationId,
      authorId: document.authorId,
      createdAt: document.createdAt,
      hasLink: document.hasLink ? 1 : 0,
    });
    const newDocId = inserted.rows[0]!.doc_id;
    if (options?.deferred === undefined) {
      await insertFtsQuery.execute(tx, { rowid: ftsRowid(newDocId), stems, words, facets });
      return;
    }

    // FTS5 keeps new rows in memory and writes them to disk as a new index segment at the commit.
    // It does so earlier when a savepoint or statement journal opens, and when a row comes with a
    // lower rowid than the one before (fts5SavepointMethod in SQLite's fts5_main.c,
    // sqlite3Fts5IndexBeginWrite in fts5_index.c). Written here, each post's row would make a
    // segment of its own. Deferred, a commit group's rows are written in ascending rowid order
    // after its last unit and make one. A later unit may have deleted the document meanwhile, and
    // SQLite may then have given its doc id to a newer one. So a row is written only while its
    // document exists, and the last row deferred for a doc id wins. The check is a statement of its own because an INSERT from a
    // SELECT opens a statement journal, which would make a segment per row again.
    // NOTE: an edit of the document later in the same group would update no FTS5 row and be undone by
    // this one. No API path can edit a message before its post has committed and returned its id.
    options.deferred.add(`search_fts:${newDocId}`, ftsRowid(newDocId), async (deferredTx) => {
      const live = await documentExistsQuery.execute(deferredTx, { docId: newDocId });
      if (live.rows.length === 0) return;
      await insertFtsQuery.execute(deferredTx, { rowid: ftsRowid(newDocId), stems, words, facets });
    });
  }

  async insertDocuments(tx: Tx, dialect: StorageDialect, documents: readonly SearchDocument[]): Promise<void> {
    if (documents.length === 0) return;
    // The transaction owns SQLite's only write lock, so the ids after the current maximum stay free.
    // They are the ids SQLite itself would give, in the same order.
    const last = await sql<{ max_id: number | null }>`SELECT max(doc_id) AS max_id FROM search_documents`.execute(tx);
    const firstId = Number(last.rows[0]?.max_id ?? 0) + 1;
    const rows = documents.map((document, index) => ({
      doc_id: firstId + index,
      message_id: document.messageId,
      file_id: document.fileId,
      conversation_id: document.conversationId,
      author_id: document.authorId,
      created_at: document.createdAt,
      has_link: document.hasLink ? 1 : 0,
    }));
    await dialect.insertMany(tx, 'search_documents', rows);
    await dialect.insertMany(tx, 'search_fts', documents.map((document, index) => ({ rowid: ftsRowid(firstId + index), ...ftsColumns(document) })));
  }

  async listNewest(db: Db, search: ResolvedSearch, bounds: PageBounds, limit: number): Promise<SearchHit[]> {
    const match = matchExpression(search);
    if (match === undefined) {
      const conditions = [...documentConditions(search), ...exclusionOnly(search)];
      if (bounds.after !== undefined) conditions.push(sql`d.doc_id < ${bounds.after.docId}`);
      if (bounds.maxDocId !== undefined) conditions.push(sql`d.doc_id <= ${bounds.maxDocId}`);
      const result = await sql<HitRow>`SELECT d.doc_id, d.created_at, d.message_id, d.file_id FROM search_documents d
        WHERE ${allOf(conditions)} ORDER BY d.doc_id DESC LIMIT ${limit}`.execute(db);
      return result.rows.map(toHit);
    }

    // FTS5 drives this query and stops at the LIMIT, so each row's conversation is checked as it comes
    // (see PermissionCheck). Its SQL is compiled once per shape (see newestQueryFor).
    const query = newestQueryFor(search, bounds, checkedLimit(limit));
    const result = await query.execute(db, newestParameters(search, bounds, match));
    return result.rows.map(toHit);
  }

  async countMatches(db: Db, search: ResolvedSearch, cap: number): Promise<number> {
    const match = matchExpression(search);
    const matches =
      match === undefined
        ? sql`SELECT 1 FROM search_documents d WHERE ${allOf([...documentConditions(search), ...exclusionOnly(search)])} LIMIT ${cap + 1}`
        : sql`SELECT 1 FROM search_fts CROSS JOIN search_documents d ON d.doc_id = -search_fts.rowid
            WHERE search_fts MATCH ${match} AND ${allOf(documentConditions(search, 'row'))} LIMIT ${sql.lit(checkedLimit(cap + 1))}`;
    const result = await sql<{ count: number }>`SELECT count(*) AS count FROM (${matches}) AS matches`.execute(db);
    return Number(result.rows[0]?.count ?? 0);
  }

  /**
   * Ranks in this process with the indexing analyser (rank.ts). FTS5's bm25()
   * first counts every query word's documents in the whole index. For "that",
   * in 768,000 of 1,000,000 messages, that took 24 ms of CPU when restricted
   * to the candidates' rowid range, about as long as this ranking. With
   * `rowid IN (...)`, FTS5 runs the whole query once per rowid, for seconds.
   */
  rankCandidates(db: Db, hits: readonly SearchHit[], terms: readonly TextTerm[]): Promise<SearchHit[]> {
    return rankCandidates(db, hits, terms);
  }
}

// Prepared because every post runs them (see PreparedQuery).
const insertDocumentQuery = prepareSql<{
  messageId: string | null;
  fileId: string | null;
  conversationId: string;
  authorId: string;
  createdAt: number;
  hasLink: number;
}>()(
  (param) => sql<{ doc_id: number }>`INSERT INTO search_documents (message_id, file_id, conversation_id, author_id, created_at, has_link)
    VALUES (${param('messageId')}, ${param('fileId')}, ${param('conversationId')}, ${param('authorId')}, ${param('createdAt')}, ${param('hasLink')})
    RETURNING doc_id`,
);

const insertFtsQuery = prepareSql<{ rowid: number; stems: string; words: string; facets: string }>()(
  (param) => sql`INSERT INTO search_fts (rowid, stems, words, facets) VALUES (${param('rowid')}, ${param('stems')}, ${param('words')}, ${param('facets')})`,
);

const documentExistsQuery = prepareSql<{ docId: number }>()((param) => sql`SELECT 1 FROM search_documents WHERE doc_id = ${param('docId')}`);

/**
 * Returns the FTS5 rowid of a document: its doc id negated, so that newest
 * first is FTS5's ascending order. FTS5 seeks through a word's rows much more
 * slowly backwards than forwards. In a test table of 1,000,000 rows, a common
 * word in one channel, newest first, took 0.58 ms at p50 with descending
 * rowids and 0.25 ms with ascending ones (docs/benchmarks.md, "Search").
 */
export function ftsRowid(docId: number): number {
  return -docId;
}

/**
 * Creates the FTS5 table and the trigger that deletes a document's row with
 * it. The table is contentless, so a change of its layout indexes every
 * document again (migration 012-search-newest-first).
 */
export async function createFtsTable(db: QueryExecutorProvider): Promise<void> {
  // prefix='2 3' adds index entries for every 2- and 3-character prefix, so short prefix queries read one list.
  await sql`CREATE VIRTUAL TABLE search_fts USING fts5(
    stems, words, facets, content='', contentless_delete=1, tokenize='ascii', prefix='2 3'
  )`.execute(db);
  await sql`CREATE TRIGGER search_documents_delete AFTER DELETE ON search_documents BEGIN
    DELETE FROM search_fts WHERE rowid = -old.doc_id;
  END`.execute(db);
}

/** Builds the values of a document's FTS5 columns. */
export function ftsColumns(document: SearchDocument): { stems: string; words: string; facets: string } {
  return {
    stems: document.tokens.map((token) => token.term).join(' '),
    words: document.tokens
      .filter((token) => token.word !== token.term)
      .map((token) => token.word)
      .join(' '),
    facets: [facet('t', document.teamId), facet('c', document.conversationId), facet('u', document.authorId)].join(' '),
  };
}

/** Builds the facet token of an id: a one-letter kind and the id without dashes, which the ascii tokenizer keeps whole. */
function facet(kind: 't' | 'c' | 'u', id: string): string {
  return kind + id.replaceAll('-', '').toLowerCase();
}

/** Checks a limit that goes into SQL as a literal. */
function checkedLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`search limit must be a positive integer, got ${limit}`);
  return limit;
}

/** Values of a newest-first FTS5 query, by the names that its prepared form binds. */
type NewestParameters = Record<string, unknown>;

/**
 * Most newest-first query shapes kept compiled. A shape is the result kind,
 * which filters and bounds are present, the lengths of the id lists, the
 * `has:` and `is:` values and the LIMIT, so a few dozen cover normal use.
 */
const MAX_NEWEST_SHAPES = 200;
const newestQueries = new Map<string, PreparedQuery<NewestParameters, HitRow>>();

/**
 * Returns the newest-first FTS5 query for the shape of a search, built and
 * compiled in Kysely once per shape. That saved about 4 µs of the 66 µs that
 * the query took for a rare word (bench/search.ts corpus), where the bare FTS5
 * query takes about 25 µs. The SQL is the same for every search of one shape,
 * because the same code builds it from a search whose values are parameters.
 */
function newestQueryFor(search: ResolvedSearch, bounds: PageBounds, limit: number): PreparedQuery<NewestParameters, HitRow> {
  const key = JSON.stringify([
    search.kind,
    search.teamId !== undefined,
    search.createdFrom !== undefined,
    search.createdBefore !== undefined,
    bounds.after !== undefined,
    bounds.maxDocId !== undefined,
    limit,
    ...ID_LISTS.map((name) => idList(search, name).length),
    search.has,
    search.is,
  ]);
  const cached = newestQueries.get(key);
  if (cached !== undefined) return cached;

  const query = prepareQuery<NewestParameters>()((db, param) => {
    const shaped = parameterSearch(search, param);
    const conditions = documentConditions(shaped, 'row');
    // Bounds go on the FTS5 rowid, so FTS5 starts at the bound instead of testing newer rows in SQL.
    // The parameters are doc ids, so the bounds compare them with the negated rowid.
    if (bounds.after !== undefined) conditions.push(sql`search_fts.rowid > -${param('afterDocId')}`);
    if (bounds.maxDocId !== undefined) conditions.push(sql`search_fts.rowid >= -${param('maxDocId')}`);
    // A literal LIMIT took about 20 µs less than a bound one, for a word in 519 of the 1,000,000 messages of bench/search.ts.
    const raw = sql<HitRow>`SELECT d.doc_id, d.created_at, d.message_id, d.file_id
      FROM search_fts CROSS JOIN search_documents d ON d.doc_id = -search_fts.rowid
      WHERE search_fts MATCH ${param('match')} AND ${allOf(conditions)}
      ORDER BY search_fts.rowid LIMIT ${sql.lit(limit)}`;
    return { compile: () => withParametersOnly(raw.compile(db)) };
  });
  if (newestQueries.size >= MAX_NEWEST_SHAPES) newestQueries.delete(newestQueries.keys().next().value as string);
  newestQueries.set(key, query);
  return query;
}

/**
 * Checks that every value of the compiled SQL is a named parameter. A value
 * that documentConditions takes from a search without `parameterSearch`
 * replacing it would be kept as a constant, and every later search of the
 * shape would use the first search's value.
 */
function withParametersOnly<R>(compiled: CompiledQuery<R>): CompiledQuery<R> {
  const constant = compiled.parameters.find((value) => !isParameterMarker(value));
  if (constant !== undefined) throw new Error(`newest-first search SQL has a constant value (${String(constant)}); pass it through parameterSearch`);
  return compiled;
}

/** The id lists of a search that go into its SQL as parameters, one per id. */
const ID_LISTS = ['conversations.any', 'conversations.none', 'authors.any', 'authors.none', 'mentions.any', 'mentions.none'] as const;
type IdList = (typeof ID_LISTS)[number];

function idList(search: ResolvedSearch, name: IdList): string[] {
  const [filter, part] = name.split('.') as ['conversations' | 'authors' | 'mentions', 'any' | 'none'];
  return search[filter][part];
}

/** Returns a copy of the search whose values are the named parameters of the prepared query, in the shape of `search`. */
function parameterSearch(search: ResolvedSearch, param: Param<NewestParameters>): ResolvedSearch {
  const list = (name: IdList) => idList(search, name).map((_, index) => param(`${name}.${index}`) as string);
  return {
    ...search,
    userId: param('userId') as string,
    teamId: search.teamId === undefined ? undefined : (param('teamId') as string),
    conversations: { any: list('conversations.any'), none: list('conversations.none') },
    authors: { any: list('authors.any'), none: list('authors.none') },
    mentions: { any: list('mentions.any'), none: list('mentions.none') },
    createdFrom: search.createdFrom === undefined ? undefined : (param('createdFrom') as number),
    createdBefore: search.createdBefore === undefined ? undefined : (param('createdBefore') as number),
  };
}

/** Returns the values of the parameters that `parameterSearch` names. */
function newestParameters(search: ResolvedSearch, bounds: PageBounds, match: string): NewestParameters {
  const parameters: NewestParameters = {
    match,
    userId: search.userId,
    teamId: search.teamId,
    createdFrom: search.createdFrom,
    createdBefore: search.createdBefore,
    afterDocId: bounds.after?.docId,
    maxDocId: bounds.maxDocId,
  };
  for (const name of ID_LISTS) idList(search, name).forEach((id, index) => (parameters[`${name}.${index}`] = id));
  return parameters;
}

interface HitRow {
  doc_id: number;
  created_at: number;
  message_id: string | null;
  file_id: string | null;
}

function toHit(row: HitRow): SearchHit {
  return { docId: Number(row.doc_id), createdAt: Number(row.created_at), messageId: row.message_id, fileId: row.file_id, score: null };
}

/** Quotes a string for the FTS5 query language; the analyser's tokens contain no quote, but one would be doubled. */
function quote(term: string): string {
  return `"${term.replaceAll('"', '""')}"`;
}

/** Translates one term: a lone prefix matches stems and unstemmed words, anything else is a phrase of stems. */
function termExpression(term: TextTerm): string {
  const only = term.tokens[0];
  if (term.tokens.length === 1 && only !== undefined && only.prefix) return `{stems words} : ${quote(only.term)}*`;
  return `stems : (${term.tokens.map((token) => quote(token.term) + (token.prefix ? '*' : '')).join(' + ')})`;
}

/**
 * Builds the FTS5 MATCH expression, or returns undefined when no term must
 * match. The facets of the search narrow the match inside FTS5: teams (when
 * the searcher's teams are not all teams), in: channels and from: authors. The
 * same conditions are also checked in SQL, so facets only make the scan
 * shorter.
 */
export function matchExpression(search: Pick<ResolvedSearch, 'include' | 'exclude' | 'facetTeamIds' | 'conversations' | 'authors'>): string | undefined {
  if (search.include.length === 0) return undefined;
  const parts = search.include.map(termExpression);
  const anyOf = (kind: 't' | 'c' | 'u', ids: readonly string[]) => `facets : (${ids.map((id) => quote(facet(kind, id))).join(' OR ')})`;
  if (search.facetTeamIds.length > 0) parts.push(anyOf('t', search.facetTeamIds));
  if (search.conversations.any.length > 0) parts.push(anyOf('c', search.conversations.any));
  if (search.authors.any.length > 0) parts.push(anyOf('u', search.authors.any));

  const excluded = search.exclude.map(termExpression);
  if (search.conversations.none.length > 0) excluded.push(anyOf('c', search.conversations.none));
  if (search.authors.none.length > 0) excluded.push(anyOf('u', search.authors.none));

  const positive = parts.join(' AND ');
  return excluded.length === 0 ? positive : `(${positive}) NOT (${excluded.join(' OR ')})`;
}

/** Excludes words when no word must match: FTS5 cannot run a query of only NOT. */
function exclusionOnly(search: ResolvedSearch): RawBuilder<unknown>[] {
  if (search.exclude.length === 0) return [];
  const excluded = search.exclude.map(termExpression).join(' OR ');
  return [sql`d.doc_id NOT IN (SELECT -rowid FROM search_fts WHERE search_fts MATCH ${excluded})`];
}
