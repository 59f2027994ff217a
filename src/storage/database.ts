import path from 'node:path';
import { Kysely, Migrator, type Migration, type MigrationProvider, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { StorageDialect } from './dialects/dialect.js';
import { createSqliteDialect } from './dialects/sqlite.js';
import * as core from './migrations/001-core.js';

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;

/** Storage handle shared by every module: the query layer and its dialect. */
export interface Storage {
  db: Db;
  dialect: StorageDialect;
  close(): Promise<void>;
}

const MIGRATIONS: Record<string, Migration> = {
  '001-core': core,
};

const provider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};

/** Opens the configured database and brings its schema up to date. */
export async function openStorage(options: { dataDir: string }): Promise<Storage> {
  const dialect = createSqliteDialect(path.join(options.dataDir, 'chatterbox.db'));
  const db = new Kysely<Database>({ dialect: dialect.createKyselyDialect() });

  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  for (const result of results ?? []) {
    if (result.status === 'Error') throw new Error(`Migration ${result.migrationName} failed`, { cause: error });
  }
  if (error) throw error;

  return {
    db,
    dialect,
    close: async () => {
      await db.destroy();
      await dialect.close();
    },
  };
}
