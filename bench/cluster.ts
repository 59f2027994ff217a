/**
 * Cluster scenario: ChatterBox nodes on PostgreSQL and Redis, one node and
 * then two nodes with each room's members split across them, against the raw
 * `ws` broadcast server on one node and a raw Redis PUBLISH/SUBSCRIBE loop in
 * the same run. Order per repeat: raw `ws`, raw Redis, one node, two nodes,
 * raw Redis, raw `ws`; then pgbench, ChatterBox storing posts, pgbench.
 *
 * BENCH_DATABASE_URL and BENCH_REDIS_URL choose the servers (defaults:
 * postgres://postgres@127.0.0.1:5432/test and redis://127.0.0.1:6379). The run
 * makes a schema and a key prefix of its own and removes both at the end.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Redis } from 'ioredis';
import { describeStep, FRACTIONS, geometricLadder, searchMax, waitForIdle } from './delivery.js';
import { ChatterBoxSocketSender, DeliveryDriver, RawSender, type MessageSender, type StepResult } from './lib/delivery-driver.js';
import { buildPayload } from './lib/payload.js';
import { createPgbenchTable, findBackendPids, hasPgbench, runPgbench, runPgInsertLoop, runSql, withApplicationName } from './lib/postgres-bench.js';
import { collectOutput, MAX_FOREIGN_CPU, readCpuMs, SERVER_CORE, sleep, spawnNode, startForeignCpuMeter, waitForQuietMachine } from './lib/proc.js';
import { deleteRedisKeys, isRedisReachable, openRedis, readRedisPid, readRedisUsage, USAGE_READ_COMMANDS } from './lib/redis-usage.js';
import { addRow, progress, recordForeignCpu, type RunSettings } from './lib/report.js';
import { makeDataDir, RAW_REDIS_ENTRY, startChatterBox, startRawServer, type RunningServer } from './lib/servers.js';
import { createChannel, createTeam, registerUsers, type BenchUser } from './lib/setup.js';
import { runSocketPostLoop } from './lib/socket-load.js';
import { closeAll, openChatterBoxMember, openMany, openRawMember, type MemberSocket } from './lib/sockets.js';
import { formatNumber, mean, median } from './lib/stats.js';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The latency goal's load point, as a fraction of the raw `ws` server's maximum. */
const LOAD_FRACTION = 0.25;
/** Cross-node p95 may exceed the raw single-node p95 by at most this much. */
const MAX_ADDED_P95_MS = 5;
const MAX_REDIS_CPU_RATIO = 2;
const MIN_STORED_RATIO = 0.8;
/** Posts in flight while storing, and pgbench clients: the storage scenario's concurrency. */
const STORE_CONCURRENCY = 32;
/** PUBLISH commands outstanding while the raw Redis loop looks for its maximum. */
const RAW_REDIS_IN_FLIGHT = 32;
const NODE_READY_TIMEOUT_MS = 30_000;
/** Channels that share the posts in the second storage loop, each on a socket of its own. */
const STORE_CHANNELS = 8;

interface ClusterSetup {
  /** Connection URL of the nodes, with the application name their PostgreSQL backends are found by. */
  nodeDatabaseUrl: string;
  databaseUrl: string;
  applicationName: string;
  schema: string;
  redisUrl: string;
  keyPrefix: string;
  fanout: number;
  rooms: number;
  channelIds: string[];
  roomMembers: BenchUser[][];
  storeAuthor: BenchUser;
  /** Channels of the storage loops: the first alone takes every post, then all of them share the posts. */
  storeChannelIds: string[];
  /** One data folder per node index, for the files a node keeps outside the database. */
  dataDirs: string[];
  /** Both nodes, started once for the whole run because a start on PostgreSQL takes seconds. */
  nodes: RunningServer[];
}

/** A 25%-of-raw-max step with the Redis server CPU and commands spent during it. */
interface MeasuredStep {
  step: StepResult;
  redisCpuMs: number;
  redisCommands: number;
}

interface WsPhase {
  /** Maximum sustained deliveries/s, or undefined where the phase did not search for it. */
  max: number | undefined;
  quarter: MeasuredStep;
}

