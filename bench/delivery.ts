/**
 * Delivery scenario: maximum sustained deliveries per second, latency at 50%
 * and 80% of the raw maximum, and server CPU per delivery, for ChatterBox
 * (a `post` frame on the author's socket, or an HTTP POST with
 * BENCH_POST_VIA=http; stored and sequenced, then fanned out over WebSockets)
 * against the raw `ws` broadcast server. Order per repeat: raw, ChatterBox, raw.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { ChatterBoxSender, ChatterBoxSocketSender, DeliveryDriver, RawSender, type StepResult } from './lib/delivery-driver.js';
import { CLIENT_CORE, MAX_FOREIGN_CPU, readCpuMs, sleep, spawnNode, stopProcess, waitForLine, waitForQuietMachine } from './lib/proc.js';
import { summariseProfile } from './lib/profile.js';
import { addRow, progress, recordForeignCpu, type RunSettings } from './lib/report.js';
import { makeDataDir, OBSERVER_ENTRY, startChatterBox, startRawServer, type RunningServer } from './lib/servers.js';
import { createChannel, createTeam, registerUsers, type BenchUser } from './lib/setup.js';
import { closeAll, openChatterBoxMember, openMany, openRawMember, type MemberSocket } from './lib/sockets.js';
import { formatNumber, mean, median } from './lib/stats.js';

/** Fractions of the raw maximum that ChatterBox and the second raw run are tried at. */
export const FRACTIONS = [0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1, 1.05, 1.1, 1.2, 1.3, 1.4];

export const SMOKE_FRACTIONS = [0.02, 0.1, 0.5];

interface Topology {
  fanout: number;
  rooms: number;
  dataDir: string;
  channelIds: string[];
  roomMembers: BenchUser[][];
}

interface PhaseResult {
  kind: 'raw' | 'chatterbox';
  maxDeliveriesPerSecond: number;
  atHalf: StepResult;
  atEightyPercent: StepResult;
}

/** Registers fanout × rooms users and puts each room's users in one channel. */
async function buildTopology(fanout: number, rooms: number): Promise<Topology> {
  const dataDir = makeDataDir(`delivery-${fanout}`);
  const server = await startChatterBox({ dataDir });
  try {
    progress(`setup: registering ${fanout * rooms} users for fan-out ${fanout}`);
    const users = await registerUsers(server.url, fanout * rooms, `d${fanout}u`);
    const teamId = await createTeam(users[0]!, users, `Delivery ${fanout}`);
    const roomMembers: BenchUser[][] = [];
    const channelIds: string[] = [];
    for (let room = 0; room < rooms; room += 1) {
      const members = users.slice(room * fanout, (room + 1) * fanout);
      roomMembers.push(members);
      channelIds.push(await createChannel(members[0]!, teamId, `room-${room}`, members));
    }
    return { fanout, rooms, dataDir, channelIds, roomMembers };
  } finally {
    await server.stop();
  }
}

/** Waits until the server uses under 10% of a core, so one step's backlog does not load the next. */
export async function waitForIdle(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const before = readCpuMs(pid);
    await sleep(200);
    if (readCpuMs(pid) - before < 20) return;
  }
}

/**
 * Runs a step and repeats it once if other processes on the machine used more
 * than MAX_FOREIGN_CPU of a core during it and then went quiet within
 * `disturbedRetryWaitMs` (never in smoke runs). A repeat on a machine that is
 * still busy would measure the same disturbance, so the first step is kept
 * then. Each step prints its foreign CPU use and records it for the summary.
 */
export async function runCleanStep(
  driver: DeliveryDriver,
  pid: number,
  deliveriesPerSecond: number,
  durationMs: number,
  settings: RunSettings,
  scenario = 'delivery',
): Promise<StepResult> {
  let step = await driver.runStep({ deliveriesPerSecond, durationMs, drainTimeoutMs: settings.drainTimeoutMs });
  if (settings.disturbedRetryWaitMs > 0 && step.foreignCpuFraction > MAX_FOREIGN_CPU) {
    const disturbance = `step at ${formatNumber(deliveriesPerSecond)}/s disturbed: other processes used ${formatNumber(step.foreignCpuFraction * 100)}% of a core`;
    if (await waitForQuietMachine([pid], settings.disturbedRetryWaitMs)) {
      progress(`${disturbance}; repeating`);
      await waitForIdle(pid, settings.idleTimeoutMs);
      step = await driver.runStep({ deliveriesPerSecond, durationMs, drainTimeoutMs: settings.drainTimeoutMs });
    } else {
      progress(`${disturbance}; the machine stayed busy for ${formatNumber(settings.disturbedRetryWaitMs / 1000)} s, so the step is kept`);
    }
  }
  recordForeignCpu(scenario, step.foreignCpuFraction);
  return step;
}

