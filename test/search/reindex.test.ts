import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createLogger } from '../../src/platform/logger.js';
import { reindexSearch } from '../../src/search/reindex.js';
import { buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';

// Rebuilding the search index: missing entries come back, stale ones go, on a live server and from the command line.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface SearchPage {
  results: Array<{ message: { id: string } }>;
  total: number;
}

let server: TestServer;
let ada: TestUser;
let team: TestTeam;

beforeAll(async () => {
  server = await startServer();
  ada = await buildUser(server.url, 'ada');
  team = await buildTeam(ada);
});
afterAll(async () => server.close());

async function post(text: string): Promise<string> {
  return (await ada.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text })).id;
}

async function search(q: string): Promise<string[]> {
  const page = await ada.api.get<SearchPage>(`/api/search?q=${encodeURIComponent(q)}&sort=date`);
  return page.results.map((result) => result.message.id);
}

test('reindex restores and removes entries', async () => {
  const ids = [await post('wombat census one'), await post('wombat census two'), await post('wombat census three')];
  const db = server.server.ctx.storage.db;
  // Lose the entry of the first message, and delete the third behind the index's back.
  await sql`DELETE FROM search_documents WHERE message_id = ${ids[0]}`.execute(db);
  await sql`UPDATE messages SET deleted_at = ${Date.now()} WHERE id = ${ids[2]}`.execute(db);
  expect(await search('wombat')).not.toContain(ids[0]);

  // A batch of two makes the run page through the messages.
  const result = await reindexSearch(server.server.ctx.storage, createLogger('silent'), 2);

  expect(result.removed).toBe(1);
  expect(result.messages).toBeGreaterThanOrEqual(2);
  expect((await search('wombat')).sort()).toEqual([ids[0], ids[1]].sort());
});

test('reindex twice changes nothing', async () => {
  const id = await post('platypus sighting');
  const storage = server.server.ctx.storage;
  await reindexSearch(storage, createLogger('silent'));

  const second = await reindexSearch(storage, createLogger('silent'));

  expect(second.removed).toBe(0);
  expect(await search('platypus')).toEqual([id]);
});

test.skipIf(TEST_DATABASE_URL !== undefined)('cli search reindex', async () => {
  const other = await startServer();
  try {
    const owner = await buildUser(other.url, 'cli');
    const ownTeam = await buildTeam(owner);
    await owner.api.post(`/api/conversations/${ownTeam.generalId}/messages`, { text: 'echidna' });
    await sql`DELETE FROM search_documents`.execute(other.server.ctx.storage.db);

    const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'search', 'reindex'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', CHATTERBOX_DATA_DIR: other.dataDir },
      encoding: 'utf8',
    });

    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/rebuilt: \d+ messages/);
    const page = await owner.api.get<SearchPage>('/api/search?q=echidna');
    expect(page.total).toBe(1);
  } finally {
    await other.close();
  }
});
