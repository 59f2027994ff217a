import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { SqliteReaderError } from '../../src/storage/dialects/sqlite-reader.js';
import { TEST_DATABASE_URL } from '../helpers/server.js';

// The SQLite reader: read-only queries in a worker thread, beside the writer on the same file.

describe.skipIf(TEST_DATABASE_URL !== undefined)('sqlite reader', () => {
  let dataDir: string;
  let storage: Storage;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-reader-'));
    storage = await openStorage({ dataDir, databaseKey: 'reader test key of enough length' });
  });
  afterAll(async () => {
    await storage.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('reads committed writes', async () => {
    expect(storage.reader).not.toBe(storage.db);
    await sql`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`.execute(storage.db);
    await sql`INSERT INTO notes (body) VALUES ('one'), ('two')`.execute(storage.db);

    const result = await sql<{ body: string }>`SELECT body FROM notes ORDER BY id`.execute(storage.reader);

    expect(result.rows.map((row) => row.body)).toEqual(['one', 'two']);
  });

  test('slow query leaves the event loop free', async () => {
    let ticks = 0;
    let longestGapMs = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
      ticks += 1;
    }, 5);
    const started = performance.now();
    try {
      // Five million rows take about 0.75 s on an idle core, long enough for many 5 ms ticks.
      await sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000000) SELECT count(*) AS c FROM n`.execute(storage.reader);
    } finally {
      clearInterval(timer);
    }
    const durationMs = performance.now() - started;

    // On the event loop the whole query would be one gap between ticks.
    expect(durationMs).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThan(5);
    expect(longestGapMs).toBeLessThan(durationMs / 2);
  });

  test('refuses writes and transactions', async () => {
    const error = await sql`INSERT INTO notes (body) VALUES ('three')`.execute(storage.reader).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SqliteReaderError);
    expect((error as SqliteReaderError).code).toBe('SQLITE_READONLY');
    await expect(storage.reader.transaction().execute(async () => undefined)).rejects.toThrow(/no transactions/);
  });

  test('reports a bad statement', async () => {
    const error = await sql`SELECT * FROM missing_table`.execute(storage.reader).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SqliteReaderError);
    expect((error as SqliteReaderError).code).toBe('SQLITE_ERROR');
  });
});

test.skipIf(TEST_DATABASE_URL !== undefined)('reader keeps a script alive', async () => {
  // A script whose only pending work is a reader query must wait for it, not exit.
  const script = `
    import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
    import { openStorage } from ${JSON.stringify(path.resolve('src/storage/database.ts'))};
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-reader-script-'));
    const storage = await openStorage({ dataDir });
    const row = await storage.reader.selectFrom('users').select((eb) => eb.fn.countAll().as('count')).executeTakeFirst();
    console.log('users', row.count);
    await storage.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  `;
  const file = path.join(os.tmpdir(), `reader-script-${process.pid}.mts`);
  fs.writeFileSync(file, script);
  try {
    const run = spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', cwd: path.resolve('.') });
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('users 0');
  } finally {
    fs.rmSync(file, { force: true });
  }
});
