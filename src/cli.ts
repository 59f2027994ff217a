#!/usr/bin/env node
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { recordAudit } from './audit/log.js';
import { rotateFileKey } from './files/rotate.js';
import { reindexSearch } from './search/reindex.js';
import { createLogger } from './platform/logger.js';
import { loadConfig } from './platform/config.js';
import { openStorage } from './storage/database.js';
import { DatabaseKeyError, rekeySqliteFile } from './storage/sqlite-encryption.js';
import { MIN_DATABASE_KEY_CHARS } from './platform/security-config.js';
import { buildChatterBox } from './http/app.js';
import { findOrCreateTeamByName } from './slack/import/actions.js';
import { createImportRun, executeImportRun } from './slack/import/run.js';
import { REPORT_KINDS, type ImportReport } from './slack/import/report.js';
import { SlackToken } from './slack/import/schemas.js';

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
                    environment variables as the server.
  import-slack PATH --team NAME
                    Import a Slack export (its .zip file or the unpacked folder) into the team
                    named NAME, created if missing and owned by the first server admin. Reads
                    the same environment variables as the server and may run while it serves.
                    Running it again adds only what is missing, so a stopped import resumes.
                    Prints the report as JSON; --summary prints only the counts.
                    CHATTERBOX_SLACK_TOKEN, a Slack token with files:read, downloads the bytes
                    of files the export lacks (see docs/slack.md).`;

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

/** Imports a Slack export with the server's configuration; exits 0 when nothing was skipped and 3 when something was. */
async function importSlack(args: string[]): Promise<number> {
  const teamFlag = args.indexOf('--team');
  const teamName = teamFlag === -1 ? undefined : args[teamFlag + 1];
  const rest = args.filter((_arg, index) => index !== teamFlag && index !== teamFlag + 1);
  const summary = rest.includes('--summary');
  const paths = rest.filter((arg) => arg !== '--summary');
  if (teamName === undefined || teamName.trim() === '' || paths.length !== 1 || paths[0]!.startsWith('--')) {
    console.error('Usage: chatterbox import-slack PATH --team NAME [--summary]');
    return 2;
  }

  const slackToken = process.env.CHATTERBOX_SLACK_TOKEN || undefined;
  // The same rule as the API's slack_token field.
  if (slackToken !== undefined && !Value.Check(SlackToken, slackToken)) {
    console.error('CHATTERBOX_SLACK_TOKEN must be a Slack token such as xoxb-..., 8 to 512 letters, digits and dashes');
    return 2;
  }

  const config = loadConfig();
  // Logs go to stderr, so stdout holds only the report.
  const logger = createLogger(config.logLevel, process.stderr);
  // The whole node is built, without listening, so the import uses the same storage, file store and keys.
  // Jobs and file sweeps stay with the server.
  const node = await buildChatterBox({ ...config, jobs: { ...config.jobs, enabled: false }, files: { ...config.files, sweepIntervalMs: 0 } }, logger);
  try {
    const team = await findOrCreateTeamByName(node.ctx, teamName.trim());
    const location = path.resolve(paths[0]!);
    const runId = await createImportRun(node.ctx, team.id, location, null);
    const report = await executeImportRun(node.ctx, runId, team, location, { slackToken });
    console.log(JSON.stringify(summary ? summaryOf(report) : report, null, 2));
    return report.problem_count === 0 ? 0 : 3;
  } finally {
    await node.close();
  }
}

function summaryOf(report: ImportReport) {
  return {
    counts: Object.fromEntries(REPORT_KINDS.map((kind) => [kind, report.counts[kind]])),
    replies: report.replies,
    file_placeholders: report.file_placeholders,
    files_downloaded: report.files_downloaded,
    problem_count: report.problem_count,
    created_accounts: report.created_accounts.length,
  };
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
  if (args[0] === 'import-slack') return importSlack(args.slice(1));
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
