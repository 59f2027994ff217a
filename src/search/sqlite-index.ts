import { sql, type RawBuilder } from 'kysely';
import type { Db, Tx } from '../storage/database.js';
import type { StorageDialect } from '../storage/dialects/dialect.js';
import { allOf, documentConditions } from './conditions.js';
import { rankCandidates } from './rank.js';
import type { TextTerm } from './query-parser.js';
import type { PageBounds, ResolvedSearch, SearchDocument, SearchHit, SearchIndex } from './search-index.js';

/**
 * The search index on SQLite: the FTS5 table `search_fts`, whose rowid is
 * `search_documents.doc_id`. Its column `stems` contains every token's term in
 * order, `words` the unstemmed words that differ from their stems (for prefix
 * queries), and `facets` one token each for the team, conversation and
 * author, so that in: and from: narrow the match inside FTS5. The table is
 * contentless (it stores no text) and its tokenizer is FTS5's `ascii`, which
 * splits only at ASCII punctuation and spaces: the analyser has already
 * folded and split the text, so FTS5 keeps its tokens as they are. A trigger
 * deletes the FTS5 row with its document.
 *
 * Newest first is FTS5's descending rowid order, and doc ids are given in
 * indexing order, so date order is the order in which messages were indexed.
 * For messages posted through the API that is the order of `created_at`.
 */
export class SqliteSearchIndex implements SearchIndex {
  // A document is a search_documents row and a search_fts row keyed by the first's new doc_id, so it takes two statements.
  newDocumentStatement(): undefined {
    return undefined;
  }

  async writeDocument(tx: Tx, document: SearchDocument, options?: { isNew?: boolean }): Promise<void> {
    const { stems, words, facets } = ftsColumns(document);
    const key = document.messageId !== null ? sql`message_id = ${document.messageId}` : sql`file_id = ${document.fileId}`;
    const existing = options?.isNew === true ? undefined : await sql<{ doc_id: number }>`SELECT doc_id FROM search_documents WHERE ${key}`.execute(tx);
    const docId = existing?.rows[0]?.doc_id;

    if (docId !== undefined) {
      await sql`UPDATE search_documents SET conversation_id = ${document.conversationId}, author_id = ${document.authorId},
        created_at = ${document.createdAt}, has_link = ${document.hasLink ? 1 : 0} WHERE doc_id = ${docId}`.execute(tx);
      await sql`UPDATE search_fts SET stems = ${stems}, words = ${words}, facets = ${facets} WHERE rowid = ${docId}`.execute(tx);
      return;
    }

    const inserted = await sql<{ doc_id: number }>`INSERT INTO search_documents (message_id, file_id, conversation_id, author_id, created_at, has_link)
      VALUES (${document.messageId}, ${document.fileId}, ${document.conversationId}, ${document.authorId}, ${document.createdAt}, ${document.hasLink ? 1 : 0})
      RETURNING doc_id`.execute(tx);
    await sql`INSERT INTO search_fts (rowid, stems, words, facets) VALUES (${inserted.rows[0]!.doc_id}, ${stems}, ${words}, ${facets})`.execute(tx);
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
    await dialect.insertMany(tx, 'search_fts', documents.map((document, index) => ({ rowid: firstId + index, ...ftsColumns(document) })));
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
    // (see PermissionCheck). A literal LIMIT took about 20 µs less than a bound one, for a word in
    // 519 of the 1,000,000 messages of bench/search.ts.
    // Bounds go on the FTS5 rowid, which FTS5 uses to start its scan at the right place.
    const conditions = documentConditions(search, 'row');
    if (bounds.after !== undefined) conditions.push(sql`search_fts.rowid < ${bounds.after.docId}`);
    if (bounds.maxDocId !== undefined) conditions.push(sql`search_fts.rowid <= ${bounds.maxDocId}`);
    const result = await sql<HitRow>`SELECT d.doc_id, d.created_at, d.message_id, d.file_id
      FROM search_fts CROSS JOIN search_documents d ON d.doc_id = search_fts.rowid
      WHERE search_fts MATCH ${match} AND ${allOf(conditions)}
      ORDER BY search_fts.rowid DESC LIMIT ${sql.lit(checkedLimit(limit))}`.execute(db);
    return result.rows.map(toHit);
  }

  async countMatches(db: Db, search: ResolvedSearch, cap: number): Promise<number> {
    const match = matchExpression(search);
    const matches =
      match === undefined
        ? sql`SELECT 1 FROM search_documents d WHERE ${allOf([...documentConditions(search), ...exclusionOnly(search)])} LIMIT ${cap + 1}`
        : sql`SELECT 1 FROM search_fts CROSS JOIN search_documents d ON d.doc_id = search_fts.rowid
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
  return [sql`d.doc_id NOT IN (SELECT rowid FROM search_fts WHERE search_fts MATCH ${excluded})`];
}