interface RawRedisResult {
  published: number;
  deliveries: number;
  missing: number;
  messagesPerSecond: number;
  deliveriesPerSecond: number;
  redisCpuMs: number;
  redisCpuUsPerDelivery: number;
  otherCommands: number;
  clientCpuMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** CPU of processes other than this run, the raw loop and Redis, as a fraction of one core. */
  foreignCpuFraction: number;
}

interface StoreLoopResult {
  postsPerSecond: number;
  /** The highest post-to-ack p99 of the loop's sockets. */
  p99Ms: number;
  nodeCpuUsPerPost: number;
}

interface StoredResult {
  single: StoreLoopResult;
  spread: StoreLoopResult;
}

interface Repeat {
  rawBefore: WsPhase;
  rawAfter: WsPhase | undefined;
  oneNode: WsPhase;
  twoNodes: WsPhase;
  redisMax: RawRedisResult;
  redisBefore: RawRedisResult;
  redisAfter: RawRedisResult | undefined;
  insertsBefore: number;
  insertsAfter: number | undefined;
  stored: StoredResult;
}

function nodeEnv(setup: ClusterSetup): NodeJS.ProcessEnv {
  return {
    DATABASE_URL: setup.nodeDatabaseUrl,
    CHATTERBOX_DATABASE_SCHEMA: setup.schema,
    REDIS_URL: setup.redisUrl,
    CHATTERBOX_REDIS_KEY_PREFIX: setup.keyPrefix,
  };
}

/**
 * Starts node `index` and waits until /readyz reports the database and Redis connected.
 * NOTE: every node is pinned to the server core, so two nodes show what Redis adds, not added capacity.
 */
async function startNode(setup: ClusterSetup, index: number): Promise<RunningServer> {
  setup.dataDirs[index] ??= makeDataDir(`cluster-node${index}`);
  // BENCH_CPU_PROFILE_DIR=<folder> writes a V8 CPU profile of each node's whole run there.
  const node = await startChatterBox({ dataDir: setup.dataDirs[index]!, env: nodeEnv(setup), cpuProfileDir: process.env.BENCH_CPU_PROFILE_DIR });
  const deadline = Date.now() + NODE_READY_TIMEOUT_MS;
  for (;;) {
    const response = await fetch(`${node.url}/readyz`).catch(() => undefined);
    if (response?.ok === true) return node;
    if (Date.now() > deadline) {
      await node.stop();
      throw new Error(`ChatterBox node ${index} did not report ready on ${node.url}/readyz within ${NODE_READY_TIMEOUT_MS / 1000} s`);
    }
    await sleep(100);
  }
}

/** Makes the schema, registers the members of every room and the storage author, and creates their channels. */
async function buildSetup(fanout: number, rooms: number): Promise<ClusterSetup> {
  const id = randomBytes(4).toString('hex');
  const databaseUrl = process.env.BENCH_DATABASE_URL || DEFAULT_DATABASE_URL;
  const applicationName = `cbbench-${id}`;
  const setup: ClusterSetup = {
    nodeDatabaseUrl: withApplicationName(databaseUrl, applicationName),
    databaseUrl,
    applicationName,
    schema: `cbbench_${id}`,
    redisUrl: process.env.BENCH_REDIS_URL || DEFAULT_REDIS_URL,
    keyPrefix: `cbbench:${id}:`,
    fanout,
    rooms,
    channelIds: [],
    roomMembers: [],
    storeAuthor: undefined as unknown as BenchUser,
    storeChannelIds: [],
    dataDirs: [],
    nodes: [],
  };
  await runSql(databaseUrl, `CREATE SCHEMA ${setup.schema}`);
  progress(`setup: schema ${setup.schema}, Redis key prefix ${setup.keyPrefix}, registering ${fanout * rooms} users`);

  try {
    await populateSetup(setup, id);
    await createPgbenchTable(databaseUrl, setup.schema);
  } catch (error) {
    const redis = openRedis(setup.redisUrl);
    await removeSetup(setup, redis).finally(() => redis.disconnect());
    throw error;
  }
  return setup;
}

