/**
 * Presence fan-out: the cost of passing presence changes to the sockets of
 * a team of 10,000 connected members while 1,000 of them change status per
 * second. ChatterBox's fan-out sends each socket only the users it watches,
 * batched. It runs against naive broadcast-to-all, batched the same way and
 * per change, in the same run. All three use ChatterBox's presence code in
 * bench/presence-server.ts, so only the fan-out differs.
 *
 * Each member watches 50 others (the next 50 by number), as a client shows
 * a member list or sidebar, so every user is watched by 50 sockets.
 */
import WebSocket from 'ws';
import { MAX_FOREIGN_CPU, readCpuMs, readRssBytes, sleep, spawnNode, SERVER_CORE, startForeignCpuMeter, stopProcess, waitForLine, findFreePort, waitForQuietMachine } from './lib/proc.js';
import { addRow, progress, recordForeignCpu, type RunSettings } from './lib/report.js';
import { PRESENCE_SERVER_ENTRY } from './lib/servers.js';
import { closeAll, openMany } from './lib/sockets.js';
import { formatNumber, LatencyHistogram, mean, median } from './lib/stats.js';
import { changeOrder, changesOfMember } from './lib/presence-order.js';

type Mode = 'subscribed' | 'broadcast-batched' | 'broadcast';

interface PresenceLoad {
  members: number;
  changesPerSecond: number;
  watchedPerMember: number;
  durationMs: number;
}

const FULL: PresenceLoad = { members: 10_000, changesPerSecond: 1_000, watchedPerMember: 50, durationMs: 5_000 };
const SMOKE: PresenceLoad = { members: 300, changesPerSecond: 50, watchedPerMember: 20, durationMs: 500 };
/** ChatterBox's default batch interval (CHATTERBOX presence.batchIntervalMs). */
const BATCH_MS = 500;
/** Every tenth socket parses its frames for latency; every socket counts bytes. */
const SAMPLE_EVERY = 10;
const OPEN_CONCURRENCY = 500;

interface PhaseResult {
  mode: Mode;
  serverCpuFraction: number;
  /** Server CPU time per change, from the first change until the last batch was sent, in microseconds. */
  cpuMicrosPerChange: number;
  framesPerChange: number;
  bytesPerChange: number;
  framesPerSecond: number;
  megabytesPerSecond: number;
  framesSkipped: number;
  /** Views received by the sampled sockets, as a share of the changes of the users they watch. */
  deliveredShare: number;
  latency: ReturnType<LatencyHistogram['summary']>;
  rssMiB: number;
  changesPerSecond: number;
  foreignCpuFraction: number;
}

interface DoneReport {
  changeMs: number;
  framesSent: number;
  bytesSent: number;
  framesSkipped: number;
  changes: number;
}

function watchedOf(index: number, load: PresenceLoad): string[] {
  return Array.from({ length: load.watchedPerMember }, (_unused, offset) => `u${(index + 1 + offset) % load.members}`);
}

async function startPresenceServer(mode: Mode): Promise<{ pid: number; url: string; stop: () => Promise<void> }> {
  const port = await findFreePort();
  const child = spawnNode(SERVER_CORE, [PRESENCE_SERVER_ENTRY], { PORT: String(port), MODE: mode, BATCH_MS: String(BATCH_MS) });
  child.stderr?.resume();
  await waitForLine(child, 'ready');
  child.stdout?.resume();
  return { pid: child.pid!, url: `ws://127.0.0.1:${port}/`, stop: () => stopProcess(child) };
}

function openMember(url: string, index: number, load: PresenceLoad): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    socket.once('error', reject);
    socket.once('open', () => socket.send(JSON.stringify({ user: `u${index}`, watch: watchedOf(index, load) })));
    socket.once('message', () => resolve(socket));
  });
}

