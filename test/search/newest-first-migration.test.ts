import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { uploadFile } from '../helpers/files.js';
import { removeDataDir, startServer, TEST_DATABASE_URL } from '../helpers/server.js';
import { ApiClient } from '../../src/client/api.js';
import { fileDocument, messageDocument } from '../../src/search/indexing.js';
import { ftsColumns } from '../../src/search/sqlite-index.js';
import type { Db } from '../../src/storage/database.js';
import type { FileRow, MessageRow } from '../../src/storage/schema.js';

interface Page {
  results: Array<{ message: { id: string } }>;
  total: number;
}

/** Rebuilds search_fts as servers before 012-search-newest-first had it: rowid = doc id, and the trigger to match. */
async function restoreOldLayout(db: Db): Promise<void> {
  await sql`DROP TRIGGER search_documents_delete`.execute(db);
  await sql`DROP TABLE search_fts`.execute(db);
  await sql`CREATE VIRTUAL TABLE search_fts USING fts5(
    stems, words, facets, content='', contentless_delete=1, tokenize='ascii', prefix='2 3'
  )`.execute(db);
  await sql`CREATE TRIGGER search_documents_delete AFTER DELETE ON search_documents BEGIN
    DELETE FROM search_fts WHERE rowid = old.doc_id;
  END`.execute(db);

  const messages = await db
    .selectFrom('search_documents as d')
    .innerJoin('messages as m', 'm.id', 'd.message_id')
    .innerJoin('conversations as c', 'c.id', 'm.conversation_id')
    .selectAll('m')
    .select(['c.team_id', 'd.doc_id'])
    .execute();
  for (const { team_id: teamId, doc_id: docId, ...row } of messages) {
    const columns = ftsColumns(messageDocument(row as MessageRow, teamId));
    await sql`INSERT INTO search_fts (rowid, stems, words, facets) VALUES (${docId}, ${columns.stems}, ${columns.words}, ${columns.facets})`.execute(db);
  }
  const files = await db.selectFrom('search_documents as d').innerJoin('files as f', 'f.id', 'd.file_id').selectAll('f').select('d.doc_id').execute();
  for (const { doc_id: docId, ...row } of files) {
    const columns = ftsColumns(fileDocument(row as FileRow));
    await sql`INSERT INTO search_fts (rowid, stems, words, facets) VALUES (${docId}, ${columns.stems}, ${columns.words}, ${columns.facets})`.execute(db);
  }
  await sql`DELETE FROM kysely_migration WHERE name = '012-search-newest-first'`.execute(db);
}

async function ftsRowids(db: Db, word: string): Promise<number[]> {
  const result = await sql<{ rowid: number }>`SELECT rowid FROM search_fts WHERE search_fts MATCH ${`{stems words} : "${word}"`} ORDER BY rowid`.execute(db);
  return result.rows.map((row) => Number(row.rowid));
}

describe.skipIf(TEST_DATABASE_URL !== undefined)('search index layout migration', () => {
  test('old index renumbered, searches kept', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-test-'));
    const first = await startServer({ dataDir });
    const ada = await buildUser(first.url, 'ada');
    const team = await buildTeam(ada);
    const posted: string[] = [];
    for (const text of ['pangolin one', 'pangolin two', 'pangolin three', 'pangolin typo']) {
      posted.push((await ada.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text })).id);
    }
    await ada.api.delete(`/api/messages/${posted[3]}`);
    const file = await uploadFile(first.url, ada, team.generalId, Buffer.from('scales'), { name: 'pangolin-census.csv', type: 'text/csv' });
    await ada.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'census attached', file_ids: [file.id] });

    await restoreOldLayout(first.server.ctx.storage.db);
    expect((await ftsRowids(first.server.ctx.storage.db, 'pangolin')).every((rowid) => rowid > 0)).toBe(true);
    await first.close();

    const second = await startServer({ dataDir });
    try {
      const db = second.server.ctx.storage.db;
      const rowids = await ftsRowids(db, 'pangolin');
      expect(rowids).toHaveLength(4);
      expect(rowids.every((rowid) => rowid < 0)).toBe(true);

      const api = new ApiClient(second.url, ada.token);
      const byDate = await api.get<Page>('/api/search?q=pangolin&sort=date');
      expect(byDate.results.map((result) => result.message.id)).toEqual([posted[2], posted[1], posted[0]]);
      expect(byDate.total).toBe(3);
      const files = await api.get<{ results: Array<{ file: { id: string } }> }>('/api/search/files?q=census');
      expect(files.results.map((result) => result.file.id)).toEqual([file.id]);

      // The new trigger removes a deleted message's FTS5 row.
      await api.delete(`/api/messages/${posted[1]}`);
      expect(await ftsRowids(db, 'pangolin')).toHaveLength(3);
      const after = await api.get<Page>('/api/search?q=pangolin&sort=date');
      expect(after.results.map((result) => result.message.id)).toEqual([posted[2], posted[0]]);
    } finally {
      await second.close();
      await removeDataDir(dataDir);
    }
  });

  test('new database left as created', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-test-'));
    const server = await startServer({ dataDir });
    try {
      const ada = await buildUser(server.url, 'ada');
      const team = await buildTeam(ada);
      await ada.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'okapi sighted' });
      const trigger = await sql<{ sql: string }>`SELECT sql FROM sqlite_master WHERE name = 'search_documents_delete'`.execute(server.server.ctx.storage.db);

      expect(trigger.rows[0]?.sql).toContain('-old.doc_id');
      const rowids = await ftsRowids(server.server.ctx.storage.db, 'okapi');
      expect(rowids).toHaveLength(1);
      expect(rowids[0]).toBeLessThan(0);
    } finally {
      await server.close();
      await removeDataDir(dataDir);
    }
  });
});
