/**
 * Connection scenarios. "connect storm": the time to open, authenticate and
 * subscribe a batch of ChatterBox clients, against the time the raw server
 * takes to open the same number of plain connections. "memory per idle
 * connection": server RSS growth per connection once every client is
 * subscribed to 20 conversations (raw: joined to 20 rooms).
 *
 * ChatterBox connections share the tokens of a few users, each a member of
 * the same 20 channels: registering thousands of users would take minutes of
 * argon2 hashing, and the figure is about sockets, not accounts.
 */
import type WebSocket from 'ws';
import { MAX_FOREIGN_CPU, readCpuMs, readRssBytes, sleep, startForeignCpuMeter, waitForQuietMachine } from './lib/proc.js';
import { addRow, progress, recordForeignCpu, type RunSettings } from './lib/report.js';
import { makeDataDir, startChatterBox, startRawServer, type RunningServer } from './lib/servers.js';
import { createChannel, createTeam, registerUsers, type BenchUser } from './lib/setup.js';
import { closeAll, openChatterBoxMember, openMany, openRawSocket } from './lib/sockets.js';
import { formatNumber, mean, median } from './lib/stats.js';

const CONVERSATIONS_PER_CONNECTION = 20;
const USERS = 50;
/** Fewer accounts in smoke runs, because each registration costs about 50 ms of argon2 on the server core. */
const SMOKE_USERS = 5;
/** Connection attempts in flight at once: below the listen backlog of 511 that both servers use. */
const OPEN_CONCURRENCY = 500;
/** Time for the server to settle before its RSS is read (a tenth of it in smoke runs). */
const SETTLE_MS = 2000;

interface ConnectionSetup {
  dataDir: string;
  users: BenchUser[];
}

interface PhaseResult {
  stormMs: number;
  /** Server CPU time spent during the storm, which other processes on the machine disturb less than its duration. */
  stormCpuMs: number;
  bytesPerConnection: Map<number, number>;
  foreignCpuFraction: number;
}

async function buildSetup(userCount: number): Promise<ConnectionSetup> {
  const dataDir = makeDataDir('connections');
  const server = await startChatterBox({ dataDir });
  try {
    progress(`setup: registering ${userCount} users in ${CONVERSATIONS_PER_CONNECTION} channels`);
    const users = await registerUsers(server.url, userCount, 'connu');
    const teamId = await createTeam(users[0]!, users, 'Connections');
    // The team's #general channel is one of the 20 conversations.
    for (let channel = 1; channel < CONVERSATIONS_PER_CONNECTION; channel += 1) await createChannel(users[0]!, teamId, `conn-${channel}`, users);
    return { dataDir, users };
  } finally {
    await server.stop();
  }
}

/** Sends the raw server's join frame and waits for its reply. */
function joinRooms(socket: WebSocket, rooms: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('message', () => resolve());
    socket.once('close', (code) => reject(new Error(`Raw socket closed with code ${code} before joining`)));
    socket.send(JSON.stringify({ join: rooms }));
  });
}

const RAW_ROOMS = Array.from({ length: CONVERSATIONS_PER_CONNECTION }, (_unused, room) => `conn-${room}`);

async function openBatch(server: RunningServer, setup: ConnectionSetup, from: number, count: number): Promise<{ sockets: WebSocket[]; openMs: number }> {
  const started = performance.now();
  if (server.kind === 'chatterbox') {
    const members = await openMany(count, OPEN_CONCURRENCY, (index) => openChatterBoxMember(server.wsUrl, setup.users[(from + index) % setup.users.length]!.token));
    return { sockets: members.map((member) => member.socket), openMs: performance.now() - started };
  }
  // The raw storm figure is the time to open plain connections; joining rooms comes after and is not timed.
  const sockets = await openMany(count, OPEN_CONCURRENCY, () => openRawSocket(server.wsUrl));
  const openMs = performance.now() - started;
  await openMany(count, OPEN_CONCURRENCY, (index) => joinRooms(sockets[index]!, RAW_ROOMS));
  return { sockets, openMs };
}