function control(url: string, load: PresenceLoad): Promise<DoneReport> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    socket.once('error', reject);
    socket.once('open', () => socket.send(JSON.stringify({ control: 'start', rate: load.changesPerSecond, durationMs: load.durationMs })));
    socket.once('message', (data: Buffer) => {
      socket.close();
      resolve(JSON.parse(data.toString()) as DoneReport);
    });
  });
}

async function runPhase(mode: Mode, load: PresenceLoad, settings: RunSettings): Promise<PhaseResult> {
  const server = await startPresenceServer(mode);
  let sockets: WebSocket[] = [];
  try {
    sockets = await openMany(load.members, OPEN_CONCURRENCY, (index) => openMember(server.url, index, load));
    // The connects announce every member online; that burst is not part of the measured load.
    await sleep(2 * BATCH_MS + (settings.smoke ? 200 : 1000));
    if (settings.quietTimeoutMs > 0) await waitForQuietMachine([server.pid], settings.quietTimeoutMs);

    const histogram = new LatencyHistogram();
    let receivedViews = 0;
    let measuring = true;
    sockets.forEach((socket, index) => {
      socket.removeAllListeners('message');
      if (index % SAMPLE_EVERY !== 0) return;
      socket.on('message', (data: Buffer) => {
        if (!measuring) return;
        const now = Date.now();
        const frame = JSON.parse(data.toString()) as { users: Array<{ since: number }> };
        for (const view of frame.users) {
          histogram.record(now - view.since);
          receivedViews += 1;
        }
      });
    });

    const meter = startForeignCpuMeter([server.pid]);
    const cpuBefore = readCpuMs(server.pid);
    const started = performance.now();
    const report = await control(server.url, load);
    await sleep(settings.smoke ? 200 : 1000);
    const elapsedMs = performance.now() - started;
    measuring = false;
    const serverCpuMs = readCpuMs(server.pid) - cpuBefore;
    const foreignCpuFraction = meter();
    recordForeignCpu('presence', foreignCpuFraction);

    const position = new Map(changeOrder(load.members).map((member, place) => [member, place]));
    let expectedViews = 0;
    for (let index = 0; index < load.members; index += SAMPLE_EVERY) {
      expectedViews +=
        mode === 'subscribed'
          ? watchedOf(index, load).reduce((sum, userId) => sum + changesOfMember(position, Number(userId.slice(1)), report.changes, load.members), 0)
          : report.changes;
    }
    const result: PhaseResult = {
      mode,
      serverCpuFraction: serverCpuMs / elapsedMs,
      cpuMicrosPerChange: (serverCpuMs * 1000) / Math.max(1, report.changes),
      framesPerChange: report.framesSent / Math.max(1, report.changes),
      bytesPerChange: report.bytesSent / Math.max(1, report.changes),
      framesPerSecond: (report.framesSent * 1000) / elapsedMs,
      megabytesPerSecond: (report.bytesSent * 1000) / elapsedMs / 1e6,
      framesSkipped: report.framesSkipped,
      deliveredShare: expectedViews === 0 ? Number.NaN : receivedViews / expectedViews,
      latency: histogram.summary(),
      rssMiB: readRssBytes(server.pid) / 2 ** 20,
      changesPerSecond: (report.changes * 1000) / report.changeMs,
      foreignCpuFraction,
    };
    progress(
      `${mode}: ${formatNumber(result.changesPerSecond)} changes/s, server CPU ${formatNumber(result.serverCpuFraction * 100)}% (${formatNumber(result.cpuMicrosPerChange)} µs per change), ` +
        `${formatNumber(result.framesPerSecond)} frames/s, ${formatNumber(result.megabytesPerSecond)} MB/s, skipped ${result.framesSkipped}, ` +
        `delivered ${formatNumber(result.deliveredShare * 100)}%, p50 ${formatNumber(result.latency.p50Ms)} ms, p99 ${formatNumber(result.latency.p99Ms)} ms, RSS ${formatNumber(result.rssMiB)} MiB`,
    );
    return result;
  } finally {
    await closeAll(sockets);
    await server.stop();
  }
}

