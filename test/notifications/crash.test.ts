import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { countPendingJobs, waitForJobsIdle } from '../helpers/jobs.js';
import { TestPushService } from '../helpers/push-service.js';
import { settle, waitUntil } from '../helpers/realtime.js';
import { removeDataDir, startServer, type TestServer } from '../helpers/server.js';

let pushService: TestPushService;
beforeAll(async () => {
  pushService = await TestPushService.start();
});
afterAll(async () => pushService.close());

function settings(jobsEnabled: boolean) {
  return {
    push: { allowedAddresses: ['127.0.0.1'], caFile: pushService.caFile },
    jobs: { enabled: jobsEnabled, pollIntervalMs: 100, retryBaseDelayMs: 100 },
  };
}

/** Runs `body` with a data folder that outlives each server started on it. */
async function withDataDir(body: (dataDir: string, servers: TestServer[]) => Promise<void>): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-crash-'));
  const servers: TestServer[] = [];
  try {
    await body(dataDir, servers);
  } finally {
    for (const server of servers) await server.close().catch(() => undefined);
    await removeDataDir(dataDir);
  }
}

/** Posts a mention of an offline user with a push device on a node that runs no jobs, then stops that node. */
async function postThenStop(dataDir: string, servers: TestServer[]) {
  const first = await startServer({ dataDir, ...settings(false) });
  servers.push(first);
  const alice = await buildUser(first.url, 'alice');
  const bob = await buildUser(first.url, 'bob');
  const team = await buildTeam(alice, [bob]);
  const device = pushService.createDevice();
  await bob.api.post('/api/push/subscriptions', { endpoint: device.endpoint, keys: device.keys });
  const message = await alice.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: `@${bob.username} deploy at noon` });

  // The posting transaction stored the notification job; no node ran it.
  expect(await countPendingJobs(first, 'notify.message')).toBe(1);
  await settle(300);
  expect(device.received).toEqual([]);
  await first.close();
  servers.pop();
  return { alice, bob, device, message, generalId: team.generalId };
}

test('stop between storing and sending still pushes once', { timeout: 120_000 }, async () => {
  await withDataDir(async (dataDir, servers) => {
    const { device, message } = await postThenStop(dataDir, servers);

    const second = await startServer({ dataDir, ...settings(true) });
    servers.push(second);
    await waitUntil(() => device.received.length === 1, 10_000, 'the push after the restart');
    await waitForJobsIdle(second);
    expect(device.received[0]!.payload.message_id).toBe(message.id);
    await second.close();
    servers.pop();

    // A further start finds every job done and sends nothing again.
    const third = await startServer({ dataDir, ...settings(true) });
    servers.push(third);
    await settle(800);
    expect(device.received).toHaveLength(1);
    expect(device.errors).toEqual([]);
  });
});

test('job leased by a stopped node runs after the lease', { timeout: 120_000 }, async () => {
  await withDataDir(async (dataDir, servers) => {
    const { device } = await postThenStop(dataDir, servers);
    const second = await startServer({ dataDir, ...settings(false) });
    servers.push(second);
    const leaseEnds = Date.now() + 1000;
    // As a node that took the job and stopped before finishing it leaves the row.
    await second.server.ctx.storage.db
      .updateTable('jobs')
      .set({ lease_token: 'stopped-node', lease_until: leaseEnds, run_at: leaseEnds, attempts: 1 })
      .where('kind', '=', 'notify.message')
      .execute();
    await second.close();
    servers.pop();

    const third = await startServer({ dataDir, ...settings(true) });
    servers.push(third);
    await settle(Math.max(0, leaseEnds - Date.now() - 200));
    expect(device.received).toEqual([]);
    await waitUntil(() => device.received.length === 1, 10_000, 'the push after the lease');
    await waitForJobsIdle(third);
    const job = await third.server.ctx.storage.db.selectFrom('jobs').selectAll().where('kind', '=', 'notify.message').executeTakeFirstOrThrow();
    expect(job.status).toBe('done');
    expect(Number(job.attempts)).toBe(2);
    expect(device.received).toHaveLength(1);
  });
});

test('the badge of a delayed push reflects reads made meanwhile', { timeout: 120_000 }, async () => {
  await withDataDir(async (dataDir, servers) => {
    const { bob, device, generalId } = await postThenStop(dataDir, servers);
    const second = await startServer({ dataDir, ...settings(false) });
    servers.push(second);
    const api = new ApiClient(second.url, bob.token);
    expect((await api.get<{ badge: number }>('/api/notifications/badge')).badge).toBe(1);
    await api.post(`/api/conversations/${generalId}/read`);
    await second.close();
    servers.pop();

    const third = await startServer({ dataDir, ...settings(true) });
    servers.push(third);
    await waitUntil(() => device.received.length === 1, 10_000, 'the push');
    expect(device.received[0]!.payload.badge).toBe(0);
  });
});