export function describeStep(kind: string, step: StepResult): string {
  return (
    `${kind} offered ${formatNumber(step.offeredDeliveriesPerSecond)}/s: ${step.sustained ? 'sustained' : `NOT sustained (${step.reason})`}, ` +
    `p50 ${formatNumber(step.latency.p50Ms)} p95 ${formatNumber(step.latency.p95Ms)} p99 ${formatNumber(step.latency.p99Ms)} ms, ` +
    `server cpu ${formatNumber(step.serverCpuFraction * 100)}% (${formatNumber(step.serverCpuUsPerDelivery)} us and ${formatNumber(step.serverWritesPerDelivery)} write calls per delivery), generator cpu ${formatNumber(step.generatorCpuFraction * 100)}% (max lag ${formatNumber(step.generatorMaxLagMs)} ms), ` +
    `others ${formatNumber(step.foreignCpuFraction * 100)}%`
  );
}

async function openMembers(server: RunningServer, topology: Topology, perRoom: number): Promise<MemberSocket[]> {
  const slots: Array<{ room: number; user: BenchUser }> = [];
  for (let room = 0; room < topology.rooms; room += 1) {
    for (const user of topology.roomMembers[room]!.slice(0, perRoom)) slots.push({ room, user });
  }
  return openMany(slots.length, 50, (index) => {
    const slot = slots[index]!;
    return server.kind === 'raw' ? openRawMember(server.wsUrl, [`room-${slot.room}`]) : openChatterBoxMember(server.wsUrl, slot.user.token);
  });
}

async function buildDriver(server: RunningServer, topology: Topology, members: MemberSocket[], receiversPerMessage: number): Promise<DeliveryDriver> {
  const roomNames = topology.channelIds.map((_id, room) => `room-${room}`);
  const sender =
    server.kind === 'raw'
      ? new RawSender((await openMany(topology.rooms, 10, () => openRawMember(server.wsUrl, []))).map((member) => member.socket), roomNames)
      : process.env.BENCH_POST_VIA === 'http'
        ? new ChatterBoxSender(
            server.url,
            topology.channelIds,
            topology.roomMembers.map((members) => members.map((user) => user.token)),
          )
        : new ChatterBoxSocketSender(
            (await openMany(topology.rooms, 10, (room) => openChatterBoxMember(server.wsUrl, topology.roomMembers[room]![0]!.token))).map(
              (member) => member.socket,
            ),
            topology.channelIds,
          );
  return new DeliveryDriver({ members, sender, rooms: topology.rooms, receiversPerMessage, fanout: topology.fanout, serverPid: server.pid });
}

/** Binary search over an ascending ladder of offered loads for the highest one sustained. */
export async function searchMax(driver: DeliveryDriver, ladder: readonly number[], settings: RunSettings, kind: string, pid: number, scenario = 'delivery'): Promise<number> {
  let low = -1;
  let high = ladder.length;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    const step = await runCleanStep(driver, pid, ladder[middle]!, settings.stepMs, settings, scenario);
    progress(describeStep(kind, step));
    if (step.sustained) low = middle;
    else high = middle;
    await waitForIdle(pid, settings.idleTimeoutMs);
  }
  return low < 0 ? 0 : ladder[low]!;
}

export function geometricLadder(from: number, to: number, factor: number): number[] {
  const ladder: number[] = [];
  for (let value = from; value <= to; value *= factor) ladder.push(Math.round(value));
  return ladder;
}

async function runPhase(kind: 'raw' | 'chatterbox', topology: Topology, reference: number | undefined, settings: RunSettings): Promise<PhaseResult> {
  const server = kind === 'raw' ? await startRawServer() : await startChatterBox({ dataDir: topology.dataDir });
  const members = await openMembers(server, topology, topology.fanout);
  const driver = await buildDriver(server, topology, members, topology.fanout);
  try {
    if (settings.quietTimeoutMs > 0 && !(await waitForQuietMachine([server.pid], settings.quietTimeoutMs))) progress('other processes are still busy; measuring anyway');
    const warmUp = await driver.runStep({ deliveriesPerSecond: 20 * topology.fanout, durationMs: settings.smoke ? 300 : 1000, drainTimeoutMs: settings.drainTimeoutMs });
    if (!warmUp.sustained) progress(`${kind} warm-up was not sustained: ${warmUp.reason}`);

    const ladder =
      reference === undefined
        ? geometricLadder(2000, 2_000_000, settings.smoke ? 4 : 1.15)
        : (settings.smoke ? SMOKE_FRACTIONS : FRACTIONS).map((fraction) => Math.round(fraction * reference));
    const max = await searchMax(driver, ladder, settings, kind, server.pid);
    const base = reference ?? max;
    const atHalf = await runCleanStep(driver, server.pid, 0.5 * base, settings.stepMs, settings);
    progress(`${describeStep(kind, atHalf)} [50% of raw max]`);
    await waitForIdle(server.pid, settings.idleTimeoutMs);
    const atEightyPercent = await runCleanStep(driver, server.pid, 0.8 * base, settings.stepMs, settings);
    progress(`${describeStep(kind, atEightyPercent)} [80% of raw max]`);
    return { kind, maxDeliveriesPerSecond: max, atHalf, atEightyPercent };
  } finally {
    driver.close();
    await closeAll(members.map((member) => member.socket));
    await server.stop();
  }
}