/** Runs broadcast-batched, subscribed, broadcast-batched per repeat, and per-change broadcast once. */
export async function runPresence(settings: RunSettings): Promise<void> {
  const load = settings.smoke ? SMOKE : FULL;
  progress(`presence: ${load.members} members, ${load.changesPerSecond} changes/s for ${load.durationMs} ms, ${load.watchedPerMember} watched each`);
  const naive: PhaseResult[][] = [];
  const subscribed: PhaseResult[] = [];
  for (let repeat = 0; repeat < settings.repeats; repeat += 1) {
    progress(`presence repeat ${repeat + 1}/${settings.repeats}`);
    const before = await runPhase('broadcast-batched', load, settings);
    subscribed.push(await runPhase('subscribed', load, settings));
    const after = settings.smoke ? before : await runPhase('broadcast-batched', load, settings);
    naive.push([before, after]);
  }
  // Per-change broadcast runs for 200 ms only: it owes every socket one frame per change, 2 million frames for 200 changes.
  const perChange = await runPhase('broadcast', { ...load, durationMs: Math.min(load.durationMs, 200) }, settings);

  const disturbed = [...subscribed, ...naive.flat(), perChange].some((result) => result.foreignCpuFraction > MAX_FOREIGN_CPU);
  const label = `${formatNumber(load.members)} members, ${formatNumber(load.changesPerSecond)} changes/s`;
  const perChangeNote = (value: string) => `per-change broadcast: ${value}${disturbed ? '; other processes used over 10% of a core during a phase' : ''}`;
  const row = (figure: string, unit: string, pick: (result: PhaseResult) => number, goal: string, judge: (ratio: number, value: number) => boolean | undefined, note: string) => {
    const raw = naive.map((pair) => mean(pair.map(pick)));
    const chatterbox = subscribed.map(pick);
    const ratios = chatterbox.map((value, index) => value / raw[index]!);
    addRow({
      figure: `presence fan-out, ${label}: ${figure} (raw: broadcast to all, batched)`,
      unit,
      goal,
      raw,
      chatterbox,
      ratios,
      met: settings.smoke ? undefined : judge(median(ratios), median(chatterbox)),
      note,
    });
  };
  // Cost per change does not depend on how much CPU other processes leave the server; rates per second do.
  row('server CPU per change', 'µs', (result) => result.cpuMicrosPerChange, '<= 0.25x broadcast', (ratio) => ratio <= 0.25, perChangeNote(`${formatNumber(perChange.cpuMicrosPerChange)} µs`));
  row('frames sent per change', 'frames', (result) => result.framesPerChange, 'not judged', () => undefined, perChangeNote(`${formatNumber(perChange.framesPerChange)} frames, ${perChange.framesSkipped} skipped`));
  row('bytes sent per change', 'bytes', (result) => result.bytesPerChange, '<= 0.1x broadcast', (ratio) => ratio <= 0.1, perChangeNote(`${formatNumber(perChange.bytesPerChange)} bytes`));
  row('changes made per second (offered 1,000)', 'changes/s', (result) => result.changesPerSecond, 'ChatterBox >= 95% of offered', (_ratio, value) => value >= 0.95 * load.changesPerSecond, perChangeNote(`${formatNumber(perChange.changesPerSecond)} changes/s`));
  row('views delivered', '%', (result) => result.deliveredShare * 100, '100%', (_ratio, value) => value >= 99.9, perChangeNote(`${formatNumber(perChange.deliveredShare * 100)}%`));
  row(
    'change-to-socket p99 latency',
    'ms',
    (result) => result.latency.p99Ms,
    `<= ${BATCH_MS + 250} ms (batch interval + 250 ms)`,
    (_ratio, value) => value <= BATCH_MS + 250,
    perChangeNote(`${formatNumber(perChange.latency.p99Ms)} ms`),
  );
}
