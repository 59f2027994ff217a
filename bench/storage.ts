/**
 * Storage scenarios. "stored messages/s": ChatterBox posts acknowledged after
 * their commit, as `post` frames over the socket and as HTTP POSTs, against
 * better-sqlite3 inserting the same message rows one per transaction.
 * "history read": GET of the latest 50 messages over HTTP, against the same
 * query run directly on better-sqlite3.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runClosedLoop, type ClosedLoopResult } from './lib/http-load.js';
import { buildPayload, MESSAGE_BYTES } from './lib/payload.js';
import { collectOutput, readCpuMs, SERVER_CORE, spawnNode, startForeignCpuMeter } from './lib/proc.js';
import { addRow, progress, recordForeignCpu, type RunSettings } from './lib/report.js';
import { makeDataDir, RAW_SQLITE_ENTRY, startChatterBox } from './lib/servers.js';
import { createChannel, createTeam, registerUsers, type BenchUser } from './lib/setup.js';
import { runSocketPostLoop } from './lib/socket-load.js';
import { closeAll, openChatterBoxMember } from './lib/sockets.js';
import { formatNumber, mean, median } from './lib/stats.js';

/** Requests in flight in the closed loops: enough to keep one server core busy. */
const CONCURRENCY = 32;
/** The goal for the time from a post's commit to its acknowledgement. */
const MAX_COMMIT_TO_ACK_P99_MS = 5;
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

/** Figures of one ChatterBox run of the storage scenario. */
interface StoragePhase {
  socket: ClosedLoopResult;
  /** Server CPU time per acknowledged post during the loaded socket loop, in µs. */
  socketCpuUsPerPost: number;
  /** Server CPU time during the loaded socket loop as a fraction of its duration. */
  socketServerCpuFraction: number;
  socketOneAtATime: ClosedLoopResult;
  http: ClosedLoopResult;
}

/**
 * Posts with CONCURRENCY in flight as `post` frames on one socket of the
 * author, then one post frame at a time for the unloaded post-to-ack latency,
 * then with CONCURRENCY HTTP POSTs in flight. Each loaded loop has a warm-up.
 */
async function runChatterBoxStorage(setup: StorageSetup, settings: RunSettings, seconds: number): Promise<StoragePhase> {
  // BENCH_CPU_PROFILE_DIR=<folder> writes a V8 CPU profile of each ChatterBox server run there.
  const server = await startChatterBox({ dataDir: setup.dataDir, cpuProfileDir: process.env.BENCH_CPU_PROFILE_DIR });
  const member = await openChatterBoxMember(server.wsUrl, setup.author.token);
  const warmUpMs = settings.smoke ? 200 : 1000;
  const text = (index: number) => buildPayload(index, Date.now());
  try {
    const meter = startForeignCpuMeter([server.pid]);
    await runSocketPostLoop(member.socket, setup.channelId, CONCURRENCY, warmUpMs, text);
    const cpuBefore = readCpuMs(server.pid);
    const socketStarted = performance.now();
    const socket = await runSocketPostLoop(member.socket, setup.channelId, CONCURRENCY, seconds * 1000, text);
    const socketCpuMs = readCpuMs(server.pid) - cpuBefore;
    const socketCpuUsPerPost = (socketCpuMs * 1000) / Math.max(1, socket.count);
    const socketServerCpuFraction = socketCpuMs / (performance.now() - socketStarted);
    const socketOneAtATime = await runSocketPostLoop(member.socket, setup.channelId, 1, seconds * 500, text);
    await runClosedLoop(server.url, CONCURRENCY, warmUpMs, postCall(setup));
    const http = await runClosedLoop(server.url, CONCURRENCY, seconds * 1000, postCall(setup));
    recordForeignCpu('storage', meter());
    for (const [label, result] of [['socket', socket], ['socket, one at a time', socketOneAtATime], ['HTTP', http]] as const) {
      if (result.errors > 0) throw new Error(`Posting over ${label} failed ${result.errors} times: ${result.firstError}`);
    }
    progress(
      `chatterbox posts over the socket: ${formatNumber(socket.perSecond)}/s, post-to-ack p50 ${formatNumber(socket.latency.p50Ms)} p99 ${formatNumber(socket.latency.p99Ms)} ms at ${CONCURRENCY} in flight, ` +
        `server cpu ${formatNumber(socketServerCpuFraction * 100)}% (${formatNumber(socketCpuUsPerPost)} us per post); ` +
        `one at a time p50 ${formatNumber(socketOneAtATime.latency.p50Ms)} p99 ${formatNumber(socketOneAtATime.latency.p99Ms)} ms`,
    );
    progress(`chatterbox posts over HTTP: ${formatNumber(http.perSecond)}/s, p50 ${formatNumber(http.latency.p50Ms)} p99 ${formatNumber(http.latency.p99Ms)} ms at ${CONCURRENCY} in flight`);
    return { socket, socketCpuUsPerPost, socketServerCpuFraction, socketOneAtATime, http };
  } finally {
    await closeAll([member.socket]);
    await server.stop();
  }
}