async function populateSetup(setup: ClusterSetup, id: string): Promise<void> {
  const { fanout, rooms } = setup;
  // The first start runs the migrations, so the second node starts after it.
  setup.nodes.push(await startNode(setup, 0));
  setup.nodes.push(await startNode(setup, 1));

  const users = await registerUsers(setup.nodes[0]!.url, fanout * rooms, `c${id}u`);
  const teamId = await createTeam(users[0]!, users, `Cluster ${id}`);
  for (let room = 0; room < rooms; room += 1) {
    const members = users.slice(room * fanout, (room + 1) * fanout);
    setup.roomMembers.push(members);
    setup.channelIds.push(await createChannel(members[0]!, teamId, `room-${room}`, members));
  }
  setup.storeAuthor = users[0]!;
  for (let index = 0; index < STORE_CHANNELS; index += 1) setup.storeChannelIds.push(await createChannel(users[0]!, teamId, `store-${index}`, []));
}

async function removeSetup(setup: ClusterSetup, redis: Redis): Promise<void> {
  for (const node of setup.nodes) await node.stop();
  await runSql(setup.databaseUrl, `DROP SCHEMA IF EXISTS ${setup.schema} CASCADE`);
  const keys = await deleteRedisKeys(redis, setup.keyPrefix);
  for (const dataDir of setup.dataDirs) fs.rmSync(dataDir, { recursive: true, force: true });
  progress(`cleanup: dropped schema ${setup.schema}, deleted ${keys} Redis keys under ${setup.keyPrefix}`);
}

/**
 * Runs a step with Redis INFO read before and after, and repeats it once
 * when other processes used more than MAX_FOREIGN_CPU of a core and the
 * machine then goes quiet, as the delivery scenario does.
 */
async function runMeasuredStep(driver: DeliveryDriver, pid: number, deliveriesPerSecond: number, settings: RunSettings, redis: Redis): Promise<MeasuredStep> {
  const measure = async (): Promise<MeasuredStep> => {
    await waitForIdle(pid, settings.idleTimeoutMs);
    const before = await readRedisUsage(redis);
    const step = await driver.runStep({ deliveriesPerSecond, durationMs: settings.stepMs, drainTimeoutMs: settings.drainTimeoutMs });
    const after = await readRedisUsage(redis);
    return { step, redisCpuMs: after.cpuMs - before.cpuMs, redisCommands: after.commands - before.commands - USAGE_READ_COMMANDS };
  };
  let measured = await measure();
  if (settings.disturbedRetryWaitMs > 0 && measured.step.foreignCpuFraction > MAX_FOREIGN_CPU) {
    const disturbance = `step at ${formatNumber(deliveriesPerSecond)}/s disturbed: other processes used ${formatNumber(measured.step.foreignCpuFraction * 100)}% of a core`;
    if (await waitForQuietMachine([pid], settings.disturbedRetryWaitMs)) {
      progress(`${disturbance}; repeating`);
      measured = await measure();
    } else {
      progress(`${disturbance}; the machine stayed busy, so the step is kept`);
    }
  }
  recordForeignCpu('cluster', measured.step.foreignCpuFraction);
  return measured;
}

/** Warms up, finds the maximum over `ladder` unless it is empty, then runs the 25% step. */
async function measurePhase(driver: DeliveryDriver, pid: number, ladder: readonly number[], quarterRate: number | undefined, kind: string, settings: RunSettings, redis: Redis): Promise<WsPhase> {
  if (settings.quietTimeoutMs > 0 && !(await waitForQuietMachine([pid], settings.quietTimeoutMs))) progress('other processes are still busy; measuring anyway');
  const warmUp = await driver.runStep({ deliveriesPerSecond: 1000, durationMs: settings.smoke ? 300 : 1000, drainTimeoutMs: settings.drainTimeoutMs });
  if (!warmUp.sustained) progress(`${kind} warm-up was not sustained: ${warmUp.reason}`);

  const max = ladder.length === 0 ? undefined : await searchMax(driver, ladder, settings, kind, pid, 'cluster');
  const rate = quarterRate ?? LOAD_FRACTION * Math.max(max ?? 0, ladder[0] ?? 0);
  const quarter = await runMeasuredStep(driver, pid, rate, settings, redis);
  const remote = quarter.step.remoteLatency === undefined ? '' : `, cross-node p95 ${formatNumber(quarter.step.remoteLatency.p95Ms)} ms`;
  progress(`${describeStep(kind, quarter.step)}${remote}, redis cpu ${formatNumber(quarter.redisCpuMs)} ms [25% of raw max]`);
  return { max, quarter };
}

