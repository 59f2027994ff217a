import { sql, type Migration, type QueryExecutorProvider } from 'kysely';
import type { Tx } from '../database.js';
import type { StorageDialect } from '../dialects/dialect.js';
import type { FileRow, MessageRow } from '../schema.js';
import { fileDocument, messageDocument } from '../../search/indexing.js';
import type { SearchDocument } from '../../search/search-index.js';
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

/** Writes the FTS5 row of every search document, messages then files, one batch in memory at a time. */
async function refill(tx: Tx): Promise<void> {
  await refillInBatches(tx, async (after) => {
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
    return rows.map(({ team_id: teamId, doc_id: docId, ...row }) => ({ docId, document: messageDocument(row as MessageRow, teamId) }));
  });

  await refillInBatches(tx, async (after) => {
    const rows = await tx
      .selectFrom('search_documents as d')
      .innerJoin('files as f', 'f.id', 'd.file_id')
      .selectAll('f')
      .select('d.doc_id')
      .where('d.doc_id', '>', after)
      .orderBy('d.doc_id')
      .limit(REFILL_BATCH)
      .execute();
    return rows.map(({ doc_id: docId, ...row }) => ({ docId, document: fileDocument(row as FileRow) }));
  });
}

/** Inserts the FTS5 rows of the batches that `readBatch` returns, in doc id order, until one is empty. */
async function refillInBatches(tx: Tx, readBatch: (afterDocId: number) => Promise<Array<{ docId: number; document: SearchDocument }>>): Promise<void> {
  let after = 0;
  for (;;) {
    const batch = await readBatch(after);
    if (batch.length === 0) return;

    for (const { docId, document } of batch) {
      const columns = ftsColumns(document);
      await sql`INSERT INTO search_fts (rowid, stems, words, facets) VALUES (${ftsRowid(docId)}, ${columns.stems}, ${columns.words}, ${columns.facets})`.execute(tx);
    }
    after = batch[batch.length - 1]!.docId;
  }
}
