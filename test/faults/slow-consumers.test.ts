import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postMessageWithRetry } from '../../src/client/post.js';
import { RealtimeClient, type WebSocketLike } from '../../src/client/realtime.js';
import { DeliveryChecker } from '../helpers/delivery-checker.js';
import { buildUser, type TestUser } from '../helpers/factories.js';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { waitUntil } from '../helpers/realtime.js';
import { deleteRedisKeys, TEST_REDIS_URL } from '../helpers/redis.js';
import { dropSchema, runSql, TEST_DATABASE_URL } from '../helpers/server.js';

/** Sizes of the run, for a shared 2-core machine. Every client is a member of every channel. */
const USERS = 50;
const NORMAL_SOCKETS_PER_USER = 3;
const CHANNELS = 4;
const POSTS_PER_SECOND = 10;
/**
 * Large messages fill a stalled socket sooner. Loopback TCP buffers 4 to 6 MB per stalled socket in
 * the kernel (measured on Linux with the default tcp_wmem and tcp_rmem) before the node's own queue grows at all.
 */
const TEXT_CHARS = 32_000;
const BASELINE_MS = 20_000;
/** Upper bound of the phase with stalled readers, which ends 3 s after the node dropped the last one. */
const STALLED_PHASE_MAX_MS = 90_000;
/** Stalled readers that read again as soon as the node drops them, to receive the close frame queued behind their backlog. */
const PROBES = 5;
const RSS_SAMPLE_INTERVAL_MS = 250;

/** Targets: memory bounded while readers stall, and latency of the readers that keep up not hurt by them. */
const MAX_RSS_GROWTH_BYTES = 64 * 1024 * 1024;
const MAX_LATENCY_P95_RATIO = 2;

/** The close code of a slow consumer (docs/realtime.md). */
const SLOW_CONSUMER_CLOSE = 4003;

interface StalledReader {
  name: string;
  realtime: RealtimeClient;
  /** The first socket, which stops reading when the test pauses it. Later sockets read normally. */
  first: WebSocket | undefined;
  connectionIds: string[];
  closes: number[];
  probe: boolean;
}

