import { randomUUID } from 'node:crypto';
// search-index.js goes first: it builds both indexes when loaded, so postgres-index.js must not be the entry point.
import { searchIndexFor, type PageBounds, type ResolvedSearch, type SearchDocument, type SearchHit } from '../../src/search/search-index.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { analyseText } from '../../src/search/analyzer.js';
import { PostgresSearchIndex } from '../../src/search/postgres-index.js';
import { parseSearchQuery } from '../../src/search/query-parser.js';
import { resolveSearch } from '../../src/search/resolve.js';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';

// On PostgreSQL, long listings first read a window of the newest documents. These tests compare
// its pages with those of the plan that reads every match, on documents whose creation times are
// out of indexing order (as after an import), so that a wrong window would show.

const WORDS = ['alpha', 'beta', 'gamma', 'delta'];
const DOCUMENTS = 400;

describe.skipIf(TEST_DATABASE_URL === undefined)('postgres recent window', () => {
  let server: TestServer;
  let ada: TestUser;
  let team: TestTeam;
  let channels: string[];
  const windowed = new PostgresSearchIndex({ minLimit: 1, documentsPerRow: 3 });
  const everything = new PostgresSearchIndex({ minLimit: Number.POSITIVE_INFINITY, documentsPerRow: 0 });

  beforeAll(async () => {
    server = await startServer();
    ada = await buildUser(server.url, 'ada');
    const bob = await buildUser(server.url, 'bob');
    team = await buildTeam(ada, [bob]);
    const open = await buildChannel(ada, team.id, { name: 'window-open' });
    // Ada cannot read this one, so the permission check removes matches inside the window too.
    const hidden = await buildChannel(bob, team.id, { name: 'window-hidden', private: true });
    channels = [team.generalId, open.id, hidden.id];

    const documents: SearchDocument[] = [];
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647);
    for (let index = 0; index < DOCUMENTS; index += 1) {
      // Every fifth document is backdated or dated ahead, out of doc id order, and some share a time.
      const shift = index % 5 === 0 ? (next() % 2000) - 1000 : 0;
      const text = WORDS.filter((_, word) => next() % (word + 2) === 0).join(' ') || 'omega';
      documents.push({
        messageId: randomUUID(),
        fileId: null,
        teamId: team.id,
        conversationId: channels[next() % channels.length]!,
        authorId: next() % 2 === 0 ? ada.id : bob.id,
        createdAt: 1_700_000_000_000 + (index + shift) * 1000 - (index % 7 === 0 ? 500 : 0),
        hasLink: false,
        tokens: analyseText(text),
      });
    }
    const storage = server.server.ctx.storage;
    await storage.db.transaction().execute((tx) => searchIndexFor(storage.dialect).insertDocuments(tx, storage.dialect, documents));
  });

  afterAll(async () => server.close());

  async function resolve(q: string): Promise<ResolvedSearch> {
    const query = parseSearchQuery(q, { now: Date.now(), timeZone: 'UTC' });
    const search = await resolveSearch(server.server.ctx.storage.db, { userId: ada.id, teamId: team.id, kind: 'messages' }, query);
    if (search === undefined) throw new Error(`query ${q} resolved to nothing`);
    return search;
  }

  /** Reads every page of a listing, continuing after the last hit of each page. */
  async function pages(index: PostgresSearchIndex, search: ResolvedSearch, limit: number, maxDocId?: number): Promise<number[][]> {
    const all: number[][] = [];
    let bounds: PageBounds = { maxDocId };
    for (;;) {
      const hits: SearchHit[] = await index.listNewest(server.server.ctx.storage.db, search, bounds, limit);
      all.push(hits.map((hit) => hit.docId));
      const last = hits[hits.length - 1];
      if (hits.length < limit || last === undefined) return all;
      bounds = { maxDocId, after: { createdAt: last.createdAt, docId: last.docId } };
    }
  }

  test.each(['alpha', 'beta', 'gamma delta', 'alpha -beta', 'delta in:#window-open', 'omega'])('pages of %s', async (q) => {
    const search = await resolve(q);
    for (const limit of [1, 7, 40]) {
      const expected = await pages(everything, search, limit);
      expect(expected.flat().length).toBeGreaterThan(0);
      expect(await pages(windowed, search, limit)).toEqual(expected);
    }
  });

  test('pages below a maximum doc id', async () => {
    const search = await resolve('alpha');
    const newest = await everything.listNewest(server.server.ctx.storage.db, search, {}, 1);
    const maxDocId = newest[0]!.docId - 150;

    const expected = await pages(everything, search, 7, maxDocId);
    expect(expected.flat().every((docId) => docId <= maxDocId)).toBe(true);
    expect(await pages(windowed, search, 7, maxDocId)).toEqual(expected);
  });
});