/**
 * Checks the generator against a second process: on the raw server, the
 * observer opens some member sockets of every room and measures them itself.
 */
async function checkGenerator(topology: Topology, deliveriesPerSecond: number, settings: RunSettings): Promise<void> {
  const observed = Math.max(1, Math.floor(topology.fanout / 4));
  const server = await startRawServer();
  const roomList = Array.from({ length: topology.rooms }, (_unused, room) => Array(observed).fill(`room-${room}`) as string[]).flat();
  const observer = spawnNode(CLIENT_CORE, [OBSERVER_ENTRY, server.wsUrl, roomList.join(',')], {}, 'pipe');
  observer.stderr?.resume();
  try {
    await waitForLine(observer, 'ready');
    const members = await openMembers(server, topology, topology.fanout - observed);
    const driver = await buildDriver(server, topology, members, topology.fanout - observed);
    const step = await driver.runStep({ deliveriesPerSecond, durationMs: settings.stepMs, drainTimeoutMs: settings.drainTimeoutMs });
    const window = driver.lastWindow;

    const lines = readline.createInterface({ input: observer.stdout! });
    const reply = new Promise<string>((resolve) => lines.once('line', resolve));
    observer.stdin!.write(`report ${window.startMs} ${window.endMs}\n`);
    const report = JSON.parse(await reply) as { connections: number; deliveriesPerConnectionPerSecond: number; p50Ms: number; p95Ms: number; p99Ms: number };
    lines.close();

    const windowS = Math.max(0.001, (window.endMs - window.startMs) / 1000);
    const generatorRate = step.deliveries / members.length / windowS;
    console.log(`\nGenerator check on the raw server at ${formatNumber(deliveriesPerSecond)} deliveries/s (fan-out ${topology.fanout}):`);
    console.log(`  generator: ${members.length} sockets, ${formatNumber(generatorRate)} deliveries/s per socket, p50 ${formatNumber(step.latency.p50Ms)} p95 ${formatNumber(step.latency.p95Ms)} p99 ${formatNumber(step.latency.p99Ms)} ms`);
    console.log(`  observer:  ${report.connections} sockets, ${formatNumber(report.deliveriesPerConnectionPerSecond)} deliveries/s per socket, p50 ${formatNumber(report.p50Ms)} p95 ${formatNumber(report.p95Ms)} p99 ${formatNumber(report.p99Ms)} ms`);
    driver.close();
    await closeAll(members.map((member) => member.socket));
  } finally {
    observer.stdin?.end();
    await stopProcess(observer);
    await server.stop();
  }
}

/** Profiles ChatterBox with --cpu-prof at a fixed load and prints the functions with the most self time. */
async function profileChatterBox(topology: Topology, deliveriesPerSecond: number, settings: RunSettings): Promise<void> {
  const profileDir = makeDataDir('profile');
  const server = await startChatterBox({ dataDir: topology.dataDir, cpuProfileDir: profileDir });
  const members = await openMembers(server, topology, topology.fanout);
  const driver = await buildDriver(server, topology, members, topology.fanout);
  try {
    const step = await driver.runStep({ deliveriesPerSecond, durationMs: 2 * settings.stepMs, drainTimeoutMs: settings.drainTimeoutMs });
    progress(`${describeStep('chatterbox (profiled)', step)}`);
  } finally {
    driver.close();
    await closeAll(members.map((member) => member.socket));
    await server.stop();
  }
  const { entries, idlePercent } = summariseProfile(profileDir);
  console.log(
    `\nCPU profile of ChatterBox at ${formatNumber(deliveriesPerSecond)} deliveries/s, fan-out ${topology.fanout} ` +
      `(whole server run, top self time as a share of busy samples; idle ${formatNumber(idlePercent)}% of all samples):`,
  );
  for (const entry of entries) console.log(`  ${formatNumber(entry.selfPercent).padStart(5)}%  ${entry.functionName}  ${entry.location}`);
  console.log(`  profile file kept in ${profileDir}`);
}

