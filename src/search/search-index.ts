import type { CompiledQuery } from 'kysely';
import type { StorageDialect } from '../storage/dialects/dialect.js';
import type { Db, Tx } from '../storage/database.js';
import type { DeferredWrites } from '../storage/deferred-writes.js';
import type { Token } from './analyzer.js';
import type { HasValue, IsValue, TextTerm, ValueFilter } from './query-parser.js';
import { PostgresSearchIndex } from './postgres-index.js';
import { SqliteSearchIndex } from './sqlite-index.js';

/** The index entry of one message or file. */
export interface SearchDocument {
  messageId: string | null;
  fileId: string | null;
  teamId: string;
  conversationId: string;
  authorId: string;
  createdAt: number;
  hasLink: boolean;
  tokens: Token[];
}

export type SearchKind = 'messages' | 'files';

/**
 * A parsed query with its names resolved to ids, for one searcher. Empty
 * `any` lists put no condition; a resolved list that came out empty is
 * reported before the index is asked (see `resolveSearch`).
 */
export interface ResolvedSearch {
  kind: SearchKind;
  userId: string;
  /** Limits the search to one team; undefined searches every team of the user. */
  teamId: string | undefined;
  /** Teams searched, when they are fewer than all teams of the server, so an index may narrow by team; otherwise empty. */
  facetTeamIds: string[];
  include: TextTerm[];
  exclude: TextTerm[];
  conversations: ValueFilter<string>;
  authors: ValueFilter<string>;
  mentions: ValueFilter<string>;
  has: { all: HasValue[]; none: HasValue[] };
  is: { all: IsValue[]; none: IsValue[] };
  createdFrom: number | undefined;
  createdBefore: number | undefined;
}

/** One matching document; `score` is set by relevance ranking (higher is better). */
export interface SearchHit {
  docId: number;
  createdAt: number;
  messageId: string | null;
  fileId: string | null;
  score: number | null;
}

/** The place after which a newest-first page continues. */
export interface DateCursor {
  createdAt: number;
  docId: number;
}

/** Limits of a newest-first listing: after a cursor, and no document newer than `maxDocId`. */
export interface PageBounds {
  after?: DateCursor;
  maxDocId?: number;
}

/**
 * The search index of one storage engine. Both implementations store the
 * terms of src/search/analyzer.ts and translate the same `ResolvedSearch`,
 * and both filter by permission inside the query.
 */
export interface SearchIndex {
  /**
   * Adds a document, or replaces the document of the same message or file.
   * `isNew` means that the message or file has no document yet, so an
   * implementation may skip looking for one. With `deferred`, an
   * implementation may leave part of a new document's writes to it, so
   * the document is complete only once the transaction's deferred writes ran.
   */
  writeDocument(tx: Tx, document: SearchDocument, options?: { isNew?: boolean; deferred?: DeferredWrites }): Promise<void>;
  /**
   * Returns one statement that adds a document for a message or file that has none yet, to run
   * together with the caller's own inserts (StorageDialect.executeTogether). Returns undefined
   * where adding a document takes several statements, and the caller then calls writeDocument.
   */
  newDocumentStatement(tx: Tx, document: SearchDocument): CompiledQuery | undefined;
  /**
   * Adds many new documents in a few statements, in the order given, for bulk
   * imports. No document may exist yet for their messages or files.
   */
  insertDocuments(tx: Tx, dialect: StorageDialect, documents: readonly SearchDocument[]): Promise<void>;
  /** Lists up to `limit` matches, newest first, after the cursor and with `docId` at most `maxDocId`. */
  listNewest(db: Db, search: ResolvedSearch, bounds: PageBounds, limit: number): Promise<SearchHit[]>;
  /** Counts matches, stopping at `cap + 1`. */
  countMatches(db: Db, search: ResolvedSearch, cap: number): Promise<number>;
  /** Scores candidates for the included terms and orders them best first, then newest first. */
  rankCandidates(db: Db, hits: readonly SearchHit[], terms: readonly TextTerm[]): Promise<SearchHit[]>;
}

const indexes = { sqlite: new SqliteSearchIndex(), postgres: new PostgresSearchIndex() };

/** Returns the search index of a storage engine. */
export function searchIndexFor(dialect: Pick<StorageDialect, 'name'>): SearchIndex {
  return indexes[dialect.name];
}
