import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { RETENTION_PURGE_INTERVAL_MS, RETENTION_PURGE_JOB, scheduleRetentionPurge } from '../../src/retention/schedule.js';
import { buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { fetchBytes, uploadFile } from '../helpers/files.js';
import { settle } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * The retention purge as the node runs it: a stored job on the job runner,
 * scheduled at start and then once a day, that also removes the search
 * entries and stored bytes of what it purges.
 */

const DAY_MS = 24 * 3600 * 1000;

let server: TestServer;
let owner: TestUser;
let team: TestTeam;

beforeAll(async () => {
  server = await startServer({ jobs: { pollIntervalMs: 100 } });
  owner = await buildUser(server.url, 'keeper');
  team = await buildTeam(owner);
});
afterAll(async () => server.close());

function db() {
  return server.server.ctx.storage.db;
}

function purgeJobs() {
  return db().selectFrom('jobs').selectAll().where('kind', '=', RETENTION_PURGE_JOB).orderBy('run_at').execute();
}

/** Names of the stored blobs of the local file store. */
function blobFiles(): string[] {
  const root = path.join(server.dataDir, 'files', 'f');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name);
}

/** Polls an asynchronous condition until it holds. */
async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await settle(50);
  }
}

async function searchHits(query: string): Promise<number> {
  const result = await owner.api.get<{ results: unknown[] }>(`/api/search?q=${encodeURIComponent(query)}`);
  return result.results.length;
}

test('node schedules the purge at start', async () => {
  await waitFor(async () => (await purgeJobs()).some((job) => job.status === 'done'), 'the first purge to run');

  const jobs = await purgeJobs();
  const next = jobs.find((job) => job.status === 'pending');

  expect(jobs.filter((job) => job.status === 'done')).toHaveLength(1);
  expect(next).toBeDefined();
  expect(Number(next!.run_at) - Date.now()).toBeGreaterThan(RETENTION_PURGE_INTERVAL_MS - 60_000);
  expect(next!.dedupe_key).toBe(`${RETENTION_PURGE_JOB}:${new Date(Number(next!.run_at)).toISOString().slice(0, 10)}`);
});

test('schedule stores one purge a day', async () => {
  const tomorrow = Date.now() + DAY_MS;

  expect(await scheduleRetentionPurge(server.server.ctx)).toBe(false);
  expect(await scheduleRetentionPurge(server.server.ctx, tomorrow)).toBe(false);
  expect((await purgeJobs()).filter((job) => job.status === 'pending')).toHaveLength(1);
});

test('scheduled purge removes messages, search entries and file bytes', async () => {
  await owner.api.patch(`/api/teams/${team.id}/settings`, { retention_days: 365 });
  const oldFile = await uploadFile(server.url, owner, team.generalId, Buffer.from('expired bytes'), { name: 'quarterly-zebra.txt' });
  const old = await owner.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'ancient zebra plans', file_ids: [oldFile.id] });
  const keptFile = await uploadFile(server.url, owner, team.generalId, Buffer.from('kept bytes'), { name: 'current-zebra.txt' });
  const kept = await owner.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'current zebra plans', file_ids: [keptFile.id] });
  await db().updateTable('messages').set({ created_at: Date.now() - 400 * DAY_MS }).where('id', '=', old.id).execute();
  expect(await searchHits('ancient')).toBe(1);
  expect(blobFiles()).toHaveLength(2);

  // A day passes: the pending purge falls due, and the runner takes it without being asked.
  await db().updateTable('jobs').set({ run_at: Date.now() }).where('kind', '=', RETENTION_PURGE_JOB).where('status', '=', 'pending').execute();
  await waitFor(async () => (await purgeJobs()).filter((job) => job.status === 'done').length === 2, 'the second purge to run');

  expect((await owner.api.raw('GET', `/api/messages/${old.id}`)).status).toBe(404);
  expect((await owner.api.raw('GET', `/api/messages/${kept.id}`)).status).toBe(200);
  expect(await searchHits('ancient')).toBe(0);
  expect(await searchHits('current')).toBe(1);
  const oldDocuments = await db().selectFrom('search_documents').select('message_id').where((eb) => eb.or([eb('message_id', '=', old.id), eb('file_id', '=', oldFile.id)])).execute();
  expect(oldDocuments).toEqual([]);
  expect(await db().selectFrom('files').select('id').where('id', '=', oldFile.id).execute()).toEqual([]);
  expect(blobFiles()).toHaveLength(1);
  expect((await fetchBytes(`${server.url}/api/files/${keptFile.id}/content`, { token: owner.token })).status).toBe(200);
  expect((await fetchBytes(`${server.url}/api/files/${oldFile.id}/content`, { token: owner.token })).status).toBe(404);

  const audit = await db().selectFrom('audit_log').selectAll().where('action', '=', 'retention.purged').where('team_id', '=', team.id).execute();
  expect(audit).toHaveLength(1);
  expect(JSON.parse(audit[0]!.details as string)).toMatchObject({ messagesDeleted: 1, filesDeleted: 1 });
});