/** Runs the scenario for each fan-out and adds its rows to the results table. */
export async function runDelivery(settings: RunSettings, fanouts: readonly number[]): Promise<void> {
  for (const fanout of fanouts) {
    const rooms = settings.smoke ? 1 : Math.max(1, Math.round(100 / fanout));
    const topology = await buildTopology(fanout, rooms);
    const repeats: Array<{ rawBefore: PhaseResult; chatterbox: PhaseResult; rawAfter: PhaseResult | undefined }> = [];

    for (let repeat = 0; repeat < settings.repeats; repeat += 1) {
      progress(`delivery fan-out ${fanout}, repeat ${repeat + 1}/${settings.repeats}`);
      const rawBefore = await runPhase('raw', topology, undefined, settings);
      const chatterbox = await runPhase('chatterbox', topology, rawBefore.maxDeliveriesPerSecond, settings);
      // Smoke runs skip the second raw phase to stay short.
      const rawAfter = settings.smoke ? undefined : await runPhase('raw', topology, rawBefore.maxDeliveriesPerSecond, settings);
      repeats.push({ rawBefore, chatterbox, rawAfter });
    }

    const rawOf = (entry: (typeof repeats)[number], pick: (phase: PhaseResult) => number) =>
      mean([pick(entry.rawBefore), ...(entry.rawAfter === undefined ? [] : [pick(entry.rawAfter)])]);
    const figure = (name: string, unit: string, goal: string, pick: (phase: PhaseResult) => number, judge: (ratio: number, chatterbox: number[]) => boolean, note?: string) => {
      const raw = repeats.map((entry) => rawOf(entry, pick));
      const chatterbox = repeats.map((entry) => pick(entry.chatterbox));
      const ratios = chatterbox.map((value, index) => value / raw[index]!);
      addRow({ figure: name, unit, goal, raw, chatterbox, ratios, met: settings.smoke ? undefined : judge(median(ratios), chatterbox), note });
    };

    const maxGoal = fanout >= 100 ? 0.85 : 0.7;
    figure(`max sustained deliveries/s, fan-out ${fanout}`, 'deliveries/s', `>= ${maxGoal}x raw`, (phase) => phase.maxDeliveriesPerSecond, (ratio) => ratio >= maxGoal);
    figure(`p95 latency at 50% of raw max, fan-out ${fanout}`, 'ms', '<= 2x raw', (phase) => phase.atHalf.latency.p95Ms, (ratio) => ratio <= 2, sustainedNote(repeats.map((entry) => entry.chatterbox.atHalf)));
    figure(`p99 latency at 50% of raw max, fan-out ${fanout}`, 'ms', '<= 2x raw', (phase) => phase.atHalf.latency.p99Ms, (ratio) => ratio <= 2);
    figure(
      `p95 latency at 80% of raw max, fan-out ${fanout}`,
      'ms',
      'ChatterBox < 200 ms',
      (phase) => phase.atEightyPercent.latency.p95Ms,
      (_ratio, chatterbox) => median(chatterbox) < 200,
      sustainedNote(repeats.map((entry) => entry.chatterbox.atEightyPercent)),
    );
    figure(`server CPU per delivery at 50% of raw max, fan-out ${fanout}`, 'us', '<= 1.5x raw', (phase) => phase.atHalf.serverCpuUsPerDelivery, (ratio) => ratio <= 1.5);
    // No goal: it shows how many frames share a socket write. The raw server writes each frame with its own call.
    addRow({
      figure: `server write calls per delivery at 50% of raw max, fan-out ${fanout}`,
      unit: 'calls',
      goal: 'none',
      raw: repeats.map((entry) => rawOf(entry, (phase) => phase.atHalf.serverWritesPerDelivery)),
      chatterbox: repeats.map((entry) => entry.chatterbox.atHalf.serverWritesPerDelivery),
      ratios: repeats.map((entry) => entry.chatterbox.atHalf.serverWritesPerDelivery / rawOf(entry, (phase) => phase.atHalf.serverWritesPerDelivery)),
      met: undefined,
    });

    const rawMax = repeats[0]!.rawBefore.maxDeliveriesPerSecond;
    if (fanout === fanouts[0]) await checkGenerator(topology, 0.5 * rawMax, settings);
    if (!settings.smoke && fanout === fanouts[0]) {
      const chatterboxMax = median(repeats.map((entry) => entry.chatterbox.maxDeliveriesPerSecond));
      await profileChatterBox(topology, Math.max(chatterboxMax, 0.02 * rawMax), settings);
    }
    fs.rmSync(topology.dataDir, { recursive: true, force: true });
  }
}

function sustainedNote(steps: readonly StepResult[]): string | undefined {
  const failed = steps.filter((step) => !step.sustained);
  if (failed.length === 0) return undefined;
  return `ChatterBox did not sustain this load in ${failed.length} of ${steps.length} repeats (${failed.map((step) => step.reason).join('; ')})`;
}
