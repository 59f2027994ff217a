import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { enqueueJob, findJobByDedupeKey } from '../../src/jobs/queries.js';
import { JobRunner, PermanentJobError, RetryJobError, type RunningJob } from '../../src/jobs/runner.js';
import { buildConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import type { Storage } from '../../src/storage/database.js';
import { settle, waitUntil } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

// The jobs run on the storage of a real server, whose own runner is off, so only the runners below take them.
let server: TestServer;
let storage: Storage;
beforeAll(async () => {
  server = await startServer({ jobs: { enabled: false } });
  storage = server.server.ctx.storage;
});
afterAll(async () => server.close());

const logger = createLogger('silent');
const runners: JobRunner[] = [];

function startRunner(overrides: Partial<ReturnType<typeof buildConfig>['jobs']> = {}): JobRunner {
  const config = buildConfig({ jobs: { enabled: true, pollIntervalMs: 50, retryBaseDelayMs: 100, retryMaxDelayMs: 1000, leaseMs: 5000, ...overrides } }).jobs;
  const runner = new JobRunner(storage, config, logger);
  runners.push(runner);
  return runner;
}

async function stopRunners(): Promise<void> {
  await Promise.all(runners.splice(0).map((runner) => runner.stop()));
}

let kindCounter = 0;
/** A job kind of its own per test, so jobs left by one test never reach another's handler. */
function freshKind(): string {
  kindCounter += 1;
  return `test.kind${kindCounter}.${Date.now()}`;
}

async function jobRow(dedupeKey: string) {
  const row = await findJobByDedupeKey(storage.db, dedupeKey);
  if (row === undefined) throw new Error(`no job with key ${dedupeKey}`);
  return row;
}

describe('job runner', () => {
  test('runs a job once and marks it done', async () => {
    const kind = freshKind();
    const seen: unknown[] = [];
    const runner = startRunner();
    runner.register(kind, async (job: RunningJob<{ n: number }>) => {
      seen.push(job.payload.n);
    });
    runner.start();
    await enqueueJob(storage.db, { kind, payload: { n: 7 }, dedupeKey: `${kind}:a` }, Date.now());
    runner.poke();
    await waitUntil(() => seen.length === 1, 5000, 'the job');
    await settle(200);
    expect(seen).toEqual([7]);
    expect((await jobRow(`${kind}:a`)).status).toBe('done');
    await stopRunners();
  });

  test('dedupe key stores a job once', async () => {
    const kind = freshKind();
    const now = Date.now();
    expect(await enqueueJob(storage.db, { kind, payload: {}, dedupeKey: `${kind}:same` }, now)).toBe(true);
    expect(await enqueueJob(storage.db, { kind, payload: {}, dedupeKey: `${kind}:same` }, now)).toBe(false);
  });

  test('failed attempts retry with growing delays', async () => {
    const kind = freshKind();
    const attempts: number[] = [];
    const runner = startRunner();
    runner.register(kind, async (job) => {
      attempts.push(Date.now());
      if (job.attempt < 4) throw new Error(`attempt ${job.attempt} failed`);
    });
    runner.start();
    await enqueueJob(storage.db, { kind, payload: {}, dedupeKey: `${kind}:r` }, Date.now());
    runner.poke();
    await waitUntil(() => attempts.length === 4, 10_000, 'four attempts');
    const gaps = attempts.slice(1).map((at, index) => at - attempts[index]!);
    // Base 100 ms doubling with ±25% jitter: about 100, 200 and 400 ms.
    expect(gaps[0]).toBeGreaterThanOrEqual(70);
    expect(gaps[1]).toBeGreaterThanOrEqual(145);
    expect(gaps[2]).toBeGreaterThanOrEqual(295);
    await settle(100);
    const row = await jobRow(`${kind}:r`);
    expect(row.status).toBe('done');
    expect(Number(row.attempts)).toBe(4);
    await stopRunners();
  });

  test('max attempts marks the job failed', async () => {
    const kind = freshKind();
    let calls = 0;
    const runner = startRunner({ retryBaseDelayMs: 20 });
    runner.register(kind, async () => {
      calls += 1;
      throw new Error('always fails');
    });
    runner.start();
    await enqueueJob(storage.db, { kind, payload: {}, dedupeKey: `${kind}:m`, maxAttempts: 3 }, Date.now());
    runner.poke();
    await waitUntil(() => calls === 3, 5000, 'three attempts');
    await settle(300);
    expect(calls).toBe(3);
    const row = await jobRow(`${kind}:m`);
    expect(row.status).toBe('failed');
    expect(row.last_error).toBe('always fails');
    await stopRunners();
  });

  test('permanent error fails at once', async () => {
    const kind = freshKind();
    let calls = 0;
    const runner = startRunner();
    runner.register(kind, async () => {
      calls += 1;
      throw new PermanentJobError('cannot ever work');
    });
    runner.start();
    await enqueueJob(storage.db, { kind, payload: {}, dedupeKey: `${kind}:p` }, Date.now());
    runner.poke();
    await waitUntil(() => calls === 1, 5000, 'the attempt');
    await settle(300);
    expect(calls).toBe(1);
    expect((await jobRow(`${kind}:p`)).status).toBe('failed');
    await stopRunners();
  });

  test('retry-after delay is honoured', async () => {
    const kind = freshKind();
    const attempts: number[] = [];
    const runner = startRunner();
    runner.register(kind, async (job) => {
      attempts.push(Date.now());
      if (job.attempt === 1) throw new RetryJobError('busy', 600);
    });
    runner.start();
    await enqueueJob(storage.db, { kind, payload: {}, dedupeKey: `${kind}:ra` }, Date.now());
    runner.poke();
    await waitUntil(() => attempts.length === 2, 5000, 'the second attempt');
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(590);
    await stopRunners();
  });

  test('expired lease is taken again', async () => {
    const kind = freshKind();
    const now = Date.now();
    await enqueueJob(storage.db, { kind, payload: {}, dedupeKey: `${kind}:l` }, now);
    // A node took the job and stopped: its lease ends 400 ms from now.
    await storage.db.updateTable('jobs').set({ lease_token: 'gone', lease_until: now + 400, run_at: now + 400, attempts: 1 }).where('dedupe_key', '=', `${kind}:l`).execute();
    const runs: number[] = [];
    const runner = startRunner();
    runner.register(kind, async (job) => {
      runs.push(job.attempt);
    });
    runner.start();
    await settle(250);
    expect(runs).toEqual([]);
    await waitUntil(() => runs.length === 1, 5000, 'the job after the lease');
    expect(runs).toEqual([2]);
    await stopRunners();
  });

  test('two runners never run one job twice', async () => {
    const kind = freshKind();
    const counts = new Map<number, number>();
    const handler = async (job: RunningJob<{ n: number }>) => {
      counts.set(job.payload.n, (counts.get(job.payload.n) ?? 0) + 1);
      await settle(5);
    };
    const first = startRunner({ concurrency: 4 });
    const second = startRunner({ concurrency: 4 });
    first.register(kind, handler);
    second.register(kind, handler);
    const now = Date.now();
    for (let n = 0; n < 60; n += 1) await enqueueJob(storage.db, { kind, payload: { n }, dedupeKey: `${kind}:${n}` }, now);
    first.start();
    second.start();
    await waitUntil(() => counts.size === 60, 15_000, 'sixty jobs');
    await settle(300);
    expect([...counts.values()].every((count) => count === 1)).toBe(true);
    await stopRunners();
  });

  test('stop waits for the running attempt', async () => {
    const kind = freshKind();
    let finished = false;
    const runner = startRunner();
    runner.register(kind, async () => {
      await settle(300);
      finished = true;
    });
    runner.start();
    await enqueueJob(storage.db, { kind, payload: {}, dedupeKey: `${kind}:s` }, Date.now());
    runner.poke();
    await settle(100);
    await runner.stop();
    expect(finished).toBe(true);
    expect((await jobRow(`${kind}:s`)).status).toBe('done');
  });
});