/** Measures the raw `ws` server on one node. Without `rawMax` it searches for its own maximum first. */
async function runRawWsPhase(setup: ClusterSetup, rawMax: number | undefined, settings: RunSettings, redis: Redis): Promise<WsPhase> {
  const server = await startRawServer();
  const slots = setup.roomMembers.flatMap((members, room) => members.map(() => room));
  const members = await openMany(slots.length, 50, (index) => openRawMember(server.wsUrl, [`room-${slots[index]!}`]));
  const roomNames = setup.channelIds.map((_id, room) => `room-${room}`);
  const senderSockets = await openMany(setup.rooms, 10, () => openRawMember(server.wsUrl, []));
  const sender = new RawSender(
    senderSockets.map((member) => member.socket),
    roomNames,
  );
  const driver = new DeliveryDriver({ members, sender, rooms: setup.rooms, receiversPerMessage: setup.fanout, fanout: setup.fanout, serverPid: server.pid });
  try {
    const ladder = rawMax === undefined ? geometricLadder(2000, 2_000_000, settings.smoke ? 4 : 1.15) : [];
    return await measurePhase(driver, server.pid, ladder, rawMax === undefined ? undefined : LOAD_FRACTION * rawMax, 'raw ws', settings, redis);
  } finally {
    driver.close();
    await closeAll(members.map((member) => member.socket));
    await server.stop();
  }
}

/**
 * Measures ChatterBox on `nodeCount` nodes. Member `i` of each room connects to node
 * `i % nodeCount`, and room `r` posts through node `r % nodeCount`, so with two
 * nodes half of every room's members receive each message through Redis.
 */
async function runNodesPhase(setup: ClusterSetup, nodeCount: number, rawMax: number, settings: RunSettings, redis: Redis, redisPid: number): Promise<WsPhase> {
  const nodes = setup.nodes.slice(0, nodeCount);
  const sockets: MemberSocket[] = [];
  let sender: MessageSender | undefined;
  let helperPids: readonly number[] = [redisPid];
  const refreshHelperPids = async () => {
    helperPids = [redisPid, ...(await findBackendPids(setup.databaseUrl, setup.applicationName))];
  };
  const refresher = setInterval(() => void refreshHelperPids().catch(() => {}), 1000);
  try {
    const slots = setup.roomMembers.flatMap((members, room) => members.map((user, index) => ({ room, user, node: index % nodeCount })));
    const members = await openMany(slots.length, 50, (index) => openChatterBoxMember(nodes[slots[index]!.node]!.wsUrl, slots[index]!.user.token));
    sockets.push(...members);
    const remoteMembers = new Set(members.filter((_member, index) => slots[index]!.node !== slots[index]!.room % nodeCount));
    const senderMembers = await openMany(setup.rooms, 10, (room) => openChatterBoxMember(nodes[room % nodeCount]!.wsUrl, setup.roomMembers[room]![0]!.token));
    sockets.push(...senderMembers);
    sender = new ChatterBoxSocketSender(
      senderMembers.map((member) => member.socket),
      setup.channelIds,
    );
    await refreshHelperPids();
    const driver = new DeliveryDriver({
      members,
      sender,
      rooms: setup.rooms,
      receiversPerMessage: setup.fanout,
      fanout: setup.fanout,
      serverPid: nodes[0]!.pid,
      extraServerPids: nodes.slice(1).map((node) => node.pid),
      // An idle node outside the phase is left out of other processes' CPU too.
      helperPids: () => [...helperPids, ...setup.nodes.slice(nodeCount).map((node) => node.pid)],
      remoteMembers: nodeCount > 1 ? remoteMembers : undefined,
    });
    // Smoke runs skip the search, because each node step waits out its drain when posts are slow.
    const ladder = settings.smoke ? [] : FRACTIONS.map((fraction) => Math.round(fraction * rawMax));
    return await measurePhase(driver, nodes[0]!.pid, ladder, LOAD_FRACTION * rawMax, `chatterbox ${nodeCount} node${nodeCount > 1 ? 's' : ''}`, settings, redis);
  } finally {
    clearInterval(refresher);
    sender?.close();
    await closeAll(sockets.map((member) => member.socket));
  }
}

