import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { authenticateToken } from '../../src/accounts/actions.js';
import { postMessage } from '../../src/messages/actions.js';
import { analyseText } from '../../src/search/analyzer.js';
import { indexNewMessage, unindexMessage, type IndexedMessage } from '../../src/search/indexing.js';
import type { CommitGroup } from '../../src/storage/commit-group.js';
import { buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';

// Posts that share a commit group write their FTS5 rows together before the commit (SQLite), or
// with each post's own statements (PostgreSQL). Calls made in one synchronous block share a group.

let server: TestServer;
let ada: TestUser;
let team: TestTeam;

beforeAll(async () => {
  server = await startServer();
  ada = await buildUser(server.url, 'ada');
  team = await buildTeam(ada);
});

afterAll(async () => {
  await server.close();
});

test('posts of one group are all found', async () => {
  const auth = await authenticateToken(server.server.ctx, ada.token);
  if (auth === undefined) throw new Error('the session of ada did not authenticate');
  const words = Array.from({ length: 20 }, (_, index) => `grouped${String.fromCharCode(97 + index)}word`);

  const posted = await Promise.all(words.map((word) => postMessage(server.server.ctx, auth, team.generalId, { text: `note ${word}` }, '127.0.0.1')));

  for (const [index, word] of words.entries()) {
    const page = await ada.api.get<{ results: Array<{ message: { id: string } }> }>(`/api/search?q=${word}`);
    expect(page.results.map((result) => result.message.id)).toEqual([posted[index]!.message.id]);
  }
  const page = await ada.api.get<{ results: Array<{ message: { id: string } }> }>('/api/search?q=note');
  expect(page.results.map((result) => result.message.id)).toEqual(posted.map((result) => result.message.id).reverse());
});

describe.skipIf(TEST_DATABASE_URL !== undefined)('deferred FTS5 rows', () => {
  let counter = 0;

  function group(): CommitGroup {
    const commitGroup = server.server.ctx.storage.commitGroup;
    if (commitGroup === undefined) throw new Error('SQLite storage has no commit group');
    return commitGroup;
  }

  /** Builds a message row with `text` that is indexed only, never stored in `messages`. */
  function buildIndexedMessage(text: string): IndexedMessage {
    counter += 1;
    return {
      id: `deferred-test-${counter}-${Date.now()}`,
      conversation_id: team.generalId,
      author_id: ada.id,
      text,
      root_id: null,
      also_in_channel: 0,
      reply_count: 0,
      reply_users: '[]',
      last_reply_at: null,
      edited_at: null,
      deleted_at: null,
      created_at: Date.now(),
      client_msg_id: null,
      entities: '{"mentions":[],"links":[]}',
    };
  }

  async function docIdOf(messageId: string): Promise<number | undefined> {
    const row = await server.server.ctx.storage.db.selectFrom('search_documents').select('doc_id').where('message_id', '=', messageId).executeTakeFirst();
    return row === undefined ? undefined : Number(row.doc_id);
  }

  /** Returns the rowids of the FTS5 rows whose stems contain the term of `word`. */
  async function ftsRowids(word: string): Promise<number[]> {
    const term = analyseText(word)[0]!.term;
    const result = await sql<{ rowid: number }>`SELECT rowid FROM search_fts WHERE search_fts MATCH ${`stems : "${term}"`}`.execute(server.server.ctx.storage.db);
    return result.rows.map((row) => Number(row.rowid));
  }

  test('document deleted later in the group', async () => {
    const deleted = buildIndexedMessage('deferreddeletedword');
    const ctx = server.server.ctx;

    await Promise.all([
      group().run(async (tx, _events, _now, deferred) => indexNewMessage(ctx, tx, deleted, team.id, deferred)),
      group().run(async (tx) => unindexMessage(tx, deleted.id)),
    ]);

    expect(await docIdOf(deleted.id)).toBeUndefined();
    expect(await ftsRowids('deferreddeletedword')).toEqual([]);
  });

  test('doc id given again in the group', async () => {
    const first = buildIndexedMessage('deferredfirstword');
    const second = buildIndexedMessage('deferredsecondword');
    const ctx = server.server.ctx;
    let firstDocId: number | undefined;

    await Promise.all([
      group().run(async (tx, _events, _now, deferred) => {
        await indexNewMessage(ctx, tx, first, team.id, deferred);
        firstDocId = Number((await tx.selectFrom('search_documents').select('doc_id').where('message_id', '=', first.id).executeTakeFirstOrThrow()).doc_id);
      }),
      group().run(async (tx) => unindexMessage(tx, first.id)),
      group().run(async (tx, _events, _now, deferred) => indexNewMessage(ctx, tx, second, team.id, deferred)),
    ]);

    // SQLite gives the largest rowid plus one, so the second document takes the deleted one's id.
    expect(await docIdOf(second.id)).toBe(firstDocId);
    expect(await ftsRowids('deferredfirstword')).toEqual([]);
    expect(await ftsRowids('deferredsecondword')).toEqual([-firstDocId!]);
  });

  test('failed unit writes no row', async () => {
    const failed = buildIndexedMessage('deferredfailedword');
    const stored = buildIndexedMessage('deferredstoredword');
    const ctx = server.server.ctx;
    const failure = new Error('unit failed on purpose');

    const settled = await Promise.allSettled([
      group().run(async (tx, _events, _now, deferred) => {
        await indexNewMessage(ctx, tx, failed, team.id, deferred);
        throw failure;
      }),
      group().run(async (tx, _events, _now, deferred) => indexNewMessage(ctx, tx, stored, team.id, deferred)),
    ]);

    expect(settled.map((outcome) => outcome.status)).toEqual(['rejected', 'fulfilled']);
    const storedDocId = await docIdOf(stored.id);
    expect(await docIdOf(failed.id)).toBeUndefined();
    expect(await ftsRowids('deferredfailedword')).toEqual([]);
    expect(await ftsRowids('deferredstoredword')).toEqual([-storedDocId!]);
  });
});
