import { CompiledQuery, sql, type RawBuilder } from 'kysely';
import type { Token } from './analyzer.js';
import type { Db, Tx } from '../storage/database.js';
import { nameStatement } from '../storage/compiled-query.js';
import { allOf, documentConditions } from './conditions.js';
import { orderByRelevance, rankCandidates } from './rank.js';
import type { TextTerm } from './query-parser.js';
import type { PageBounds, ResolvedSearch, SearchDocument, SearchHit, SearchIndex } from './search-index.js';

/** Inserts or replaces the index entry of a message or, keyed on `conflict`, of a file. Every post runs it. */
function writeDocumentText(conflict: 'message_id' | 'file_id'): string {
  const text = `INSERT INTO search_documents (message_id, file_id, conversation_id, author_id, created_at, has_link, tsv)
      VALUES ($1, $2, $3, $4, $5, $6, $7::tsvector)
      ON CONFLICT (${conflict}) DO UPDATE SET conversation_id = excluded.conversation_id, author_id = excluded.author_id,
        created_at = excluded.created_at, has_link = excluded.has_link, tsv = excluded.tsv`;
  nameStatement(text);
  return text;
}

const WRITE_MESSAGE_DOCUMENT = writeDocumentText('message_id');
const WRITE_FILE_DOCUMENT = writeDocumentText('file_id');

/**
 * The search index on PostgreSQL: the `tsv` tsvector column of
 * search_documents with a GIN index. The analyser's tokens are written as a
 * tsvector literal, which PostgreSQL stores without running its own parser or
 * dictionaries, so both engines hold the same terms. Each token's term is at
 * its position. For prefix queries, an unstemmed word that differs from its
 * stem is stored at the same position with a leading "=", which no term
 * contains. Queries are tsquery literals built from the same tokens.
 *
 * Newest first orders by (created_at, doc_id). PostgreSQL's planner chooses
 * between the GIN index and the created_at, conversation and author indexes.
 * The tsv column's statistics target is raised (migration 010) so that the
 * planner reads the GIN index for rare words instead of walking created_at.
 */
export class PostgresSearchIndex implements SearchIndex {
  readonly #window: RecentWindow;

  constructor(window: RecentWindow = DEFAULT_WINDOW) {
    this.#window = window;
  }

  async writeDocument(tx: Tx, document: SearchDocument): Promise<void> {
    await tx.executeQuery(this.newDocumentStatement(tx, document));
  }

  // The upsert also serves new documents: its conflict clause costs nothing when there is no row.
  newDocumentStatement(_tx: Tx, document: SearchDocument): CompiledQuery {
    const text = document.messageId !== null ? WRITE_MESSAGE_DOCUMENT : WRITE_FILE_DOCUMENT;
    const values = [document.messageId, document.fileId, document.conversationId, document.authorId, document.createdAt, document.hasLink ? 1 : 0, toTsvector(document.tokens)];
    return CompiledQuery.raw(text, values);
  }

  async insertDocuments(tx: Tx, _dialect: unknown, documents: readonly SearchDocument[]): Promise<void> {
    // 7 parameters per document, far below PostgreSQL's 65,535 per statement.
    for (let start = 0; start < documents.length; start += 500) {
      const values = documents.slice(start, start + 500).map(
        (document) =>
          sql`(${document.messageId}, ${document.fileId}, ${document.conversationId}, ${document.authorId}, ${document.createdAt}, ${document.hasLink ? 1 : 0}, ${toTsvector(document.tokens)}::tsvector)`,
      );
      await sql`INSERT INTO search_documents (message_id, file_id, conversation_id, author_id, created_at, has_link, tsv) VALUES ${sql.join(values)}`.execute(tx);
    }
  }

