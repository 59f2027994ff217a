/**
 * Storage scenarios. "stored messages/s": ChatterBox posts acknowledged after
 * their commit, against better-sqlite3 inserting the same message rows one per
 * transaction. "history read": GET of the latest 50 messages over HTTP,
 * against the same query run directly on better-sqlite3.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runClosedLoop } from './lib/http-load.js';
import { buildPayload, MESSAGE_BYTES } from './lib/payload.js';
import { collectOutput, SERVER_CORE, spawnNode } from './lib/proc.js';
import { addRow, progress, type RunSettings } from './lib/report.js';
import { makeDataDir, RAW_SQLITE_ENTRY, startChatterBox } from './lib/servers.js';
import { createChannel, createTeam, registerUsers, type BenchUser } from './lib/setup.js';
import { formatNumber, mean, median } from './lib/stats.js';

/** Requests in flight in the closed loops: enough to keep one server core busy. */
const CONCURRENCY = 32;
/** Messages in the history channel before reads start: well over one page. */
const HISTORY_MESSAGES = 2000;

interface StorageSetup {
  dataDir: string;
  author: BenchUser;
  channelId: string;
}

async function buildSetup(label: string): Promise<StorageSetup> {
  const dataDir = makeDataDir(label);
  const server = await startChatterBox({ dataDir });
  try {
    const [author] = await registerUsers(server.url, 1, `${label}u`);
    const teamId = await createTeam(author!, [], `Storage ${label}`);
    const channelId = await createChannel(author!, teamId, 'store', []);
    return { dataDir, author: author!, channelId };
  } finally {
    await server.stop();
  }
}

/** Copies ChatterBox's database file (server stopped, so the WAL is checkpointed) for a raw run. */
function copyDatabase(setup: StorageSetup): string {
  const folder = makeDataDir('raw-copy');
  const copy = path.join(folder, 'chatterbox.db');
  fs.copyFileSync(path.join(setup.dataDir, 'chatterbox.db'), copy);
  return copy;
}

