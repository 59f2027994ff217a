import { sql, type Migration, type QueryExecutorProvider } from 'kysely';
import type { Tx } from '../database.js';
import type { StorageDialect } from '../dialects/dialect.js';
import type { FileRow, MessageRow } from '../schema.js';
import { fileDocument, messageDocument } from '../../search/indexing.js';
import { createFtsTable, ftsColumns, ftsRowid } from '../../search/sqlite-index.js';

/** Documents indexed per statement batch. */
const REFILL_BATCH = 500;

/**
 * Numbers SQLite's FTS5 rows with negated doc ids, so that newest first is
 * FTS5's faster, ascending order (see `ftsRowid`). The table is contentless,
 * so the migration analyses every indexed message and file again: on a large
 * history it takes about as long as indexing it did (an estimate from
 * bench/search.ts, about 3,000 messages per second). A database whose table
 * already has this layout (a new one, since 004-search creates it so) is
 * left as it is. PostgreSQL needs nothing.
 */
export function searchNewestFirstMigration(dialect: StorageDialect['name']): Migration {
  if (dialect !== 'sqlite') return { up: async () => undefined, down: async () => undefined };
  return {
    up: async (db) => {
      // Kysely runs SQLite migrations outside a transaction; one transaction keeps a failure from leaving an empty index.
      await db.transaction().execute(async (tx) => {
        if (await hasNegatedRowids(tx)) return;
        await sql`DROP TRIGGER search_documents_delete`.execute(tx);
        await sql`DROP TABLE search_fts`.execute(tx);
        await createFtsTable(tx);
        await refill(tx as unknown as Tx);
      });
    },
    // Down leaves the new layout: the code of every earlier migration reads and writes it.
    down: async () => undefined,
  };
}

/** True when the delete trigger already negates the doc id, which only the current layout does. */
async function hasNegatedRowids(db: QueryExecutorProvider): Promise<boolean> {
  const trigger = await sql<{ sql: string }>`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'search_documents_delete'`.execute(db);
  return /rowid\s*=\s*-\s*old\.doc_id/i.test(trigger.rows[0]?.sql ?? '');
}

/** Writes the FTS5 row of every search document, in doc id order, one batch in memory at a time. */
async function refill(tx: Tx): Promise<void> {
  let after = 0;
  for (;;) {
    const rows = await tx
      .selectFrom('search_documents as d')
      .innerJoin('messages as m', 'm.id', 'd.message_id')
      .innerJoin('conversations as c', 'c.id', 'm.conversation_id')
      .selectAll('m')
      .select(['c.team_id', 'd.doc_id'])
      .where('d.doc_id', '>', after)
      .orderBy('d.doc_id')
      .limit(REFILL_BATCH)
      .execute();
    if (rows.length === 0) break;
    for (const { team_id: teamId, doc_id: docId, ...row } of rows) await insertRow(tx, docId, ftsColumns(messageDocument(row as MessageRow, teamId)));
    after = rows[rows.length - 1]!.doc_id;
  }

  after = 0;
  for (;;) {
    const rows = await tx
      .selectFrom('search_documents as d')
      .innerJoin('files as f', 'f.id', 'd.file_id')
      .selectAll('f')
      .select('d.doc_id')
      .where('d.doc_id', '>', after)
      .orderBy('d.doc_id')
      .limit(REFILL_BATCH)
      .execute();
    if (rows.length === 0) break;
    for (const { doc_id: docId, ...row } of rows) await insertRow(tx, docId, ftsColumns(fileDocument(row as FileRow)));
    after = rows[rows.length - 1]!.doc_id;
  }
}

async function insertRow(tx: Tx, docId: number, columns: ReturnType<typeof ftsColumns>): Promise<void> {
  await sql`INSERT INTO search_fts (rowid, stems, words, facets) VALUES (${ftsRowid(docId)}, ${columns.stems}, ${columns.words}, ${columns.facets})`.execute(tx);
}
