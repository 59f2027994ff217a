import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiError } from '../../src/client/api.js';
import { findStatementName, prepareQuery } from '../../src/storage/compiled-query.js';
import type { Db } from '../../src/storage/database.js';
import { buildChannel, buildTeam, buildUser } from '../helpers/factories.js';
import { runSql, startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';

// Runs on SQLite, or on PostgreSQL when TEST_DATABASE_URL is set, like every storage test.

let server: TestServer;
let db: Db;

beforeAll(async () => {
  server = await startServer();
  db = server.server.ctx.storage.db;
});
afterAll(async () => server.close());

const insertStream = prepareQuery<{ id: string; lastSeq: number }>()((database, param) =>
  database.insertInto('streams').values({ id: param('id'), last_seq: param('lastSeq'), min_seq: 1 }),
);

const findEither = prepareQuery<{ first: string; second: string }>()((database, param) =>
  database
    .selectFrom('streams')
    .select(['id', 'last_seq', 'min_seq'])
    .where((eb) => eb.or([eb('id', '=', param('first')), eb('id', '=', param('second'))]))
    .orderBy('id'),
);

function readStreams(prefix: string) {
  return db.selectFrom('streams').select(['id', 'last_seq']).where('id', 'like', `${prefix}%`).orderBy('id').execute();
}

test('prepared query binds each run', async () => {
  await insertStream.execute(db, { id: 'pq:a', lastSeq: 5 });
  await insertStream.execute(db, { id: 'pq:b', lastSeq: 7 });

  const rows = (await findEither.execute(db, { first: 'pq:b', second: 'pq:a' })).rows;

  expect(rows.map((row) => ({ ...row, last_seq: Number(row.last_seq), min_seq: Number(row.min_seq) }))).toEqual([
    { id: 'pq:a', last_seq: 5, min_seq: 1 },
    { id: 'pq:b', last_seq: 7, min_seq: 1 },
  ]);
});

test('prepared query inside a transaction', async () => {
  await db.transaction().execute(async (tx) => {
    await insertStream.execute(tx, { id: 'pq:tx', lastSeq: 3 });
  });

  const rows = await readStreams('pq:tx');

  expect(rows.map((row) => Number(row.last_seq))).toEqual([3]);
});

test('statements run together store every row', async () => {
  const dialect = server.server.ctx.storage.dialect;

  await db.transaction().execute(async (tx) => {
    await dialect.executeTogether(tx, [
      insertStream.compile(tx, { id: 'together:a', lastSeq: 11 }),
      insertStream.compile(tx, { id: 'together:b', lastSeq: 12 }),
      insertStream.compile(tx, { id: 'together:c', lastSeq: 13 }),
    ]);
  });

  const rows = await readStreams('together:');
  expect(rows.map((row) => [row.id, Number(row.last_seq)])).toEqual([
    ['together:a', 11],
    ['together:b', 12],
    ['together:c', 13],
  ]);
});

test('statements run together fail as one', async () => {
  const dialect = server.server.ctx.storage.dialect;
  await insertStream.execute(db, { id: 'together-fail:taken', lastSeq: 1 });

  const attempt = db.transaction().execute(async (tx) => {
    await dialect.executeTogether(tx, [
      insertStream.compile(tx, { id: 'together-fail:new', lastSeq: 2 }),
      insertStream.compile(tx, { id: 'together-fail:taken', lastSeq: 3 }),
    ]);
  });

  const error = await attempt.then(() => undefined, (caught: unknown) => caught);
  expect(dialect.isUniqueViolation(error)).toBe(true);
  const rows = await readStreams('together-fail:');
  expect(rows.map((row) => [row.id, Number(row.last_seq)])).toEqual([['together-fail:taken', 1]]);
});

describe.skipIf(TEST_DATABASE_URL === undefined)('named statements on PostgreSQL', () => {
  test('prepared query runs as a named statement', async () => {
    const text = findEither.compile(db, { first: 'a', second: 'b' }).sql;
    const name = findStatementName(text);

    const prepared = await db.transaction().execute(async (tx) => {
      await findEither.execute(tx, { first: 'named:a', second: 'named:b' });
      return (await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements WHERE name = ${name}`.execute(tx)).rows;
    });

    expect(name).toMatch(/^cb_[0-9a-f]{32}$/);
    expect(prepared.map((row) => row.statement)).toEqual([text]);
  });

  test('posting after migrations add columns', async () => {
    const owner = await buildUser(server.url, 'columns');
    const team = await buildTeam(owner);
    const channel = await buildChannel(owner, team.id);
    // Five posts at once use up to all five pooled connections (the test pool size), which each prepare their statements.
    const postFive = (label: string) =>
      Promise.all(Array.from({ length: 5 }, (_, index) => owner.api.post<{ id: string }>(`/api/conversations/${channel.id}/messages`, { text: `${label} ${index}` })));
    await postFive('before');

    for (const table of ['conversations', 'teams', 'messages', 'events', 'streams', 'search_documents', 'conversation_members']) {
      await sql`ALTER TABLE ${sql.table(table)} ADD COLUMN added_later text`.execute(db);
    }
    const after = await postFive('after');

    expect(after).toHaveLength(5);
    const stored = await db.selectFrom('messages').select('text').where('conversation_id', '=', channel.id).where('text', 'like', 'after %').execute();
    expect(stored).toHaveLength(5);
  });

  test('posting after the connections were terminated', async () => {
    const applicationName = `cbtest_restart_${randomBytes(4).toString('hex')}`;
    const url = new URL(TEST_DATABASE_URL as string);
    url.searchParams.set('application_name', applicationName);
    const restarted = await startServer({ databaseUrl: url.toString() });
    try {
      const owner = await buildUser(restarted.url, 'restart');
      const team = await buildTeam(owner);
      const channel = await buildChannel(owner, team.id);
      await owner.api.post(`/api/conversations/${channel.id}/messages`, { text: 'before' });

      await runSql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${applicationName}'`);
      // A connection still in the pool may fail the first attempt with 503 before the pool detects that it closed.
      let stored: { id: string } | undefined;
      for (let attempt = 0; attempt < 10 && stored === undefined; attempt += 1) {
        stored = await owner.api.post<{ id: string }>(`/api/conversations/${channel.id}/messages`, { text: 'after' }).catch((error: unknown) => {
          if (error instanceof ApiError && error.status === 503) return undefined;
          throw error;
        });
      }

      expect(stored).toBeDefined();
      const again = await owner.api.post<{ id: string }>(`/api/conversations/${channel.id}/messages`, { text: 'again' });
      expect(again.id).not.toBe(stored?.id);
    } finally {
      await restarted.close();
    }
  });
});
