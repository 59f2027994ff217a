import type { FastifyRequest } from 'fastify';
import type { App } from '../http/app.js';
import { callerOf, requireAuth } from '../http/auth.js';
import type { AppContext } from '../platform/context.js';
import { presentFileHits, presentMessageHits } from './present.js';
import { runSearch } from './run-search.js';
import type { SearchKind } from './search-index.js';
import { FileSearchPage, MessageSearchPage, SearchQueryString, TeamSearchParams } from './schemas.js';

/** Registers message and file search, across the caller's teams and within one team. */
export function registerSearchRoutes(app: App, ctx: AppContext): void {
  const authenticated = { onRequest: requireAuth(ctx) };
  const tags = ['search'];

  const run = (request: FastifyRequest, query: SearchQueryString, kind: SearchKind, teamId: string | undefined) =>
    runSearch(ctx, callerOf(request), {
      q: query.q,
      sort: query.sort ?? 'relevance',
      kind,
      limit: query.limit ?? 20,
      cursor: query.cursor,
      teamId,
    });
  const page = <T>(results: T[], outcome: Awaited<ReturnType<typeof runSearch>>) => ({
    results,
    next_cursor: outcome.nextCursor,
    total: outcome.total,
    total_capped: outcome.totalCapped,
  });

  app.get('/api/search', { ...authenticated, schema: { tags, querystring: SearchQueryString, response: { 200: MessageSearchPage } } }, async (request) => {
    const outcome = await run(request, request.query, 'messages', undefined);
    return page(await presentMessageHits(ctx, outcome), outcome);
  });

  app.get('/api/search/files', { ...authenticated, schema: { tags, querystring: SearchQueryString, response: { 200: FileSearchPage } } }, async (request) => {
    const outcome = await run(request, request.query, 'files', undefined);
    return page(await presentFileHits(ctx, outcome), outcome);
  });

  app.get(
    '/api/teams/:teamId/search',
    { ...authenticated, schema: { tags, params: TeamSearchParams, querystring: SearchQueryString, response: { 200: MessageSearchPage } } },
    async (request) => {
      const outcome = await run(request, request.query, 'messages', request.params.teamId);
      return page(await presentMessageHits(ctx, outcome), outcome);
    },
  );

  app.get(
    '/api/teams/:teamId/search/files',
    { ...authenticated, schema: { tags, params: TeamSearchParams, querystring: SearchQueryString, response: { 200: FileSearchPage } } },
    async (request) => {
      const outcome = await run(request, request.query, 'files', request.params.teamId);
      return page(await presentFileHits(ctx, outcome), outcome);
    },
  );
}
