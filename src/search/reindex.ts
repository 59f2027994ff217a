import { sql } from 'kysely';
import type { Logger } from '../platform/logger.js';
import type { Storage } from '../storage/database.js';
import type { FileRow, MessageRow } from '../storage/schema.js';
import { fileDocument, messageDocument } from './indexing.js';
import { searchIndexFor } from './search-index.js';

/** Rows indexed per transaction, so a running server's writes wait at most one short batch. */
const REINDEX_BATCH = 500;

/** Counts of one reindex run. */
export interface ReindexResult {
  messages: number;
  files: number;
  /** Documents of messages or files that are deleted or gone, removed from the index. */
  removed: number;
  durationMs: number;
}

/**
 * Rewrites the search document of every live message and file with the
 * current analyser, then removes documents whose message or file is deleted.
 * Each batch reads its rows and writes their documents in one transaction, so
 * it runs safely beside a live server: an edit committed after a batch
 * indexes itself again as usual. Memory stays at one batch whatever the size.
 */
export async function reindexSearch(storage: Storage, logger: Logger, batchSize = REINDEX_BATCH): Promise<ReindexResult> {
  const started = Date.now();
  const log = logger.child({ component: 'search' });
  log.info('search reindex started');

  const messages = await reindexMessages(storage, log, batchSize);
  const files = await reindexFiles(storage, batchSize);
  const removed = await removeStaleDocuments(storage);

  const result = { messages, files, removed, durationMs: Date.now() - started };
  log.info(result, 'search reindex finished');
  return result;
}

async function reindexMessages(storage: Storage, log: Logger, batchSize: number): Promise<number> {
  const index = searchIndexFor(storage.dialect);
  let after: { createdAt: number; id: string } | undefined;
  let count = 0;

  for (;;) {
    const cursor = after;
    const batch = await storage.db.transaction().execute(async (tx) => {
      let query = tx
        .selectFrom('messages as m')
        .innerJoin('conversations as c', 'c.id', 'm.conversation_id')
        .selectAll('m')
        .select('c.team_id')
        .where('m.deleted_at', 'is', null);
      if (cursor !== undefined) {
        query = query.where((eb) => eb.or([eb('m.created_at', '>', cursor.createdAt), eb.and([eb('m.created_at', '=', cursor.createdAt), eb('m.id', '>', cursor.id)])]));
      }
      const rows = await query.orderBy('m.created_at').orderBy('m.id').limit(batchSize).execute();
      for (const { team_id: teamId, ...row } of rows) await index.writeDocument(tx, messageDocument(row as MessageRow, teamId));
      return rows;
    });

    count += batch.length;
    const last = batch.at(-1);
    if (last === undefined || batch.length < batchSize) return count;
    after = { createdAt: Number(last.created_at), id: last.id };
    if (count % (batchSize * 100) === 0) log.info({ messages: count }, 'search reindex progress');
  }
}

async function reindexFiles(storage: Storage, batchSize: number): Promise<number> {
  const index = searchIndexFor(storage.dialect);
  let afterId: string | undefined;
  let count = 0;

  for (;;) {
    const cursor = afterId;
    const batch = await storage.db.transaction().execute(async (tx) => {
      let query = tx.selectFrom('files').selectAll().where('deleted_at', 'is', null);
      if (cursor !== undefined) query = query.where('id', '>', cursor);
      const rows = (await query.orderBy('id').limit(batchSize).execute()) as FileRow[];
      for (const file of rows) await index.writeDocument(tx, fileDocument(file));
      return rows;
    });

    count += batch.length;
    afterId = batch.at(-1)?.id;
    if (afterId === undefined || batch.length < batchSize) return count;
  }
}

/** Deletes documents of deleted or missing messages and files. On SQLite, a trigger removes their FTS rows. */
async function removeStaleDocuments(storage: Storage): Promise<number> {
  const messages = await sql`DELETE FROM search_documents WHERE message_id IS NOT NULL
    AND message_id NOT IN (SELECT id FROM messages WHERE deleted_at IS NULL)`.execute(storage.db);
  const files = await sql`DELETE FROM search_documents WHERE file_id IS NOT NULL
    AND file_id NOT IN (SELECT id FROM files WHERE deleted_at IS NULL)`.execute(storage.db);
  return Number(messages.numAffectedRows ?? 0n) + Number(files.numAffectedRows ?? 0n);
}