/** Runs bench/raw-redis.ts on the server core with two subscribers, one per node of the two-node phase. */
async function runRawRedis(setup: ClusterSetup, mode: 'max' | 'rate', amount: number, settings: RunSettings, redisPid: number): Promise<RawRedisResult> {
  const meter = startForeignCpuMeter([redisPid]);
  const started = performance.now();
  const child = spawnNode(SERVER_CORE, [RAW_REDIS_ENTRY, setup.redisUrl, setup.keyPrefix, String(setup.rooms), '2', mode, String(amount), String(settings.stepMs)]);
  const output = await collectOutput(child);
  const result = JSON.parse(output.trim().split('\n').pop()!) as Omit<RawRedisResult, 'foreignCpuFraction'>;
  // The loop has exited, so its own CPU comes from its report rather than /proc.
  const foreignCpuFraction = Math.max(0, meter() - result.clientCpuMs / (performance.now() - started));
  recordForeignCpu('cluster', foreignCpuFraction);
  progress(
    `raw redis ${mode} ${formatNumber(amount)}: ${formatNumber(result.messagesPerSecond)} messages/s, ${formatNumber(result.deliveriesPerSecond)} deliveries/s, ` +
      `${result.missing} missing, p50 ${formatNumber(result.p50Ms)} p95 ${formatNumber(result.p95Ms)} p99 ${formatNumber(result.p99Ms)} ms, ` +
      `redis cpu ${formatNumber(result.redisCpuUsPerDelivery)} us per delivery, other clients' commands ${result.otherCommands}, others ${formatNumber(foreignCpuFraction * 100)}%`,
  );
  return { ...result, foreignCpuFraction };
}

/** Measures single-row inserts at STORE_CONCURRENCY, with pgbench where installed and else a pg loop in this process. */
async function runInsertBaseline(setup: ClusterSetup, seconds: number): Promise<number> {
  const usePgbench = hasPgbench();
  const result = usePgbench
    ? await runPgbench(setup.databaseUrl, setup.schema, STORE_CONCURRENCY, seconds, setup.dataDirs[0]!)
    : await runPgInsertLoop(setup.databaseUrl, setup.schema, STORE_CONCURRENCY, seconds);
  progress(`${usePgbench ? 'pgbench' : 'pg insert loop (pgbench missing)'}: ${formatNumber(result.transactionsPerSecond)} single-row inserts/s, latency average ${formatNumber(result.latencyAverageMs)} ms at ${STORE_CONCURRENCY} clients`);
  return result.transactionsPerSecond;
}

/**
 * Measures node 0 storing `post` frames with STORE_CONCURRENCY in flight, first on one
 * socket into one channel, as the storage scenario does on SQLite, then
 * spread over STORE_CHANNELS channels with a socket each. Posts to one
 * channel take turns on its `streams` row lock, so the spread loop shows
 * what that lock costs.
 */
async function runStored(setup: ClusterSetup, settings: RunSettings, seconds: number, redisPid: number): Promise<StoredResult> {
  const node = setup.nodes[0]!;
  const members = await openMany(STORE_CHANNELS, 10, () => openChatterBoxMember(node.wsUrl, setup.storeAuthor.token));
  try {
    const single = await runStoreLoop(setup, node, members.slice(0, 1), settings, seconds, redisPid, 'one channel');
    const spread = await runStoreLoop(setup, node, members, settings, seconds, redisPid, `${STORE_CHANNELS} channels`);
    return { single, spread };
  } finally {
    await closeAll(members.map((member) => member.socket));
  }
}

