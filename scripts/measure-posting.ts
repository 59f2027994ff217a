/**
 * Measures the server cost of posting a message through the posting action
 * (`postMessage`, which the socket `post` frame and the HTTP route both call),
 * in this process, on SQLite or on PostgreSQL:
 *
 * - statements per post, and on PostgreSQL round trips per post, counted by
 *   wrapping the driver (better-sqlite3's statement calls, pg's Client.query),
 *   with the job runner's notification jobs for those posts included;
 * - CPU per post of this process (process.cpuUsage), posting one at a time
 *   and with 32 posts in flight, and on PostgreSQL the CPU of its backends;
 * - posts/s with 32 in flight, into one channel and spread over 8 channels;
 * - on PostgreSQL, how long each transaction holds the channel's `streams`
 *   row lock (from the upsert that takes it to the end of the COMMIT).
 *
 *   npx tsx scripts/measure-posting.ts [--postgres URL] [--posts N] [--seconds S]
 *
 * Each run uses a fresh SQLite folder or PostgreSQL schema and removes it at
 * the end. Wall-clock figures depend on the machine's other load, which is
 * printed beside them; CPU per post and statement counts depend on it much less.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import MultipleCiphers from 'better-sqlite3-multiple-ciphers';
import { ApiClient } from '../src/client/api.js';
import { authenticateToken, type Auth } from '../src/accounts/actions.js';
import { buildChatterBox, type ChatterBox } from '../src/http/app.js';
import { postMessage } from '../src/messages/actions.js';
import { NOTIFY_MESSAGE_JOB } from '../src/notifications/pipeline.js';
import { buildConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';

const IN_FLIGHT = 32;
const CHANNELS = 8;
const TEXT = 'a message of about eighty characters, which is typical of chat, with a few words.';

function option(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index === -1 ? undefined : process.argv[index + 1];
}

const postgresUrl = option('--postgres');
const sequentialPosts = Number(option('--posts') ?? 400);
const loadSeconds = Number(option('--seconds') ?? 5);

/** Counts statements by SQL text and, on PostgreSQL, times the `streams` row lock of each transaction. */
class StatementCounter {
  counts = new Map<string, number>();
  total = 0;
  lockHeldMs: number[] = [];

  record(sql: string): void {
    this.total += 1;
    const key = sql.replace(/\s+/g, ' ').slice(0, 90);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  reset(): void {
    this.counts.clear();
    this.total = 0;
    this.lockHeldMs = [];
  }
}

const counter = new StatementCounter();

function wrapSqlite(): void {
  const probe = new MultipleCiphers(':memory:');
  const prototype = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, (...args: unknown[]) => unknown> & { source?: string };
  probe.close();
  for (const method of ['run', 'all', 'get', 'iterate']) {
    const original = prototype[method]!;
    prototype[method] = function (this: { source: string }, ...args: unknown[]) {
      counter.record(this.source);
      return original.apply(this, args);
    };
  }
}

function wrapPostgres(): void {
  const original = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  const lockTakenAt = new WeakMap<object, number>();
  pg.Client.prototype.query = function (this: object, ...args: unknown[]) {
    const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string }).text ?? '');
    counter.record(text);
    const result = original.apply(this, args);
    if (/^insert into "streams"/i.test(text) && !lockTakenAt.has(this)) lockTakenAt.set(this, performance.now());
    if (/^(commit|rollback)$/i.test(text.trim())) {
      const lockedAt = lockTakenAt.get(this);
      lockTakenAt.delete(this);
      if (lockedAt !== undefined && result instanceof Promise) void result.then(() => counter.lockHeldMs.push(performance.now() - lockedAt), () => undefined);
    }
    return result;
  } as typeof pg.Client.prototype.query;
}

interface Setup {
  server: ChatterBox;
  auth: Auth;
  channelIds: string[];
  cleanup(): Promise<void>;
}

async function setUp(): Promise<Setup> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-posting-'));
  const schema = `cbpost_${randomBytes(4).toString('hex')}`;
  if (postgresUrl !== undefined) await runSql(postgresUrl, `CREATE SCHEMA ${schema}`);
  const config = buildConfig({
    port: 0,
    dataDir,
    ...(postgresUrl !== undefined && { databaseUrl: withApplicationName(postgresUrl, schema), databaseSchema: schema }),
    rateLimits: { postsPerUserPerMinute: 1e9, postsPerAddressPerMinute: 1e9, registrationsPerAddressPerHour: 1e9 },
  });
  const server = await buildChatterBox(config, createLogger('warn'));
  const url = await server.listen();

  const api = new ApiClient(url);
  const registered = await api.post<{ token: string }>('/api/auth/register', {
    email: 'poster@bench.example',
    username: 'poster',
    password: 'bench password 123',
    display_name: 'Poster',
  });
  api.token = registered.token;
  const team = await api.post<{ id: string }>('/api/teams', { name: 'Posting' });
  const channelIds: string[] = [];
  for (let index = 0; index < CHANNELS; index += 1) {
    channelIds.push((await api.post<{ id: string }>(`/api/teams/${team.id}/channels`, { name: `post${index}`, private: false })).id);
  }
  const auth = await authenticateToken(server.ctx, registered.token);
  if (auth === undefined) throw new Error('the new session did not authenticate');

  return {
    server,
    auth,
    channelIds,
    cleanup: async () => {
      await server.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (postgresUrl !== undefined) await runSql(postgresUrl, `DROP SCHEMA ${schema} CASCADE`);
    },
  };
}

