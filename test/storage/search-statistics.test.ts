import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';

// The PostgreSQL planner needs a high statistics target on the tsvector column to use the GIN index for rare words.

describe.skipIf(TEST_DATABASE_URL === undefined)('postgres search column', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => server.close());

  test('tsv statistics target raised', async () => {
    const result = await sql<{ target: number }>`SELECT attstattarget AS target FROM pg_attribute
      WHERE attrelid = 'search_documents'::regclass AND attname = 'tsv'`.execute(server.server.ctx.storage.db);

    expect(Number(result.rows[0]?.target)).toBe(1000);
  });
});