/** Posts over `members[i]` into store channel `i`, STORE_CONCURRENCY in flight in all, after a warm-up. */
async function runStoreLoop(
  setup: ClusterSetup,
  node: RunningServer,
  members: readonly MemberSocket[],
  settings: RunSettings,
  seconds: number,
  redisPid: number,
  label: string,
): Promise<StoreLoopResult> {
  const text = (index: number) => buildPayload(index, Date.now());
  const inFlight = STORE_CONCURRENCY / members.length;
  const runAll = (durationMs: number) =>
    Promise.all(members.map((member, index) => runSocketPostLoop(member.socket, setup.storeChannelIds[index]!, inFlight, durationMs, text)));

  await runAll(settings.smoke ? 200 : 1000);
  const meter = startForeignCpuMeter([...setup.nodes.map((each) => each.pid), redisPid, ...(await findBackendPids(setup.databaseUrl, setup.applicationName))]);
  const cpuBefore = readCpuMs(node.pid);
  const results = await runAll(seconds * 1000);
  const posts = results.reduce((sum, result) => sum + result.count, 0);
  const nodeCpuUsPerPost = ((readCpuMs(node.pid) - cpuBefore) * 1000) / Math.max(1, posts);
  const foreign = meter();
  recordForeignCpu('cluster', foreign);
  const failed = results.find((result) => result.errors > 0);
  if (failed !== undefined) throw new Error(`Posting over the socket failed ${failed.errors} times: ${failed.firstError}`);

  const postsPerSecond = results.reduce((sum, result) => sum + result.perSecond, 0);
  const p99Ms = Math.max(...results.map((result) => result.latency.p99Ms));
  progress(
    `chatterbox on PostgreSQL, ${label}: ${formatNumber(postsPerSecond)} posts/s stored, post-to-ack p99 ${formatNumber(p99Ms)} ms ` +
      `at ${STORE_CONCURRENCY} in flight, node cpu ${formatNumber(nodeCpuUsPerPost)} us per post, others ${formatNumber(foreign * 100)}%`,
  );
  return { postsPerSecond, p99Ms, nodeCpuUsPerPost };
}

async function runRepeat(setup: ClusterSetup, settings: RunSettings, redis: Redis, redisPid: number): Promise<Repeat> {
  const rawBefore = await runRawWsPhase(setup, undefined, settings, redis);
  const rawMax = Math.max(rawBefore.max ?? 0, 2000);
  const quarterMessagesPerSecond = (LOAD_FRACTION * rawMax) / setup.fanout;
  const redisMax = await runRawRedis(setup, 'max', RAW_REDIS_IN_FLIGHT, settings, redisPid);
  const redisBefore = await runRawRedis(setup, 'rate', quarterMessagesPerSecond, settings, redisPid);
  const oneNode = await runNodesPhase(setup, 1, rawMax, settings, redis, redisPid);
  const twoNodes = await runNodesPhase(setup, 2, rawMax, settings, redis, redisPid);
  // Smoke runs skip the second raw runs to stay short.
  const redisAfter = settings.smoke ? undefined : await runRawRedis(setup, 'rate', quarterMessagesPerSecond, settings, redisPid);
  const rawAfter = settings.smoke ? undefined : await runRawWsPhase(setup, rawMax, settings, redis);

  const seconds = (2 * settings.stepMs) / 1000;
  const insertsBefore = await runInsertBaseline(setup, Math.max(1, Math.round(seconds)));
  const stored = await runStored(setup, settings, seconds, redisPid);
  const insertsAfter = settings.smoke ? undefined : await runInsertBaseline(setup, Math.max(1, Math.round(seconds)));
  return { rawBefore, rawAfter, oneNode, twoNodes, redisMax, redisBefore, redisAfter, insertsBefore, insertsAfter, stored };
}