  /**
   * Lists the newest matches. A long list (a relevance search's 1,001 rows)
   * first tries the newest part of the index alone (see recentWindowStart),
   * and reads everything only when that part contains fewer than `limit`
   * matches. Both give the same rows: every match outside the window is
   * older than every match inside it.
   */
  async listNewest(db: Db, search: ResolvedSearch, bounds: PageBounds, limit: number): Promise<SearchHit[]> {
    if (limit >= this.#window.minLimit) {
      const since = await recentWindowStart(db, limit * this.#window.documentsPerRow, bounds.maxDocId);
      if (since !== undefined) {
        const recent = await listMatches(db, search, bounds, limit, since);
        if (recent.length >= limit) return recent;
      }
    }
    return listMatches(db, search, bounds, limit, undefined);
  }

  async countMatches(db: Db, search: ResolvedSearch, cap: number): Promise<number> {
    const conditions = [...documentConditions(search), ...textConditions(search)];
    const result = await sql<{ count: number }>`SELECT count(*) AS count FROM (
      SELECT 1 FROM search_documents d WHERE ${allOf(conditions)} LIMIT ${cap + 1}) AS matches`.execute(db);
    return Number(result.rows[0]?.count ?? 0);
  }

  /**
   * Ranks with PostgreSQL's `ts_rank` over the candidates' stored tsvectors,
   * divided by 1 + the logarithm of the document's length (option 1). For 500
   * candidates of 300,000 messages this query took about 2 ms, where reading
   * and analysing their text in this process took 22-30 ms of CPU. A
   * candidate deleted since it was listed scores 0.
   */
  async rankCandidates(db: Db, hits: readonly SearchHit[], terms: readonly TextTerm[]): Promise<SearchHit[]> {
    const query = includedQuery(terms);
    if (query === undefined || hits.length === 0) return rankCandidates(db, hits, terms);

    const docIds = hits.map((hit) => hit.docId);
    const result = await sql<{ doc_id: number | string; score: number }>`SELECT doc_id, ts_rank(tsv, ${query}::tsquery, 1) AS score
      FROM search_documents WHERE doc_id = ANY(${docIds}::bigint[])`.execute(db);
    const scores = new Map(result.rows.map((row) => [Number(row.doc_id), Number(row.score)]));
    return orderByRelevance(hits.map((hit) => ({ ...hit, score: scores.get(hit.docId) ?? 0 })));
  }
}

/** Lists up to `limit` matches newest first, only those created at or after `since` when it is given. */
async function listMatches(db: Db, search: ResolvedSearch, bounds: PageBounds, limit: number, since: number | undefined): Promise<SearchHit[]> {
  const conditions = [...documentConditions(search), ...textConditions(search)];
  if (bounds.after !== undefined) conditions.push(sql`(d.created_at, d.doc_id) < (${bounds.after.createdAt}, ${bounds.after.docId})`);
  if (bounds.maxDocId !== undefined) conditions.push(sql`d.doc_id <= ${bounds.maxDocId}`);
  if (since !== undefined) conditions.push(sql`d.created_at >= ${since}`);
  const result = await sql<HitRow>`SELECT d.doc_id, d.created_at, d.message_id, d.file_id FROM search_documents d
    WHERE ${allOf(conditions)} ORDER BY d.created_at DESC, d.doc_id DESC LIMIT ${limit}`.execute(db);
  return result.rows.map(toHit);
}

/** When a listing tries the newest documents first, and how many. */
export interface RecentWindow {
  /** Smallest LIMIT that tries the window first. */
  minLimit: number;
  /** Documents in the window per row requested. */
  documentsPerRow: number;
}

/**
 * Relevance listings (1,001 rows) try a window of 16,016 documents, which
 * contains enough matches when one document in 16 matches. Newest-first pages
 * (21 rows) read few rows anyway.
 */
const DEFAULT_WINDOW: RecentWindow = { minLimit: 200, documentsPerRow: 16 };

/**
 * Returns the `created_at` of the document `size` places below the newest
 * doc id (or below `maxDocId`), or undefined when there are fewer documents.
 * It reads two rows through the primary key. Doc ids follow indexing order,
 * which is posting order except for imports, so the window contains about
 * `size` documents. Any start gives the same results, and only the share of
 * searches that the window serves changes.
 *
 * For `deploy database` (29,084 matches in the 300,000 messages of
 * bench/search-postgres.ts), the planner walked the created_at index
 * backwards and tested 11,339 rows' tsvectors for 1,001 matches. Reading the
 * GIN index for every match and sorting was slower. With the window, the
 * planner combined the GIN index with the created_at range and tested 1,157
 * rows. Run in turn on a busy two-core machine, the listing took 44 ms at p50
 * without the window and 23 ms with it.
 */
async function recentWindowStart(db: Db, size: number, maxDocId: number | undefined): Promise<number | undefined> {
  const newest = maxDocId === undefined ? sql`(SELECT max(doc_id) FROM search_documents)` : sql`${maxDocId}::bigint`;
  const result = await sql<{ created_at: number | string }>`SELECT created_at FROM search_documents
    WHERE doc_id <= ${newest} - ${size} ORDER BY doc_id DESC LIMIT 1`.execute(db);
  const row = result.rows[0];
  return row === undefined ? undefined : Number(row.created_at);
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

/** Highest position PostgreSQL stores; later tokens share it. */
const MAX_POSITION = 16_383;
/** Most positions PostgreSQL keeps for one lexeme. */
const MAX_POSITIONS_PER_LEXEME = 256;

/** Quotes a lexeme for the tsvector and tsquery input syntax. */
function lexeme(term: string): string {
  return `'${term.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** Builds the tsvector literal of a document's tokens. */
export function toTsvector(tokens: readonly Token[]): string {
  const positions = new Map<string, number[]>();
  const add = (term: string, position: number) => {
    const list = positions.get(term) ?? [];
    if (list.length < MAX_POSITIONS_PER_LEXEME && list[list.length - 1] !== position) list.push(position);
    positions.set(term, list);
  };
  tokens.forEach((token, index) => {
    const position = Math.min(index + 1, MAX_POSITION);
    add(token.term, position);
    if (token.word !== token.term) add(`=${token.word}`, position);
  });
  return [...positions].map(([term, list]) => `${lexeme(term)}:${list.join(',')}`).join(' ');
}

/** Translates one term: a lone prefix matches terms and unstemmed words, anything else is a phrase of terms. */
function termQuery(term: TextTerm): string {
  const only = term.tokens[0];
  if (term.tokens.length === 1 && only !== undefined && only.prefix) return `(${lexeme(only.term)}:* | ${lexeme(`=${only.term}`)}:*)`;
  return `(${term.tokens.map((token) => lexeme(token.term) + (token.prefix ? ':*' : '')).join(' <-> ')})`;
}

/** The tsquery of the included terms, all of which must match. */
export function includedQuery(include: readonly TextTerm[]): string | undefined {
  return include.length === 0 ? undefined : include.map(termQuery).join(' & ');
}

/** Conditions of the text terms: every included term matches, and no excluded one. */
function textConditions(search: ResolvedSearch): RawBuilder<unknown>[] {
  const conditions: RawBuilder<unknown>[] = [];
  const included = includedQuery(search.include);
  if (included !== undefined) conditions.push(sql`d.tsv @@ ${included}::tsquery`);
  if (search.exclude.length > 0) conditions.push(sql`NOT (d.tsv @@ ${search.exclude.map(termQuery).join(' | ')}::tsquery)`);
  return conditions;
}