describe.runIf(TEST_DATABASE_URL !== undefined && TEST_REDIS_URL !== undefined)('slow consumers beside normal readers', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-slow-'));
  const schema = `cbtest_${randomBytes(8).toString('hex')}`;
  const redisPrefix = `cbtest:${randomBytes(8).toString('hex')}:`;
  /** The readers that keep up. */
  const checker = new DeliveryChecker();
  /** The readers that stall in phase 2. */
  const stalledChecker = new DeliveryChecker();
  const users: TestUser[] = [];
  const channelIds: string[] = [];
  const normal: Array<{ realtime: RealtimeClient; connectionIds: string[] }> = [];
  const stalled: StalledReader[] = [];
  const figures: Record<string, number> = {};
  /** Arrival time and milliseconds from commit to arrival of each message.posted at a normal reader, for the phase running now. */
  let latencies: Array<{ at: number; ms: number }> = [];
  let node: NodeProcess;

  beforeAll(async () => {
    await runSql(`CREATE SCHEMA ${schema}`);
    node = await startNodeProcess({
      CHATTERBOX_DATA_DIR: dataDir,
      DATABASE_URL: TEST_DATABASE_URL as string,
      CHATTERBOX_DATABASE_SCHEMA: schema,
      REDIS_URL: TEST_REDIS_URL as string,
      CHATTERBOX_REDIS_KEY_PREFIX: redisPrefix,
      CHATTERBOX_POST_LIMIT_PER_USER: '100000',
      CHATTERBOX_POST_LIMIT_PER_ADDRESS: '10000000',
      CHATTERBOX_REGISTER_LIMIT_PER_ADDRESS: '100000',
      // The buffer limits stay at their defaults (4 MiB a socket, 64 MiB a node). The heartbeat
      // would otherwise terminate a stalled socket after two intervals, which can come first.
      CHATTERBOX_WS_HEARTBEAT_MS: '300000',
    });

    const owner = await buildUser(node.url, 'owner');
    for (let i = 0; i < USERS; i += 1) users.push(await buildUser(node.url, 'reader'));
    const team = await owner.api.post<{ id: string }>('/api/teams', { name: 'Slow consumers' });
    for (const user of users) await owner.api.post(`/api/teams/${team.id}/members`, { user_id: user.id });
    for (let c = 0; c < CHANNELS; c += 1) {
      const channel = await owner.api.post<{ id: string }>(`/api/teams/${team.id}/channels`, { name: `slow-${c}`, private: false });
      await owner.api.post(`/api/conversations/${channel.id}/members`, { user_ids: users.map((user) => user.id) });
      channelIds.push(channel.id);
    }

    for (const user of users) {
      for (let k = 0; k < NORMAL_SOCKETS_PER_USER; k += 1) {
        const member = checker.addMember(`${user.username}#${k}`, channelIds, user.api);
        const connectionIds: string[] = [];
        const realtime = new RealtimeClient({
          connect: () => openSocket(user),
          onEvent: (event) => {
            if (event.event === 'message.posted') latencies.push({ at: Date.now(), ms: Date.now() - event.at });
            member.onEvent(event);
          },
          onResync: member.onResync,
          onReady: (ready) => void connectionIds.push(ready.connection_id),
          maxBackoffMs: 1000,
        });
        await realtime.start();
        normal.push({ realtime, connectionIds });
      }
    }
    for (const [index, user] of users.entries()) stalled.push(await connectStalledReader(user, index));
  }, 300_000);

  afterAll(async () => {
    for (const client of normal) client.realtime.stop();
    for (const reader of stalled) reader.realtime.stop();
    await node?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    await dropSchema(schema);
    await deleteRedisKeys(TEST_REDIS_URL as string, redisPrefix);
    console.log(`slow consumer figures: ${JSON.stringify(figures)}`);
  }, 60_000);

  function openSocket(user: TestUser): WebSocketLike {
    return new WebSocket(node.wsUrl, { headers: { authorization: `Bearer ${user.token}` } }) as unknown as WebSocketLike;
  }

  /** Opens a reader whose first socket reads until the test pauses it, which stops reading at the TCP level. */
  async function connectStalledReader(user: TestUser, index: number): Promise<StalledReader> {
    const name = `${user.username}#stalled`;
    const member = stalledChecker.addMember(name, channelIds, user.api);
    const reader: StalledReader = { name, realtime: undefined as unknown as RealtimeClient, first: undefined, connectionIds: [], closes: [], probe: index < PROBES };
    let current: WebSocket | undefined;
    reader.realtime = new RealtimeClient({
      connect: () => {
        current = openSocket(user) as unknown as WebSocket;
        return current as unknown as WebSocketLike;
      },
      onEvent: member.onEvent,
      onResync: member.onResync,
      onReady: (ready) => {
        reader.connectionIds.push(ready.connection_id);
        reader.first ??= current;
      },
      onClose: (code) => void reader.closes.push(code),
      // It reconnects only when the test calls start() again, so that catching up is measured apart.
      reconnect: false,
      // Its own pings would find the stalled connection dead and reconnect, which a stuck client does not do.
      heartbeatMs: 0,
      maxBackoffMs: 1000,
    });
    await reader.realtime.start();
    return reader;
  }

  /** Connection ids the node dropped as slow consumers, from its log, with the limit that dropped each. */
  const droppedConnections = new Map<string, string>();
  /** Log lines already read into droppedConnections. The log only grows, so each line is read once. */
  let logLinesRead = 0;

  function slowConsumerDrops(): Map<string, string> {
    for (; logLinesRead < node.logs.length; logLinesRead += 1) {
      const entry = node.logs[logLinesRead] as Record<string, unknown>;
      if (entry.msg === 'slow consumer dropped') droppedConnections.set(String(entry.connectionId), String(entry.reason));
    }
    return droppedConnections;
  }

  /**
   * Posts POSTS_PER_SECOND messages a second from random users into random channels until `done`
   * returns true, and reports each acknowledged message to the given checkers.
   */
  async function post(checkers: DeliveryChecker[], done: (elapsedMs: number) => boolean): Promise<{ failed: string[] }> {
    const text = 'slow readers must not hold the node back. '.repeat(Math.ceil(TEXT_CHARS / 42)).slice(0, TEXT_CHARS);
    const failed: string[] = [];
    const inFlight = new Set<Promise<void>>();
    const started = Date.now();
    let sent = 0;
    while (!done(Date.now() - started)) {
      const due = Math.floor(((Date.now() - started) / 1000) * POSTS_PER_SECOND);
      while (sent < due) {
        sent += 1;
        const author = users[Math.floor(Math.random() * users.length)] as TestUser;
        const conversationId = channelIds[Math.floor(Math.random() * channelIds.length)] as string;
        const posted = postMessageWithRetry<{ id: string; seq: number }>(author.api, conversationId, { text }, { maxAttempts: 20, attemptTimeoutMs: 10_000 }).then(
          (result) => {
            for (const target of checkers) target.acknowledged({ conversationId, id: result.message.id, seq: result.message.seq });
          },
          (error: unknown) => void failed.push(String(error)),
        );
        const tracked = posted.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
      }
      await sleep(10);
    }
    await Promise.all(inFlight);
    return { failed };
  }

  it('drops stalled readers under load', async () => {
    const rss: number[] = [readRssBytes(node)];
    const sampler = setInterval(() => rss.push(readRssBytes(node)), RSS_SAMPLE_INTERVAL_MS);
    try {
      // Phase 1: all 200 sockets read, for the baseline latency. The node writes the same bytes to
      // the same sockets in both phases, so the comparison shows what stalling costs, not what 50 more sockets cost.
      latencies = [];
      const baseline = await post([checker, stalledChecker], (elapsed) => elapsed >= BASELINE_MS);
      await checker.waitForAll(30_000);
      await stalledChecker.waitForAll(30_000);
      const baselineLatencies = latencies.map((sample) => sample.ms).sort((a, b) => a - b);
      figures.baselineTypicalP95Ms = medianOfSecondP95s(latencies);
      figures.rssBeforeMiB = toMiB(rss[0] as number);
      figures.baselineDeliveries = baselineLatencies.length;
      figures.baselineP50Ms = percentile(baselineLatencies, 0.5);
      figures.baselineP95Ms = percentile(baselineLatencies, 0.95);
      figures.rssMaxBaselineMiB = toMiB(Math.max(...rss));
      const stalledPhaseFirstSample = rss.length;

      // Phase 2: the same load while 50 sockets stop reading, until the node dropped every one. A paused
      // socket stops reading from the kernel, so the node's writes fill the TCP buffers, then its own queue.
      for (const reader of stalled) reader.first?.pause();
      latencies = [];
      let allDroppedAt: number | undefined;
      const resumed = new Set<StalledReader>();
      const stalledPhaseStarted = Date.now();
      const loaded = await post([checker, stalledChecker], (elapsed) => {
        const drops = slowConsumerDrops();
        for (const reader of stalled) {
          // A probe reads again at once, so the close frame behind its backlog reaches it before the node gives up on the closing handshake (5 s).
          if (reader.probe && !resumed.has(reader) && drops.has(reader.connectionIds[0] as string)) {
            resumed.add(reader);
            reader.first?.resume();
          }
        }
        if (allDroppedAt === undefined && stalled.every((reader) => drops.has(reader.connectionIds[0] as string))) allDroppedAt = Date.now();
        return elapsed >= STALLED_PHASE_MAX_MS || (allDroppedAt !== undefined && Date.now() - allDroppedAt >= 3000);
      });
      const loadedLatencies = latencies.map((sample) => sample.ms).sort((a, b) => a - b);
      figures.loadedTypicalP95Ms = medianOfSecondP95s(latencies);
      const drops = slowConsumerDrops();
      figures.stalledPhaseMs = Date.now() - stalledPhaseStarted;
      figures.lastDropAfterMs = (allDroppedAt ?? Date.now()) - stalledPhaseStarted;
      figures.droppedBySocketLimit = [...drops.values()].filter((reason) => reason === 'socket limit').length;
      figures.droppedByNodeBudget = [...drops.values()].filter((reason) => reason === 'node budget').length;
      figures.loadedDeliveries = loadedLatencies.length;
      figures.loadedP50Ms = percentile(loadedLatencies, 0.5);
      figures.loadedP95Ms = percentile(loadedLatencies, 0.95);
      figures.rssMaxStalledMiB = toMiB(Math.max(...rss.slice(stalledPhaseFirstSample)));
      const catchUpFirstSample = rss.length;

      const stalledGrowth = Math.max(...rss) - (rss[0] as number);
      figures.rssGrowthMiB = toMiB(stalledGrowth);

      // Phase 3: every stalled reader reads its backlog, finds its connection closed, reconnects and catches up.
      for (const reader of stalled) reader.first?.resume();
      await waitUntil(() => stalled.every((reader) => reader.closes.length > 0), 30_000, 'every stalled reader to see its close');
      const catchUpStarted = Date.now();
      await Promise.all(stalled.map((reader) => reader.realtime.start()));
      await checker.waitForAll(60_000);
      await stalledChecker.waitForAll(60_000);
      figures.catchUpMs = Date.now() - catchUpStarted;
      figures.rssMaxCatchUpMiB = toMiB(Math.max(...rss.slice(catchUpFirstSample)));
      figures.resyncs = checker.resyncs + stalledChecker.resyncs;

      expect(baseline.failed).toEqual([]);
      expect(loaded.failed).toEqual([]);
      expect(allDroppedAt, 'every stalled reader dropped within the phase').toBeDefined();
      // Only the stalled sockets were dropped, each once; the normal readers never reconnected.
      expect(new Set(drops.keys())).toEqual(new Set(stalled.map((reader) => reader.connectionIds[0])));
      for (const client of normal) expect(client.connectionIds).toHaveLength(1);
      // A reader that reads its backlog within the grace period receives the slow consumer close code.
      for (const reader of stalled.filter((candidate) => candidate.probe)) expect(reader.closes[0], reader.name).toBe(SLOW_CONSUMER_CLOSE);
      for (const reader of stalled) expect(reader.realtime.duplicates, reader.name).toBe(0);
      expect(stalledGrowth).toBeLessThanOrEqual(MAX_RSS_GROWTH_BYTES);
      expect(figures.loadedTypicalP95Ms).toBeLessThanOrEqual(MAX_LATENCY_P95_RATIO * figures.baselineTypicalP95Ms);
      checker.verify();
      stalledChecker.verify();
    } finally {
      clearInterval(sampler);
    }
  }, 300_000);
});

/**
 * Returns the median over the phase's seconds of each second's p95 latency. Other jobs on a shared
 * machine stall every process now and then, and a few stalled seconds decide the p95 of a whole
 * phase, but not the p95 of a typical second.
 */
function medianOfSecondP95s(samples: Array<{ at: number; ms: number }>): number {
  const bySecond = new Map<number, number[]>();
  for (const sample of samples) {
    const second = Math.floor(sample.at / 1000);
    const values = bySecond.get(second) ?? [];
    values.push(sample.ms);
    bySecond.set(second, values);
  }
  const p95s = [...bySecond.values()].map((values) => percentile(values.sort((a, b) => a - b), 0.95)).sort((a, b) => a - b);
  return percentile(p95s, 0.5);
}

/** Resident set size of the node process, read from /proc as any outside monitor would. */
function readRssBytes(node: NodeProcess): number {
  const status = fs.readFileSync(`/proc/${node.child.pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return Number(kib) * 1024;
}

function toMiB(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] as number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