/** Returns Redis CPU per message passed to a subscribing node. Every node of the phase subscribes to every room's stream. */
function redisCpuUsPerDelivery(phase: WsPhase, nodeCount: number): number {
  return (phase.quarter.redisCpuMs * 1000) / Math.max(1, phase.quarter.step.messagesSent * nodeCount);
}

function addRows(repeats: readonly Repeat[], settings: RunSettings, fanout: number): void {
  const both = <T>(before: T, after: T | undefined, pick: (value: T) => number) => mean([pick(before), ...(after === undefined ? [] : [pick(after)])]);
  const rawWs = (pick: (phase: WsPhase) => number) => repeats.map((entry) => both(entry.rawBefore, entry.rawAfter, pick));
  const judge = (met: boolean) => (settings.smoke ? undefined : met);
  const row = (figure: string, unit: string, goal: string, raw: number[], chatterbox: number[], met: (ratio: number) => boolean | undefined, note?: string) => {
    const ratios = chatterbox.map((value, index) => value / raw[index]!);
    addRow({ figure, unit, goal, raw, chatterbox, ratios, met: met(median(ratios)), note });
  };
  const notJudged = () => undefined;

  const rawMax = repeats.map((entry) => entry.rawBefore.max ?? Number.NaN);
  for (const [label, pick] of [
    ['1 node', (entry: Repeat) => entry.oneNode],
    ['2 nodes, members split', (entry: Repeat) => entry.twoNodes],
  ] as const) {
    row(`cluster max sustained deliveries/s, ${label}, fan-out ${fanout}`, 'deliveries/s', 'none set', rawMax, repeats.map((entry) => pick(entry).max ?? Number.NaN), notJudged, `messages/s are deliveries/s divided by ${fanout}`);
    for (const quantile of ['p50Ms', 'p95Ms', 'p99Ms'] as const) {
      row(
        `cluster ${quantile.slice(0, 3)} latency at 25% of raw max, ${label}`,
        'ms',
        'none set',
        rawWs((phase) => phase.quarter.step.latency[quantile]),
        repeats.map((entry) => pick(entry).quarter.step.latency[quantile]),
        notJudged,
        quantile === 'p95Ms' ? sustainedNote(repeats.map((entry) => pick(entry).quarter.step)) : undefined,
      );
    }
  }

  const rawP95 = rawWs((phase) => phase.quarter.step.latency.p95Ms);
  const crossP95 = repeats.map((entry) => entry.twoNodes.quarter.step.remoteLatency?.p95Ms ?? Number.NaN);
  const added = crossP95.map((value, index) => value - rawP95[index]!);
  row(
    'cluster cross-node p95 latency at 25% of raw max, 2 nodes',
    'ms',
    `<= raw p95 + ${MAX_ADDED_P95_MS} ms`,
    rawP95,
    crossP95,
    () => judge(median(added) <= MAX_ADDED_P95_MS),
    `added over raw p95: ${added.map(formatNumber).join(' / ')} ms (median ${formatNumber(median(added))})`,
  );

  const rawRedisCpu = repeats.map((entry) => both(entry.redisBefore, entry.redisAfter, (result) => result.redisCpuUsPerDelivery));
  row(
    'cluster Redis CPU per delivered message at 25% of raw max, 2 nodes',
    'us',
    `<= ${MAX_REDIS_CPU_RATIO}x raw Redis loop`,
    rawRedisCpu,
    repeats.map((entry) => redisCpuUsPerDelivery(entry.twoNodes, 2)),
    (ratio) => judge(ratio <= MAX_REDIS_CPU_RATIO),
    `raw loop at the same messages/s with 2 subscribers; ChatterBox Redis commands per message: ${repeats
      .map((entry) => formatNumber(entry.twoNodes.quarter.redisCommands / Math.max(1, entry.twoNodes.quarter.step.messagesSent)))
      .join(' / ')} (other clients' commands included)`,
  );
  row(
    'cluster Redis CPU per delivered message at 25% of raw max, 1 node',
    'us',
    'none set',
    rawRedisCpu,
    repeats.map((entry) => redisCpuUsPerDelivery(entry.oneNode, 1)),
    notJudged,
  );
  row(
    'cluster Redis deliveries/s: raw loop maximum against 2 nodes at their maximum',
    'deliveries/s',
    'none set',
    repeats.map((entry) => entry.redisMax.deliveriesPerSecond),
    repeats.map((entry) => (2 * (entry.twoNodes.max ?? Number.NaN)) / fanout),
    notJudged,
    `raw loop with ${RAW_REDIS_IN_FLIGHT} PUBLISH in flight and 2 subscribers; ChatterBox passes each message through Redis to both nodes`,
  );
  const baseline = hasPgbench() ? 'pgbench' : 'pg loop';
  const inserts = repeats.map((entry) => both(entry.insertsBefore, entry.insertsAfter, (value) => value));
  for (const [label, pick] of [
    ['one channel', (entry: Repeat) => entry.stored.single],
    [`${STORE_CHANNELS} channels`, (entry: Repeat) => entry.stored.spread],
  ] as const) {
    row(
      `cluster stored messages/s on PostgreSQL, ${label}, acked after commit`,
      'posts/s',
      `>= ${MIN_STORED_RATIO}x ${baseline} single-row inserts`,
      inserts,
      repeats.map((entry) => pick(entry).postsPerSecond),
      (ratio) => judge(ratio >= MIN_STORED_RATIO),
      `${STORE_CONCURRENCY} posts in flight on one node against ${STORE_CONCURRENCY} ${hasPgbench() ? 'pgbench clients' : 'pg connections'}; node CPU per post ${repeats
        .map((entry) => formatNumber(pick(entry).nodeCpuUsPerPost))
        .join(' / ')} us`,
    );
  }
}

