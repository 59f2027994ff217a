import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { expect, test } from 'vitest';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { removeDataDir, startServer, TEST_DATABASE_URL, withSchemaLock } from '../helpers/server.js';
import { ApiClient } from '../../src/client/api.js';

test('migration indexes existing messages', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-test-'));
  const first = await startServer({ dataDir });
  const ada = await buildUser(first.url, 'ada');
  const team = await buildTeam(ada);
  const kept = await ada.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'Meerkats were counted' });
  const removed = await ada.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'meerkat typo' });
  await ada.api.delete(`/api/messages/${removed.id}`);

  // Undo the search migration, as on a server that ran before search existed.
  const storage = first.server.ctx.storage;
  const undoSearchMigration = async () => {
    if (storage.dialect.name === 'sqlite') await sql`DROP TABLE search_fts`.execute(storage.db);
    await sql`DROP TABLE search_documents`.execute(storage.db);
    await sql`DELETE FROM kysely_migration WHERE name = '004-search'`.execute(storage.db);
  };
  // Another worker's migrator lists the tables of every schema and fails on one dropped meanwhile.
  await (TEST_DATABASE_URL === undefined ? undoSearchMigration() : withSchemaLock(undoSearchMigration));
  await first.close();

  const second = await startServer({ dataDir });
  try {
    const restarted = new ApiClient(second.url, ada.token);
    const page = await restarted.get<{ results: Array<{ message: { id: string } }>; total: number }>('/api/search?q=meerkat');
    expect(page.results.map((result) => result.message.id)).toEqual([kept.id]);
    expect(page.total).toBe(1);
  } finally {
    await second.close();
    await removeDataDir(dataDir);
  }
});
