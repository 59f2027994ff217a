import type { Auth } from '../accounts/actions.js';
import type { AppContext } from '../platform/context.js';
import { accessTeam } from '../teams/access.js';
import { decodeCursor, encodeCursor, hashSearch, type SearchCursor, type SearchSort } from './cursor.js';
import { checkTimeZone } from './dates.js';
import { parseSearchQuery, type TextTerm } from './query-parser.js';
import { resolveSearch } from './resolve.js';
import { searchIndexFor, type ResolvedSearch, type SearchHit, type SearchKind } from './search-index.js';

/**
 * How many of the newest matches a relevance search ranks. Ranking every match
 * of a common word costs seconds on a million messages (FTS5's bm25 and
 * PostgreSQL's ts_rank alike), so relevance orders the newest matches only.
 * On SQLite, ranking analyses each candidate's text, which is most of a
 * relevance search's time (see rank.ts).
 */
export const RELEVANCE_CANDIDATES = 500;

/** Maximum number of matches that `total` counts; more set `total_capped`. */
export const TOTAL_CAP = 1000;

export interface SearchRequest {
  q: string;
  sort: SearchSort;
  kind: SearchKind;
  limit: number;
  cursor: string | undefined;
  /** One team, or undefined for every team of the caller. */
  teamId: string | undefined;
}

export interface SearchOutcome {
  hits: SearchHit[];
  /** The included terms, for highlighting. */
  terms: TextTerm[];
  nextCursor: string | null;
  /** Matches counted up to TOTAL_CAP; null on later pages of a newest-first search. */
  total: number | null;
  /** True when more matches exist than `total` counts. */
  totalCapped: boolean;
}

/**
 * Runs a search for the caller: parses the query, resolves its names, and
 * queries the engine's index for one page of visible matches. Permission is
 * part of every index query, so pages and counts contain only what the
 * caller may read now.
 */
export async function runSearch(ctx: AppContext, auth: Auth, request: SearchRequest): Promise<SearchOutcome> {
  const db = ctx.storage.db;
  if (request.teamId !== undefined) await accessTeam(db, request.teamId, auth.user.id);

  const query = parseSearchQuery(request.q, { now: ctx.now(), timeZone: checkTimeZone(auth.user.time_zone) });
  const queryHash = hashSearch([request.q, request.sort, request.kind, request.teamId]);
  const cursor = request.cursor === undefined ? undefined : decodeCursor(request.cursor, request.sort, queryHash);
  const empty: SearchOutcome = { hits: [], terms: query.include, nextCursor: null, total: cursor === undefined ? 0 : null, totalCapped: false };

  const search = await resolveSearch(db, { userId: auth.user.id, teamId: request.teamId, kind: request.kind }, query);
  if (search === undefined) return empty;

  const started = performance.now();
  const outcome = request.sort === 'date' ? await searchNewest(ctx, search, cursor, request.limit, queryHash) : await searchByRelevance(ctx, search, cursor, request.limit, queryHash);
  ctx.logger.debug(
    { component: 'search', userId: auth.user.id, teamId: request.teamId, sort: request.sort, kind: request.kind, hits: outcome.hits.length, durationMs: Math.round(performance.now() - started) },
    'search ran',
  );
  return { ...outcome, terms: query.include };
}

type PageOutcome = Omit<SearchOutcome, 'terms'>;

async function searchNewest(ctx: AppContext, search: ResolvedSearch, cursor: SearchCursor | undefined, limit: number, queryHash: string): Promise<PageOutcome> {
  const index = searchIndexFor(ctx.storage.dialect);
  const db = ctx.storage.reader;
  const rows = await index.listNewest(db, search, { after: cursor }, limit + 1);
  const hits = rows.slice(0, limit);
  const last = hits[hits.length - 1];
  const nextCursor =
    rows.length > limit && last !== undefined
      ? encodeCursor({ sort: 'date', queryHash, createdAt: last.createdAt, docId: last.docId, position: null, maxDocId: null })
      : null;

  // Only the first page counts, which keeps later pages as cheap as the scan they need.
  if (cursor !== undefined) return { hits, nextCursor, total: null, totalCapped: false };
  const count = rows.length <= limit ? rows.length : await index.countMatches(db, search, TOTAL_CAP);
  return { hits, nextCursor, total: Math.min(count, TOTAL_CAP), totalCapped: count > TOTAL_CAP };
}

async function searchByRelevance(ctx: AppContext, search: ResolvedSearch, cursor: SearchCursor | undefined, limit: number, queryHash: string): Promise<PageOutcome> {
  const index = searchIndexFor(ctx.storage.dialect);
  // One scan serves the count (up to TOTAL_CAP) and the candidates (the newest RELEVANCE_CANDIDATES).
  const fetched = await index.listNewest(ctx.storage.reader, search, { maxDocId: cursor?.maxDocId ?? undefined }, TOTAL_CAP + 1);
  const candidates = fetched.slice(0, RELEVANCE_CANDIDATES);
  // Later pages rank the same candidates: none newer than the first page's newest.
  const maxDocId = cursor?.maxDocId ?? candidates.reduce((max, hit) => Math.max(max, hit.docId), 0);

  const ranked = await index.rankCandidates(ctx.storage.reader, candidates, search.include);
  const start = cursor === undefined ? 0 : nextPosition(ranked, cursor);
  const hits = ranked.slice(start, start + limit);
  const last = hits[hits.length - 1];
  const nextCursor =
    start + limit < ranked.length && last !== undefined
      ? encodeCursor({ sort: 'relevance', queryHash, createdAt: last.createdAt, docId: last.docId, position: start + hits.length - 1, maxDocId })
      : null;
  return { hits, nextCursor, total: Math.min(fetched.length, TOTAL_CAP), totalCapped: fetched.length > TOTAL_CAP };
}

/**
 * Returns where the next relevance page starts: after the cursor's last
 * result, found again by doc id because an edit or deletion may have moved
 * it, or after its old position when that message is gone.
 */
function nextPosition(ranked: readonly SearchHit[], cursor: SearchCursor): number {
  const index = ranked.findIndex((hit) => hit.docId === cursor.docId);
  return index >= 0 ? index + 1 : (cursor.position ?? -1) + 1;
}