/** Describes the server that is not reachable, or returns undefined when both are. */
async function findMissingServers(): Promise<string | undefined> {
  const databaseUrl = process.env.BENCH_DATABASE_URL || DEFAULT_DATABASE_URL;
  const redisUrl = process.env.BENCH_REDIS_URL || DEFAULT_REDIS_URL;
  try {
    await runSql(databaseUrl, 'SELECT 1');
  } catch (error) {
    return `PostgreSQL at ${databaseUrl} is not reachable (${error instanceof Error ? error.message : String(error)})`;
  }
  if (!(await isRedisReachable(redisUrl))) return `Redis at ${redisUrl} did not answer PING within a second`;
  return undefined;
}

function sustainedNote(steps: readonly StepResult[]): string | undefined {
  const failed = steps.filter((step) => !step.sustained);
  if (failed.length === 0) return undefined;
  return `not sustained in ${failed.length} of ${steps.length} repeats (${failed.map((step) => step.reason).join('; ')})`;
}

/**
 * Runs the cluster scenario and adds its rows to the results table. Where
 * PostgreSQL or Redis is not reachable, it throws when `required` and else
 * prints why it skips, so `all` still runs on a machine without them.
 */
export async function runCluster(settings: RunSettings, required: boolean): Promise<void> {
  const missing = await findMissingServers();
  if (missing !== undefined) {
    if (required) throw new Error(`The cluster scenario needs ${missing}; set BENCH_DATABASE_URL or BENCH_REDIS_URL to reachable servers`);
    console.log(`Cluster scenario skipped: ${missing}`);
    return;
  }
  const fanout = settings.smoke ? 4 : 20;
  const rooms = settings.smoke ? 1 : 5;
  const setup = await buildSetup(fanout, rooms);
  const redis = openRedis(setup.redisUrl);
  try {
    const redisPid = await readRedisPid(redis);
    const repeats: Repeat[] = [];
    for (let repeat = 0; repeat < settings.repeats; repeat += 1) {
      progress(`cluster fan-out ${fanout}, repeat ${repeat + 1}/${settings.repeats}`);
      repeats.push(await runRepeat(setup, settings, redis, redisPid));
    }
    addRows(repeats, settings, fanout);
  } finally {
    await removeSetup(setup, redis);
    redis.disconnect();
  }
}