interface RawResult {
  perSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

async function runRaw(args: string[]): Promise<RawResult> {
  const output = await collectOutput(spawnNode(SERVER_CORE, [RAW_SQLITE_ENTRY, ...args]));
  return JSON.parse(output.trim().split('\n').pop()!) as RawResult;
}

function postCall(setup: StorageSetup) {
  return (index: number) => ({
    method: 'POST' as const,
    path: `/api/conversations/${setup.channelId}/messages`,
    token: setup.author.token,
    body: JSON.stringify({ text: buildPayload(index, Date.now()) }),
    expectStatus: 201,
  });
}

export async function runStorage(settings: RunSettings): Promise<void> {
  const setup = await buildSetup('storage');
  const seconds = (2 * settings.stepMs) / 1000;
  const raw: number[] = [];
  const chatterbox: number[] = [];

  for (let repeat = 0; repeat < settings.repeats; repeat += 1) {
    progress(`storage repeat ${repeat + 1}/${settings.repeats}`);
    const rawRuns: number[] = [];
    for (const phase of ['raw', 'chatterbox', 'raw'] as const) {
      if (phase === 'raw') {
        const copy = copyDatabase(setup);
        const result = await runRaw(['insert', copy, setup.channelId, setup.author.id, String(seconds), String(MESSAGE_BYTES)]);
        fs.rmSync(path.dirname(copy), { recursive: true, force: true });
        progress(`raw inserts: ${formatNumber(result.perSecond)}/s, p99 ${formatNumber(result.p99Ms)} ms`);
        rawRuns.push(result.perSecond);
        continue;
      }
      const server = await startChatterBox({ dataDir: setup.dataDir });
      try {
        await runClosedLoop(server.url, CONCURRENCY, settings.smoke ? 200 : 1000, postCall(setup));
        const result = await runClosedLoop(server.url, CONCURRENCY, seconds * 1000, postCall(setup));
        if (result.errors > 0) throw new Error(`Posting failed ${result.errors} times: ${result.firstError}`);
        progress(`chatterbox posts: ${formatNumber(result.perSecond)}/s, p50 ${formatNumber(result.latency.p50Ms)} p99 ${formatNumber(result.latency.p99Ms)} ms at ${CONCURRENCY} in flight`);
        chatterbox.push(result.perSecond);
      } finally {
        await server.stop();
      }
    }
    raw.push(mean(rawRuns));
  }

  const ratios = chatterbox.map((value, index) => value / raw[index]!);
  addRow({
    figure: 'stored messages/s (acked after commit)',
    unit: 'messages/s',
    goal: '>= 0.5x raw single-row inserts',
    raw,
    chatterbox,
    ratios,
    met: settings.smoke ? undefined : median(ratios) >= 0.5,
    note: `ChatterBox: HTTP POST, ${CONCURRENCY} in flight, 1 KB text; raw: better-sqlite3 insert of the same message row, one autocommit per row`,
  });
  fs.rmSync(setup.dataDir, { recursive: true, force: true });
}

export async function runHistory(settings: RunSettings): Promise<void> {
  const setup = await buildSetup('history');
  const seconds = (2 * settings.stepMs) / 1000;
  const messages = settings.smoke ? 200 : HISTORY_MESSAGES;
  {
    const server = await startChatterBox({ dataDir: setup.dataDir });
    try {
      progress(`history setup: posting ${messages} messages`);
      let posted = 0;
      while (posted < messages) {
        const result = await runClosedLoop(server.url, 16, 200, postCall(setup));
        posted += result.count;
      }
    } finally {
      await server.stop();
    }
  }

  const read = () => ({
    method: 'GET' as const,
    path: `/api/conversations/${setup.channelId}/messages?limit=50`,
    token: setup.author.token,
    expectStatus: 200,
  });
  const rawRate: number[] = [];
  const rawP99: number[] = [];
  const chatterboxRate: number[] = [];
  const chatterboxP95: number[] = [];

  for (let repeat = 0; repeat < settings.repeats; repeat += 1) {
    progress(`history repeat ${repeat + 1}/${settings.repeats}`);
    const rawRuns: RawResult[] = [];
    for (const phase of ['raw', 'chatterbox', 'raw'] as const) {
      if (phase === 'raw') {
        const copy = copyDatabase(setup);
        const result = await runRaw(['history', copy, setup.channelId, String(seconds)]);
        fs.rmSync(path.dirname(copy), { recursive: true, force: true });
        progress(`raw history query: ${formatNumber(result.perSecond)}/s, p99 ${formatNumber(result.p99Ms)} ms`);
        rawRuns.push(result);
        continue;
      }
      const server = await startChatterBox({ dataDir: setup.dataDir });
      try {
        await runClosedLoop(server.url, CONCURRENCY, settings.smoke ? 200 : 1000, read);
        const loaded = await runClosedLoop(server.url, CONCURRENCY, seconds * 1000, read);
        const unloaded = await runClosedLoop(server.url, 1, seconds * 500, read);
        if (loaded.errors + unloaded.errors > 0) throw new Error(`History reads failed: ${loaded.firstError ?? unloaded.firstError}`);
        progress(
          `chatterbox history: ${formatNumber(loaded.perSecond)}/s at ${CONCURRENCY} in flight; one at a time p50 ${formatNumber(unloaded.latency.p50Ms)} p95 ${formatNumber(unloaded.latency.p95Ms)} ms`,
        );
        chatterboxRate.push(loaded.perSecond);
        chatterboxP95.push(unloaded.latency.p95Ms);
      } finally {
        await server.stop();
      }
    }
    rawRate.push(mean(rawRuns.map((run) => run.perSecond)));
    rawP99.push(mean(rawRuns.map((run) => run.p99Ms)));
  }

  const p95Ratios = chatterboxP95.map((value, index) => value / rawP99[index]!);
  addRow({
    figure: 'history read latest 50: ChatterBox p95 vs raw query p99',
    unit: 'ms',
    goal: '<= 5x raw p99',
    raw: rawP99,
    chatterbox: chatterboxP95,
    ratios: p95Ratios,
    met: settings.smoke ? undefined : median(p95Ratios) <= 5,
    note: 'ChatterBox p95 measured one request at a time over HTTP keep-alive; raw p99 is the in-process query time',
  });
  const rateRatios = chatterboxRate.map((value, index) => value / rawRate[index]!);
  addRow({
    figure: 'history read latest 50: throughput',
    unit: 'reads/s',
    goal: '>= 0.3x raw queries/s',
    raw: rawRate,
    chatterbox: chatterboxRate,
    ratios: rateRatios,
    met: settings.smoke ? undefined : median(rateRatios) >= 0.3,
    note: `ChatterBox: ${CONCURRENCY} GETs in flight; raw: one query loop in one process`,
  });
  fs.rmSync(setup.dataDir, { recursive: true, force: true });
}
