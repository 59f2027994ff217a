import { afterAll, beforeAll, expect, test } from 'vitest';
import { prepareQuery } from '../../src/storage/compiled-query.js';
import type { Db } from '../../src/storage/database.js';
import { startServer, type TestServer } from '../helpers/server.js';

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
