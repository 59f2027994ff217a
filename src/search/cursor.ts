import { createHash } from 'node:crypto';
import { AppError } from '../platform/errors.js';

export type SearchSort = 'relevance' | 'date';

/**
 * The continuation point of a search's next page. Newest-first pages continue after
 * (created_at, doc_id). Relevance pages rank the same candidates again: the
 * cursor keeps the newest doc id of the first page's candidates, and the doc
 * id and rank position of the last result returned.
 */
export interface SearchCursor {
  sort: SearchSort;
  /** Hash of the query, sort and scope the cursor belongs to. */
  queryHash: string;
  createdAt: number;
  docId: number;
  /** 0-based rank of the last result of a relevance page. */
  position: number | null;
  maxDocId: number | null;
}

/** Hashes what a cursor must not outlive: the query text, the sort, the result kind and the scope. */
export function hashSearch(parts: ReadonlyArray<string | undefined>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 16);
}

export function encodeCursor(cursor: SearchCursor): string {
  const fields = [cursor.sort === 'date' ? 'd' : 'r', cursor.queryHash, cursor.createdAt, cursor.docId, cursor.position, cursor.maxDocId];
  return Buffer.from(JSON.stringify(fields)).toString('base64url');
}

function invalidCursor(message: string): AppError {
  return new AppError('INVALID_CURSOR', message, { field: 'cursor' });
}

/** Decodes a cursor and checks that it belongs to this search. */
export function decodeCursor(text: string, sort: SearchSort, queryHash: string): SearchCursor {
  let fields: unknown;
  try {
    fields = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor('The cursor is not one this server returned; start the search again without it');
  }
  if (!Array.isArray(fields) || fields.length !== 6) throw invalidCursor('The cursor is not one this server returned; start the search again without it');

  const [sortCode, hash, createdAt, docId, position, maxDocId] = fields as unknown[];
  const isInteger = (value: unknown) => Number.isSafeInteger(value);
  const valid =
    (sortCode === 'd' || sortCode === 'r') &&
    typeof hash === 'string' &&
    isInteger(createdAt) &&
    isInteger(docId) &&
    (position === null || (isInteger(position) && (position as number) >= 0)) &&
    (maxDocId === null || isInteger(maxDocId));
  if (!valid) throw invalidCursor('The cursor is not one this server returned; start the search again without it');
  if ((sortCode === 'd' ? 'date' : 'relevance') !== sort || hash !== queryHash) {
    throw invalidCursor('The cursor belongs to another search; send it with the same q, sort and scope, or start without it');
  }
  return { sort, queryHash: hash, createdAt: createdAt as number, docId: docId as number, position: position as number | null, maxDocId: maxDocId as number | null };
}
