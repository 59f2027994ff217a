import { sql, type Kysely, type Migration } from 'kysely';
import type { StorageDialect } from '../dialects/dialect.js';

/**
 * Statistics target of the tsvector column. With the default (100), the
 * planner estimates any word missing from its most-common list at 0.5% of the
 * rows, so for a rare word it walked the created_at index row by row (0.5 s
 * on 100,000 messages) instead of reading the GIN index (about 1 ms).
 * With 1,000 it picked the GIN index for the rare word and kept the fast
 * plan for a common one (bench/search-postgres.ts on 300,000 messages).
 */
const TSV_STATISTICS_TARGET = 1000;

/** Raises the statistics target of the PostgreSQL search column; SQLite's FTS5 needs nothing. */
export function searchStatisticsMigration(dialect: StorageDialect['name']): Migration {
  if (dialect === 'sqlite') return { up: async () => undefined, down: async () => undefined };
  return {
    up: async (db: Kysely<unknown>) => {
      await sql`ALTER TABLE search_documents ALTER COLUMN tsv SET STATISTICS ${sql.raw(String(TSV_STATISTICS_TARGET))}`.execute(db);
      await sql`ANALYZE search_documents`.execute(db);
    },
    down: async (db: Kysely<unknown>) => {
      await sql`ALTER TABLE search_documents ALTER COLUMN tsv SET STATISTICS -1`.execute(db);
    },
  };
}