export async function runStorage(settings: RunSettings): Promise<void> {
  const setup = await buildSetup('storage');
  const seconds = (2 * settings.stepMs) / 1000;
  const raw: RawResult[] = [];
  const phases: StoragePhase[] = [];

  for (let repeat = 0; repeat < settings.repeats; repeat += 1) {
    progress(`storage repeat ${repeat + 1}/${settings.repeats}`);
    const rawRuns: RawResult[] = [];
    for (const phase of ['raw', 'chatterbox', 'raw'] as const) {
      if (phase === 'chatterbox') {
        phases.push(await runChatterBoxStorage(setup, settings, seconds));
        continue;
      }
      const copy = copyDatabase(setup);
      const result = await runRaw(['insert', copy, setup.channelId, setup.author.id, String(seconds), String(MESSAGE_BYTES)]);
      fs.rmSync(path.dirname(copy), { recursive: true, force: true });
      progress(`raw inserts: ${formatNumber(result.perSecond)}/s, p99 ${formatNumber(result.p99Ms)} ms`);
      rawRuns.push(result);
    }
    raw.push({
      perSecond: mean(rawRuns.map((run) => run.perSecond)),
      p50Ms: mean(rawRuns.map((run) => run.p50Ms)),
      p95Ms: mean(rawRuns.map((run) => run.p95Ms)),
      p99Ms: mean(rawRuns.map((run) => run.p99Ms)),
    });
  }

  const rawRate = raw.map((run) => run.perSecond);
  const addRateRow = (figure: string, chatterbox: number[], note: string) => {
    const ratios = chatterbox.map((value, index) => value / rawRate[index]!);
    addRow({
      figure,
      unit: 'messages/s',
      goal: '>= 1.0x raw single-row inserts (commits grouped per event-loop turn)',
      raw: rawRate,
      chatterbox,
      ratios,
      met: settings.smoke ? undefined : median(ratios) >= 1,
      note,
    });
  };
  const p99 = (results: ClosedLoopResult[]) => results.map((result) => formatNumber(result.latency.p99Ms)).join(' / ');
  addRateRow(
    'stored messages/s over the socket (acked after commit)',
    phases.map((phase) => phase.socket.perSecond),
    `ChatterBox: post frames, ${CONCURRENCY} in flight on one socket of the author, which also receives each message.posted event; post-to-ack p99 ${p99(phases.map((phase) => phase.socket))} ms; ` +
      `server CPU ${phases.map((phase) => `${formatNumber(phase.socketServerCpuFraction * 100)}%`).join(' / ')} of its core, ${phases.map((phase) => formatNumber(phase.socketCpuUsPerPost)).join(' / ')} us per post. ` +
      'Raw: better-sqlite3 insert of the same message row, one autocommit per row, 1 KB text in both',
  );
  addRateRow(
    'stored messages/s over HTTP (201 after commit)',
    phases.map((phase) => phase.http.perSecond),
    `ChatterBox: HTTP POST, ${CONCURRENCY} in flight over keep-alive; p99 ${p99(phases.map((phase) => phase.http))} ms`,
  );

  // The client cannot see the commit, so post-to-ack one at a time is an upper bound of commit-to-ack: it can show the goal met, not missed.
  const unloaded = phases.map((phase) => phase.socketOneAtATime.latency.p99Ms);
  const withinGoal = median(unloaded) <= MAX_COMMIT_TO_ACK_P99_MS;
  addRow({
    figure: 'post-to-ack p99 over the socket, one post at a time (upper bound of commit-to-ack)',
    unit: 'ms',
    goal: `ChatterBox commit-to-ack p99 <= ${MAX_COMMIT_TO_ACK_P99_MS} ms`,
    raw: raw.map((run) => run.p99Ms),
    chatterbox: unloaded,
    ratios: unloaded.map((value, index) => value / raw[index]!.p99Ms),
    met: settings.smoke || !withinGoal ? undefined : true,
    note:
      'Raw: p99 of one insert and its autocommit, in-process. ChatterBox: from sending the post frame to receiving its ack, so it adds parsing, validation, ' +
      `the access check, the wait for the commit group and the ack's trip to the commit-to-ack time${withinGoal ? '' : `; above ${MAX_COMMIT_TO_ACK_P99_MS} ms it does not judge the goal`}`,
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
        if (result.errors > 0) throw new Error(`Posting the history messages failed ${result.errors} times: ${result.firstError}`);
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
      // BENCH_CPU_PROFILE_DIR=<folder> writes a V8 CPU profile of each ChatterBox server run there.
      const server = await startChatterBox({ dataDir: setup.dataDir, cpuProfileDir: process.env.BENCH_CPU_PROFILE_DIR });
      try {
        const meter = startForeignCpuMeter([server.pid]);
        await runClosedLoop(server.url, CONCURRENCY, settings.smoke ? 200 : 1000, read);
        const loaded = await runClosedLoop(server.url, CONCURRENCY, seconds * 1000, read);
        const unloaded = await runClosedLoop(server.url, 1, seconds * 500, read);
        recordForeignCpu('history', meter());
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