function withApplicationName(url: string, name: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}application_name=${name}`;
}

async function runSql(url: string, statement: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(statement)).rows;
  } finally {
    await client.end();
  }
}

/** CPU milliseconds of the PostgreSQL backends serving this run, read from /proc; 0 on SQLite. */
async function backendCpuMs(): Promise<number> {
  if (postgresUrl === undefined) return 0;
  const rows = (await runSql(postgresUrl, `SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'cbpost_%'`)) as Array<{ pid: number }>;
  let ticks = 0;
  for (const { pid } of rows) {
    try {
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The backend ended between the two reads.
    }
  }
  return ticks * 10;
}

function cpuUs(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** Waits until the notification jobs of the posts so far have run; other jobs, such as the retention purge, wait for their time. */
async function waitForJobs(setup: Setup): Promise<void> {
  const db = setup.server.ctx.storage.db;
  for (;;) {
    const row = await db.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'pending').where('kind', '=', NOTIFY_MESSAGE_JOB).executeTakeFirstOrThrow();
    if (Number(row.n) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function post(setup: Setup, channelId: string) {
  return postMessage(setup.server.ctx, setup.auth, channelId, { text: TEXT }, '127.0.0.1');
}

async function measureSequential(setup: Setup): Promise<void> {
  for (let index = 0; index < 50; index += 1) await post(setup, setup.channelIds[0]!);
  await waitForJobs(setup);

  counter.reset();
  const startCpu = cpuUs();
  for (let index = 0; index < sequentialPosts; index += 1) await post(setup, setup.channelIds[0]!);
  const postingStatements = counter.total;
  const postingCpu = cpuUs() - startCpu;
  await waitForJobs(setup);
  const allCpu = cpuUs() - startCpu;

  console.log(`one post at a time, ${sequentialPosts} posts:`);
  console.log(`  statements per post until each post returned: ${(postingStatements / sequentialPosts).toFixed(2)}; with its notification job: ${(counter.total / sequentialPosts).toFixed(2)}`);
  console.log(`  CPU per post: ${(postingCpu / sequentialPosts).toFixed(0)} µs until each returned, ${(allCpu / sequentialPosts).toFixed(0)} µs with its job`);
  const rows = [...counter.counts].sort((a, b) => b[1] - a[1]);
  for (const [sql, count] of rows) console.log(`  ${(count / sequentialPosts).toFixed(2)}  ${sql}`);
}

async function measureLoad(setup: Setup, channels: number): Promise<void> {
  const run = async (seconds: number) => {
    const deadline = performance.now() + seconds * 1000;
    let posted = 0;
    let next = 0;
    const worker = async () => {
      while (performance.now() < deadline) {
        const channel = setup.channelIds[next % channels]!;
        next += 1;
        await post(setup, channel);
        posted += 1;
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    return posted;
  };
  await run(1);
  await waitForJobs(setup);

  counter.reset();
  const startCpu = cpuUs();
  const startBackend = await backendCpuMs();
  const started = performance.now();
  const posted = await run(loadSeconds);
  const elapsed = (performance.now() - started) / 1000;
  const postingCpu = cpuUs() - startCpu;
  await waitForJobs(setup);
  const allCpu = cpuUs() - startCpu;
  const backend = (await backendCpuMs()) - startBackend;

  const lockTimes = [...counter.lockHeldMs].sort((a, b) => a - b);
  const at = (q: number) => lockTimes[Math.min(lockTimes.length - 1, Math.floor(q * lockTimes.length))] ?? Number.NaN;
  console.log(`${IN_FLIGHT} in flight over ${channels} channel(s), ${elapsed.toFixed(1)} s, load average ${os.loadavg().map((value) => value.toFixed(2)).join(' ')}:`);
  console.log(`  ${(posted / elapsed).toFixed(0)} posts/s; CPU per post ${(postingCpu / posted).toFixed(0)} µs while posting, ${(allCpu / posted).toFixed(0)} µs with the jobs`);
  console.log(`  statements per post with the jobs: ${(counter.total / posted).toFixed(2)}`);
  if (postgresUrl !== undefined) {
    console.log(`  PostgreSQL backends' CPU per post: ${((backend * 1000) / posted).toFixed(0)} µs (10 ms ticks)`);
    console.log(`  streams row lock held: p50 ${at(0.5).toFixed(2)} ms, p95 ${at(0.95).toFixed(2)} ms, mean ${(lockTimes.reduce((a, b) => a + b, 0) / Math.max(1, lockTimes.length)).toFixed(2)} ms`);
  }
}

async function main(): Promise<void> {
  if (postgresUrl === undefined) wrapSqlite();
  else wrapPostgres();
  const setup = await setUp();
  try {
    console.log(`${postgresUrl === undefined ? 'SQLite' : 'PostgreSQL'}, node ${process.version}, load average ${os.loadavg().map((value) => value.toFixed(2)).join(' ')}`);
    await measureSequential(setup);
    await measureLoad(setup, 1);
    await measureLoad(setup, CHANNELS);
  } finally {
    await setup.cleanup();
  }
}

await main();
