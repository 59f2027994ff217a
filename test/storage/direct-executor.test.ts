import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompiledQuery, sql, type KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { executeCompiled, prepareSql, runTransaction } from '../../src/storage/compiled-query.js';
import type { Tx } from '../../src/storage/database.js';
import { TEST_DATABASE_URL } from '../helpers/server.js';

// Compiled queries run directly on SQLite's writer connection, without Kysely's executor.

describe.skipIf(TEST_DATABASE_URL !== undefined)('direct executor', () => {
  let storage: Storage;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-direct-'));
    storage = await openStorage({ dataDir });
    await sql`CREATE TABLE direct_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`.execute(storage.db);
  });

  afterAll(async () => {
    await storage.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const insert = (name: string) => CompiledQuery.raw('INSERT INTO direct_rows (name) VALUES (?) RETURNING id, name', [name]);
  const rename = (from: string, to: string) => CompiledQuery.raw('UPDATE direct_rows SET name = ? WHERE name = ?', [to, from]);

  async function names(): Promise<string[]> {
    const rows = await sql<{ name: string }>`SELECT name FROM direct_rows ORDER BY id`.execute(storage.db);
    return rows.rows.map((row) => row.name);
  }

  test('rollback undoes direct statements', async () => {
    const failure = new Error('roll back');
    const outcome = runTransaction(storage.db, async (tx) => {
      await executeCompiled(tx, insert('rolled-back'));
      throw failure;
    });
    await expect(outcome).rejects.toBe(failure);
    expect(await names()).not.toContain('rolled-back');

    await runTransaction(storage.db, async (tx) => executeCompiled(tx, insert('committed')));
    expect(await names()).toContain('committed');
  });

  test('results match Kysely executor', async () => {
    // A plugin makes the transaction keep Kysely's executor, so the two paths run side by side.
    const passThrough: KyselyPlugin = { transformQuery: (args) => args.node, transformResult: async (args) => args.result };
    await runTransaction(storage.db, async (tx) => {
      const direct = await executeCompiled(tx, insert('direct'));
      const kysely = await executeCompiled(tx.withPlugin(passThrough), insert('kysely'));
      expect(direct.rows).toEqual([{ id: (kysely.rows[0] as { id: number }).id - 1, name: 'direct' }]);
      expect(Object.keys(direct).sort()).toEqual(Object.keys(kysely).sort());

      const directUpdate = await executeCompiled(tx, rename('direct', 'direct-renamed'));
      const kyselyUpdate = await executeCompiled(tx.withPlugin(passThrough), rename('kysely', 'kysely-renamed'));
      expect(directUpdate.numAffectedRows).toBe(1n);
      expect(directUpdate).toEqual({ ...kyselyUpdate, insertId: directUpdate.insertId });
    });
  });

  test('a failing statement rejects with the driver error', async () => {
    await runTransaction(storage.db, async (tx) => executeCompiled(tx, insert('unique')));
    const duplicate = runTransaction(storage.db, async (tx) => executeCompiled(tx, insert('unique')));
    const error = await duplicate.then(
      () => undefined,
      (rejected: unknown) => rejected,
    );
    expect(storage.dialect.isUniqueViolation(error)).toBe(true);
  });

  test('plugins see statements of their transaction', async () => {
    let seen = 0;
    const counter: KyselyPlugin = {
      transformQuery: (args) => args.node,
      transformResult: async (args) => {
        seen += 1;
        return args.result;
      },
    };
    await storage.db.transaction().execute(async (tx) => executeCompiled(tx.withPlugin(counter), insert('counted')));
    expect(seen).toBe(1);
  });

  test('outside statements wait for an open transaction', async () => {
    const count = CompiledQuery.raw("SELECT count(*) AS n FROM direct_rows WHERE name = 'pending'", []);
    let outside: Promise<unknown> | undefined;
    let settled = false;
    await runTransaction(storage.db, async (tx) => {
      await executeCompiled(tx, insert('pending'));
      outside = executeCompiled(storage.db, count).then((result) => {
        settled = true;
        return result.rows;
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(settled).toBe(false);
    });
    expect(await outside).toEqual([{ n: 1 }]);
  });

  // Kysely rejects a query on a transaction that has ended. Run directly, it would commit on its own or join another transaction.
  describe('a transaction used after it ended', () => {
    const insertRow = prepareSql<{ name: string }>()((param) => sql`INSERT INTO direct_rows (name) VALUES (${param('name')})`);

    async function endedTransaction(name: string): Promise<Tx> {
      let ended: Tx | undefined;
      await runTransaction(storage.db, async (tx) => {
        ended = tx;
        await insertRow.execute(tx, { name });
      });
      return ended!;
    }

    // Kysely's check throws before any promise exists, so the calls are wrapped to turn that into a rejection.
    test('rejected outside any transaction', async () => {
      const ended = await endedTransaction('ended-alone');
      await expect((async () => insertRow.execute(ended, { name: 'late-alone' }))()).rejects.toThrow('Transaction is already committed');
      expect(await names()).not.toContain('late-alone');
    });

    test('rejected inside another transaction', async () => {
      const ended = await endedTransaction('ended-inside');
      const rollback = new Error('roll back the other transaction');
      let lateError: unknown;
      const other = runTransaction(storage.db, async (tx) => {
        await insertRow.execute(tx, { name: 'other' });
        lateError = await (async () => insertRow.execute(ended, { name: 'late-inside' }))().then(
          () => undefined,
          (error: unknown) => error,
        );
        throw rollback;
      });
      await expect(other).rejects.toBe(rollback);
      expect((lateError as Error | undefined)?.message).toBe('Transaction is already committed');
      expect(await names()).not.toContain('late-inside');
    });
  });
});
