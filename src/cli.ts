#!/usr/bin/env node
import path from 'node:path';
import { recordAudit } from './audit/log.js';
import { rotateFileKey } from './files/rotate.js';
import { reindexSearch } from './search/reindex.js';
import { createLogger } from './platform/logger.js';
import { loadConfig } from './platform/config.js';
import { openStorage } from './storage/database.js';
import { DatabaseKeyError, rekeySqliteFile } from './storage/sqlite-encryption.js';
import { MIN_DATABASE_KEY_CHARS } from './platform/security-config.js';

const USAGE = `Usage: chatterbox <command>

Commands:
  db rekey          Change the encryption key of the SQLite database in CHATTERBOX_DATA_DIR.
                    Stop the server first. Keys are read from the environment, never from arguments:
                      CHATTERBOX_DB_KEY      the current key; empty for an unencrypted database
                      CHATTERBOX_DB_NEW_KEY  the new key; empty to decrypt the database
                    Then start the server with CHATTERBOX_DB_KEY set to the new key.
  rotate-file-key   Re-wrap every file's data key under the current master key. With the
                    generated key file, first add a new random key to it. Reads the same
                    environment variables as the server.
  search reindex    Rebuild the search index of every message and file with the current analyser,
                    and drop entries of deleted ones. Safe while the server runs. Reads the same
                    environment variables as the server.`;

/** Rekeys the database, then opens it with the new key to prove it and to record the rotation in the audit log. */
async function rekey(): Promise<void> {
  const config = loadConfig();
  if (config.databaseUrl !== '') throw new Error('DATABASE_URL is set: rekey applies only to the embedded SQLite database (see docs/security.md for PostgreSQL)');
  const newKey = process.env.CHATTERBOX_DB_NEW_KEY ?? '';
  if (newKey !== '' && [...newKey].length < MIN_DATABASE_KEY_CHARS) throw new Error(`CHATTERBOX_DB_NEW_KEY must be at least ${MIN_DATABASE_KEY_CHARS} characters`);

  const file = path.join(config.dataDir, 'chatterbox.db');
  rekeySqliteFile(file, config.databaseKey, newKey);

  const storage = await openStorage({ dataDir: config.dataDir, databaseKey: newKey });
  try {
    let change = 'rotated';
    if (config.databaseKey === '') change = 'encrypted';
    else if (newKey === '') change = 'decrypted';
    await recordAudit(storage.db, Date.now(), { action: 'database.key_rotated', actorId: null, target: { type: 'database', id: 'sqlite' }, details: { change } });
    console.log(`${file}: key ${change}. Start the server with CHATTERBOX_DB_KEY set to the new key${newKey === '' ? ' (empty)' : ''}.`);
  } finally {
    await storage.close();
  }
}

/** Rebuilds the search index of the configured database and prints the counts. */
async function reindex(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const storage = await openStorage({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, databaseSchema: config.databaseSchema, databaseKey: config.databaseKey, logger });
  try {
    const result = await reindexSearch(storage, logger);
    console.log(`Search index rebuilt: ${result.messages} messages, ${result.files} files, ${result.removed} stale entries removed in ${result.durationMs} ms.`);
  } finally {
    await storage.close();
  }
}

async function main(args: string[]): Promise<number> {
  if (args[0] === 'db' && args[1] === 'rekey' && args.length === 2) {
    await rekey();
    return 0;
  }
  if (args[0] === 'rotate-file-key' && args.length === 1) {
    const config = loadConfig();
    const result = await rotateFileKey(config, createLogger(config.logLevel));
    return result.failedKeys === 0 ? 0 : 1;
  }
  if (args[0] === 'search' && args[1] === 'reindex' && args.length === 2) {
    await reindex();
    return 0;
  }
  console.error(USAGE);
  return args.length === 0 || args[0] === '--help' ? 0 : 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof DatabaseKeyError || error instanceof Error ? `chatterbox: ${error.message}` : error);
    process.exit(1);
  },
);
