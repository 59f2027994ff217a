import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, test } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { CHECKPOINT_INTERVAL_MS, WRITER_CHECKPOINT_PAGES } from '../../src/storage/dialects/sqlite-checkpointer.js';
import { TEST_DATABASE_URL } from '../helpers/server.js';
import { settle, waitUntil } from '../helpers/realtime.js';

// The WAL of the SQLite file is copied into the database file by a worker thread, not by the writer's commits.

/** Rows and bytes per row written by each test: about 600 WAL pages, far below the writer's own threshold. */
const ROWS = 500;
const ROW_BYTES = 1000;

describe.skipIf(TEST_DATABASE_URL !== undefined)('sqlite checkpointer', () => {
  const opened: Array<{ storage: Storage; dataDir: string }> = [];

  async function open(key: string): Promise<{ storage: Storage; file: string }> {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-checkpoint-'));
    const storage = await openStorage({ dataDir, databaseKey: key });
    opened.push({ storage, dataDir });
    return { storage, file: path.join(dataDir, 'chatterbox.db') };
  }

  afterEach(async () => {
    for (const { storage, dataDir } of opened.splice(0)) {
      await storage.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  /** Waits until the file's size has not changed for a few checkpoint intervals, so the migrations' pages are in it. */
  async function waitForSteadySize(file: string): Promise<number> {
    let size = -1;
    for (let rounds = 0; rounds < 40; rounds += 1) {
      const now = fs.statSync(file).size;
      if (now === size) return size;
      size = now;
      await settle(CHECKPOINT_INTERVAL_MS * 3);
    }
    throw new Error(`the size of ${file} kept changing`);
  }

  async function writeRows(storage: Storage): Promise<void> {
    await sql`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`.execute(storage.db);
    // One commit per row, as posts commit, so the WAL gets a frame for every commit.
    for (let row = 0; row < ROWS; row += 1) await sql`INSERT INTO notes (body) VALUES (${'x'.repeat(ROW_BYTES)})`.execute(storage.db);
  }

  test.each([
    ['plain', ''],
    ['encrypted', 'checkpoint test key of enough length'],
  ])('WAL copied into the %s file', async (_name, key) => {
    const { storage, file } = await open(key);
    const before = await waitForSteadySize(file);

    await writeRows(storage);

    await waitUntil(() => fs.statSync(file).size >= before + ROWS * ROW_BYTES, 5000, 'the rows to reach the database file');
    const stored = await sql<{ count: number }>`SELECT count(*) AS count FROM notes`.execute(storage.db);
    expect(Number(stored.rows[0]?.count)).toBe(ROWS);
  });

  test('writer keeps a higher threshold', async () => {
    const { storage } = await open('');

    const result = await sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`.execute(storage.db);

    expect(result.rows[0]?.wal_autocheckpoint).toBe(WRITER_CHECKPOINT_PAGES);
  });
});