async function runPhase(kind: 'raw' | 'chatterbox', setup: ConnectionSetup, counts: readonly number[], settings: RunSettings): Promise<PhaseResult> {
  // BENCH_CPU_PROFILE_DIR=<folder> writes a V8 CPU profile of each ChatterBox server run there.
  const cpuProfileDir = process.env.BENCH_CPU_PROFILE_DIR;
  const server = kind === 'raw' ? await startRawServer() : await startChatterBox({ dataDir: setup.dataDir, cpuProfileDir });
  const sockets: WebSocket[] = [];
  const settleMs = settings.smoke ? SETTLE_MS / 10 : SETTLE_MS;
  try {
    if (settings.quietTimeoutMs > 0) await waitForQuietMachine([server.pid], settings.quietTimeoutMs);
    await sleep(settleMs);
    const baseRss = readRssBytes(server.pid);
    const meter = startForeignCpuMeter([server.pid]);
    const bytesPerConnection = new Map<number, number>();
    let stormMs = Number.NaN;
    let stormCpuMs = Number.NaN;

    for (const count of counts) {
      const cpuBefore = readCpuMs(server.pid);
      const batch = await openBatch(server, setup, sockets.length, count - sockets.length);
      if (sockets.length === 0) {
        stormMs = batch.openMs;
        stormCpuMs = readCpuMs(server.pid) - cpuBefore;
      }
      sockets.push(...batch.sockets);
      await sleep(settleMs);
      const rss = readRssBytes(server.pid);
      bytesPerConnection.set(count, (rss - baseRss) / count);
      progress(`${kind}: ${count} connections, RSS ${formatNumber(rss / 2 ** 20)} MiB (${formatNumber((rss - baseRss) / count / 1024)} KiB each)`);
    }
    const foreignCpuFraction = meter();
    recordForeignCpu('connections', foreignCpuFraction);
    progress(`${kind}: first ${counts[0]} connections took ${formatNumber(stormMs)} ms and ${formatNumber(stormCpuMs)} ms of server CPU; others ${formatNumber(foreignCpuFraction * 100)}%`);
    return { stormMs, stormCpuMs, bytesPerConnection, foreignCpuFraction };
  } finally {
    await closeAll(sockets);
    await server.stop();
  }
}

export async function runConnections(settings: RunSettings, counts: readonly number[]): Promise<void> {
  const setup = await buildSetup(settings.smoke ? SMOKE_USERS : USERS);
  const storm = { raw: [] as number[], chatterbox: [] as number[] };
  const stormCpu = { raw: [] as number[], chatterbox: [] as number[] };
  const memory = new Map<number, { raw: number[]; chatterbox: number[] }>(counts.map((count) => [count, { raw: [], chatterbox: [] }]));
  const disturbed: number[] = [];

  for (let repeat = 0; repeat < settings.repeats; repeat += 1) {
    progress(`connections repeat ${repeat + 1}/${settings.repeats}`);
    const rawBefore = await runPhase('raw', setup, counts, settings);
    const chatterbox = await runPhase('chatterbox', setup, counts, settings);
    const rawAfter = await runPhase('raw', setup, counts, settings);
    disturbed.push(Math.max(rawBefore.foreignCpuFraction, chatterbox.foreignCpuFraction, rawAfter.foreignCpuFraction));

    storm.raw.push(mean([rawBefore.stormMs, rawAfter.stormMs]));
    storm.chatterbox.push(chatterbox.stormMs);
    stormCpu.raw.push(mean([rawBefore.stormCpuMs, rawAfter.stormCpuMs]));
    stormCpu.chatterbox.push(chatterbox.stormCpuMs);
    for (const count of counts) {
      memory.get(count)!.raw.push(mean([rawBefore.bytesPerConnection.get(count)!, rawAfter.bytesPerConnection.get(count)!]));
      memory.get(count)!.chatterbox.push(chatterbox.bytesPerConnection.get(count)!);
    }
  }

  const note = disturbed.some((fraction) => fraction > MAX_FOREIGN_CPU)
    ? `other processes used up to ${formatNumber(Math.max(...disturbed) * 100)}% of a core during a repeat`
    : undefined;
  for (const count of counts) {
    const { raw, chatterbox } = memory.get(count)!;
    const ratios = chatterbox.map((value, index) => value / raw[index]!);
    addRow({
      figure: `server RSS per idle connection subscribed to 20 conversations, ${count} connections`,
      unit: 'KiB',
      goal: '<= 2x raw',
      raw: raw.map((bytes) => bytes / 1024),
      chatterbox: chatterbox.map((bytes) => bytes / 1024),
      ratios,
      met: settings.smoke ? undefined : median(ratios) <= 2,
      note: `ChatterBox connections share the tokens of ${setup.users.length} users`,
    });
  }
  const ratios = storm.chatterbox.map((value, index) => value / storm.raw[index]!);
  addRow({
    figure: `connect storm, ${counts[0]} clients (ChatterBox: open, authenticate, subscribe; raw: open)`,
    unit: 'ms',
    goal: '<= 3x raw',
    raw: storm.raw,
    chatterbox: storm.chatterbox,
    ratios,
    met: settings.smoke ? undefined : median(ratios) <= 3,
    note,
  });
  const cpuRatios = stormCpu.chatterbox.map((value, index) => value / stormCpu.raw[index]!);
  addRow({
    figure: `server CPU during the connect storm, ${counts[0]} clients`,
    unit: 'ms',
    goal: 'none (explains the storm figure)',
    raw: stormCpu.raw,
    chatterbox: stormCpu.chatterbox,
    ratios: cpuRatios,
    met: undefined,
    note,
  });
}
