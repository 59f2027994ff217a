import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateSlackExport, type GeneratedExportCounts } from '../../scripts/lib/slack-export-generator.js';
import { RUN_STALE_MS } from '../../src/slack/import/run.js';
import { buildUser, type TestUser } from '../helpers/factories.js';
import { schemaFor, startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';
import { countTeam } from './import-helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let server: TestServer;
let admin: TestUser;
let scratch: string;
let expected: GeneratedExportCounts;

beforeAll(async () => {
  server = await startServer();
  // The command line gives a new team to the first server admin.
  admin = await buildUser(server.url, 'admin');
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-slack-cli-'));
  expected = generateSlackExport(path.join(scratch, 'export'), { messages: 6_000, channels: 12, users: 30, messagesPerDay: 250 });
});

afterAll(async () => {
  await server.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** Runs `chatterbox import-slack` through tsx on the test server's storage. */
function startCli(): { child: ChildProcess; exited: Promise<number | null> } {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', CHATTERBOX_DATA_DIR: server.dataDir, LOG_LEVEL: 'warn' };
  if (TEST_DATABASE_URL !== undefined) Object.assign(env, { DATABASE_URL: TEST_DATABASE_URL, CHATTERBOX_DATABASE_SCHEMA: schemaFor(server.dataDir) });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'import-slack', path.join(scratch, 'export'), '--team', 'Resumed', '--summary'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

async function importedMessages(): Promise<number> {
  const team = await server.server.ctx.storage.db.selectFrom('teams').select('id').where('name', '=', 'Resumed').executeTakeFirst();
  if (team === undefined) return 0;
  return (await countTeam(server.server.ctx.storage.db, team.id)).messages;
}

it('resumes after SIGKILL', { timeout: 120_000 }, async () => {
  const first = startCli();
  let atKill = 0;
  for (;;) {
    atKill = await importedMessages();
    if (atKill > 0) break;
    const done = await Promise.race([first.exited.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 20))]);
    if (done) break;
  }
  first.child.kill('SIGKILL');
  await first.exited;
  expect(atKill).toBeGreaterThan(0);
  expect(atKill).toBeLessThan(expected.messages);

  // The killed run's row stays 'running' and blocks a new run until it is stale.
  const db = server.server.ctx.storage.db;
  const team = await db.selectFrom('teams').select('id').where('name', '=', 'Resumed').executeTakeFirstOrThrow();
  const killed = await db.selectFrom('slack_imports').selectAll().where('team_id', '=', team.id).executeTakeFirstOrThrow();
  expect(killed.status).toBe('running');
  const blocked = await admin.api.raw('POST', `/api/teams/${team.id}/slack-imports`, { path: path.join(scratch, 'export') });
  expect(blocked.status).toBe(409);
  expect((blocked.body as { error: { code: string } }).error.code).toBe('IMPORT_RUNNING');
  // Its heartbeat stopped with the process: move its last beat past the staleness bound instead of waiting.
  await db.updateTable('slack_imports').set({ updated_at: Date.now() - RUN_STALE_MS - 1000 }).where('id', '=', killed.id).execute();
  const interrupted = await admin.api.get<{ status: string; error: string }>(`/api/teams/${team.id}/slack-imports/${killed.id}`);
  expect(interrupted.status).toBe('interrupted');

  const second = startCli();
  let output = '';
  second.child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  expect(await second.exited).toBe(0);
  const summary = JSON.parse(output) as { counts: Record<string, { imported: number; existing: number }> };
  expect(summary.counts.messages!.imported + summary.counts.messages!.existing).toBe(expected.messages);

  const counts = await countTeam(server.server.ctx.storage.db, team.id);
  expect(counts.messages).toBe(expected.messages);
  expect(counts.replies).toBe(expected.replies);
  expect(counts.threads).toBe(expected.threads);
  expect(counts.reactions).toBe(expected.reactions);
  expect(counts.edits).toBe(expected.edits);
  expect(counts.channels).toBe(expected.channels + 1);

  // Sequence numbers follow ts order across the killed and the resumed run.
  const rows = await server.server.ctx.storage.db
    .selectFrom('messages')
    .select(['conversation_id', 'seq', 'slack_ts'])
    .where('slack_ts', 'is not', null)
    .orderBy('conversation_id')
    .orderBy('seq')
    .execute();
  const outOfOrder = rows.filter((row, i) => i > 0 && rows[i - 1]!.conversation_id === row.conversation_id && Number(rows[i - 1]!.slack_ts) >= Number(row.slack_ts));
  expect(outOfOrder).toEqual([]);
});
