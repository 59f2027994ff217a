import path from 'node:path';
import { Kysely, Migrator, sql, type Migration, type MigrationProvider, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { StorageDialect } from './dialects/dialect.js';
import { createSqliteDialect } from './dialects/sqlite.js';
import { createPostgresDialect } from './dialects/postgres.js';
import * as core from './migrations/001-core.js';
import * as conversationFeatures from './migrations/002-conversation-features.js';
import * as files from './migrations/003-files.js';
import { searchMigration } from './migrations/004-search.js';
import * as security from './migrations/006-security.js';
import * as notifications from './migrations/005-notifications.js';
import * as bots from './migrations/007-bots.js';
import * as slackImport from './migrations/008-slack-import.js';
import * as slackApi from './migrations/009-slack-api.js';
import { searchStatisticsMigration } from './migrations/010-search-statistics.js';
import * as slackImportRuns from './migrations/011-slack-import-runs.js';
import { searchNewestFirstMigration } from './migrations/012-search-newest-first.js';
import { CommitGroup } from './commit-group.js';
import { createLogger, type Logger } from '../platform/logger.js';

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;

/** Storage handle shared by every module: the query layer and its dialect. */
export interface Storage {
  db: Db;
  /**
   * Runs long read-only queries, such as searches, without blocking the event
   * loop: a worker thread on SQLite, the same pool as `db` on PostgreSQL. It
   * reads committed data only and runs no transactions.
   */
  reader: Db;
  dialect: StorageDialect;
  /**
   * Groups the transactions of commitWithEvents. On SQLite, where one connection runs every write, it
   * groups them all. On PostgreSQL it is keyed and groups only the work given a key (see CommitGroup).
   */
  commitGroup?: CommitGroup;
  close(): Promise<void>;
}

/** Migrations in order of their names; those whose tables differ by engine get the engine's name. */
function migrationsFor(dialect: StorageDialect['name']): Record<string, Migration> {
  return {
    '001-core': core,
    '002-conversation-features': conversationFeatures,
    '003-files': files,
    '004-search': searchMigration(dialect),
    '005-notifications': notifications,
    '006-security': security,
    '007-bots': bots,
    '008-slack-import': slackImport,
    '009-slack-api': slackApi,
    '010-search-statistics': searchStatisticsMigration(dialect),
    '011-slack-import-runs': slackImportRuns,
    '012-search-newest-first': searchNewestFirstMigration(dialect),
  };
}

export interface StorageOptions {
  dataDir: string;
  /** A postgres:// URL selects PostgreSQL; without it, SQLite in `dataDir`. */
  databaseUrl?: string;
  databaseSchema?: string;
  databasePoolSize?: number;
  /** Key of the SQLite file; empty or absent leaves it unencrypted. */
  databaseKey?: string;
  logger?: Logger;
}

/** Opens the configured database and brings its schema up to date. */
export async function openStorage(options: StorageOptions): Promise<Storage> {
  const dialect = options.databaseUrl
    ? createPostgresDialect({
        connectionString: options.databaseUrl,
        schema: options.databaseSchema,
        poolSize: options.databasePoolSize ?? 10,
        statementTimeoutMs: 15_000,
        onIdleError: (error) => options.logger?.warn({ component: 'storage', err: error }, 'database connection lost'),
      })
    : createSqliteDialect(path.join(options.dataDir, 'chatterbox.db'), options.databaseKey, options.logger);
  const db = new Kysely<Database>({ dialect: dialect.createKyselyDialect() });

  const migrations = migrationsFor(dialect.name);
  if (!(await isUpToDate(db, Object.keys(migrations)))) await migrate(db, migrations, options.databaseSchema);

  const reader = dialect.createReaderKyselyDialect === undefined ? db : new Kysely<Database>({ dialect: dialect.createReaderKyselyDialect(options.logger ?? createLogger('silent')) });
  return {
    db,
    reader,
    dialect,
    commitGroup: new CommitGroup(db, dialect, () => Date.now(), { keyed: !dialect.singleWriter, logger: options.logger }),
    close: async () => {
      if (reader !== db) await reader.destroy();
      await db.destroy();
      await dialect.close();
    },
  };
}

/**
 * True when the migration table lists every migration, so a start can skip Kysely's migrator. The
 * migrator first lists the tables of every schema on the server, which is slow on a server with
 * many schemas and fails when another client drops a schema meanwhile. The table is read through
 * the connection's search_path, which is set to the configured schema.
 */
async function isUpToDate(db: Kysely<Database>, names: readonly string[]): Promise<boolean> {
  let rows: Array<{ name: string }>;
  try {
    rows = (await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db)).rows;
  } catch {
    // No migration table yet: a new database.
    return false;
  }
  const done = new Set(rows.map((row) => row.name));
  return names.every((name) => done.has(name));
}

/** Runs the migrations that have not run, under Kysely's migration lock. */
async function migrate(db: Kysely<Database>, migrations: Record<string, Migration>, schema: string | undefined): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  // Kysely looks for its migration tables in every schema unless given ours. Each migration touches
  // only its own tables, so one that is missing runs even when later ones already ran.
  const migrator = new Migrator({
    db,
    provider,
    allowUnorderedMigrations: true,
    ...(schema && { migrationTableSchema: schema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  for (const result of results ?? []) {
    if (result.status === 'Error') throw new Error(`Migration ${result.migrationName} failed`, { cause: error });
  }
  if (error) throw error;
}
