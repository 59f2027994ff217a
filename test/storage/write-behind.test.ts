import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { executeWrite, runTransaction } from '../../src/storage/compiled-query.js';
import type { Db } from '../../src/storage/database.js';
import { WriteBehindError } from '../../src/storage/write-behind.js';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';

// Writes sent behind exist on PostgreSQL only: SQLite runs every statement at once in-process.

describe.runIf(TEST_DATABASE_URL !== undefined)('write behind', () => {
  let server: TestServer;
  let db: Db;

  beforeAll(async () => {
    server = await startServer();
    db = server.server.ctx.storage.db;
    await sql`CREATE TABLE behind_rows (id integer PRIMARY KEY, name text NOT NULL)`.execute(db);
  });
  afterAll(async () => server.close());

  const insert = (id: number, name: string) => CompiledQuery.raw('INSERT INTO behind_rows (id, name) VALUES ($1, $2)', [id, name]);

  async function names(ids: number[]): Promise<string[]> {
    const rows = await db.selectFrom('behind_rows' as never).select('name' as never).where('id' as never, 'in', ids as never).orderBy('id' as never).execute();
    return (rows as Array<{ name: string }>).map((row) => row.name);
  }

  test('read after writes sees them', async () => {
    const seen = await runTransaction(
      db,
      async (tx) => {
        await executeWrite(tx, insert(1, 'first'));
        await executeWrite(tx, insert(2, 'second'));
        const rows = await sql<{ name: string }>`SELECT name FROM behind_rows WHERE id IN (1, 2) ORDER BY id`.execute(tx);
        return rows.rows.map((row) => row.name);
      },
      { writeBehind: true },
    );

    expect(seen).toEqual(['first', 'second']);
    expect(await names([1, 2])).toEqual(['first', 'second']);
  });

  test('commit sends the last writes', async () => {
    await runTransaction(db, async (tx) => executeWrite(tx, insert(3, 'third')), { writeBehind: true });

    expect(await names([3])).toEqual(['third']);
  });

  test('failed write rejects the next read', async () => {
    const outcome = runTransaction(
      db,
      async (tx) => {
        await executeWrite(tx, insert(4, 'kept only if all commit'));
        await executeWrite(tx, insert(1, 'duplicate'));
        await sql`SELECT 1`.execute(tx);
      },
      { writeBehind: true },
    );

    const error = await outcome.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WriteBehindError);
    expect(server.server.ctx.storage.dialect.isUniqueViolation((error as WriteBehindError).cause)).toBe(true);
    expect(await names([4])).toEqual([]);
  });

  test('failed write fails the commit', async () => {
    const outcome = runTransaction(
      db,
      async (tx) => {
        await executeWrite(tx, insert(5, 'kept only if all commit'));
        await executeWrite(tx, insert(1, 'duplicate'));
      },
      { writeBehind: true },
    );

    await expect(outcome).rejects.toBeInstanceOf(WriteBehindError);
    expect(await names([5])).toEqual([]);
  });

  test('write pg cannot send fails the commit', async () => {
    // pg rejects this value before anything reaches the server, so the transaction is not aborted there.
    const unserialisable = { toPostgres: () => { throw new Error('cannot serialise'); } };
    const outcome = runTransaction(
      db,
      async (tx) => {
        await executeWrite(tx, insert(7, 'kept only if all commit'));
        await executeWrite(tx, CompiledQuery.raw('INSERT INTO behind_rows (id, name) VALUES ($1, $2)', [8, unserialisable]));
        await executeWrite(tx, insert(9, 'kept only if all commit'));
      },
      { writeBehind: true },
    );

    await expect(outcome).rejects.toBeInstanceOf(WriteBehindError);
    expect(await names([7, 8, 9])).toEqual([]);
  });

  test('rollback drops unsent writes', async () => {
    const failure = new Error('roll back');
    const outcome = runTransaction(
      db,
      async (tx) => {
        await executeWrite(tx, insert(6, 'rolled back'));
        throw failure;
      },
      { writeBehind: true },
    );

    await expect(outcome).rejects.toBe(failure);
    expect(await names([6])).toEqual([]);
    // Every pooled connection still works, so none kept a write for its next transaction.
    const pooled = await Promise.all(Array.from({ length: 5 }, () => runTransaction(db, async (tx) => (await sql<{ one: number }>`SELECT 1 AS one`.execute(tx)).rows)));
    expect(pooled.flat()).toEqual(Array.from({ length: 5 }, () => ({ one: 1 })));
    expect(await names([6])).toEqual([]);
  });

  test('flushed writes roll back', async () => {
    // The write and the read go out together, and the write must still land inside the transaction.
    const failure = new Error('roll back');
    const outcome = runTransaction(
      db,
      async (tx) => {
        await executeWrite(tx, insert(10, 'rolled back after a read'));
        await sql`SELECT 1`.execute(tx);
        throw failure;
      },
      { writeBehind: true },
    );

    await expect(outcome).rejects.toBe(failure);
    expect(await names([10])).toEqual([]);
  });

  test('writes run at once without the option', async () => {
    const outcome = runTransaction(db, async (tx) => {
      await executeWrite(tx, insert(1, 'duplicate'));
    });

    const error = await outcome.catch((caught: unknown) => caught);
    expect(error).not.toBeInstanceOf(WriteBehindError);
    expect(server.server.ctx.storage.dialect.isUniqueViolation(error)).toBe(true);
  });
});
