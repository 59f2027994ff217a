import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { PresenceConfig } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import { closeRedisClient, createRedisClient, RepeatThrottle } from '../platform/redis.js';
import type { Presence, PresenceListener, PresenceStore } from './presence.js';
import {
  computeStatus,
  DEFAULT_SETTINGS,
  deliveryStateOf,
  manualDndEnd,
  nextStatusCheck,
  type AvailabilitySettings,
  type DeliveryState,
  type PresenceStatus,
  type PresenceView,
} from './status.js';

/** Interval at which a node renews its entry in the node list. */
const HEARTBEAT_MS = 5_000;
/** A node whose entry is older than this is taken as stopped, and its sockets no longer count. */
const NODE_TIMEOUT_MS = 20_000;
/** Time an offline user's hash is kept, so their status and last activity read back without storage. */
const OFFLINE_TTL_SECONDS = 24 * 3600;
/** Shortest interval between two activity writes of an away user. */
const URGENT_ACTIVITY_INTERVAL_MS = 250;
/** Attempts to write a status when other nodes keep changing the same user meanwhile. */
const MAX_EVALUATE_ATTEMPTS = 4;

// Each script keeps one user's hash consistent. The remove script takes the
// number of sockets to remove, or 0 to remove every socket of a stopped node. Field `v` counts changes, so
// a status decided from a read that another node changed since is not written.
const CONNECT_SCRIPT = `
redis.call('HINCRBY', KEYS[1], 'n:' .. ARGV[1], 1)
redis.call('HDEL', KEYS[1], 'gone')
if tonumber(ARGV[3]) > tonumber(redis.call('HGET', KEYS[1], 'active') or '0') then redis.call('HSET', KEYS[1], 'active', ARGV[3]) end
redis.call('HSET', KEYS[1], 'settings', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PERSIST', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[2])
return 1`;

const REMOVE_SCRIPT = `
local count = 0
if ARGV[4] ~= '0' then count = redis.call('HINCRBY', KEYS[1], 'n:' .. ARGV[1], -tonumber(ARGV[4])) end
if count <= 0 then
  redis.call('HDEL', KEYS[1], 'n:' .. ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[2])
end
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) == 'n:' then total = total + tonumber(fields[i + 1]) end
end
if total <= 0 then redis.call('HSET', KEYS[1], 'gone', ARGV[3]) end
redis.call('HINCRBY', KEYS[1], 'v', 1)
return total`;

const ACTIVITY_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[1], 'active') or '0') then
  redis.call('HSET', KEYS[1], 'active', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'v', 1)
end
return 1`;

const SETTINGS_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'settings', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'v', 1)
return 1`;

// Writes the status only if nothing changed since the read (same v), stamps it
// with Redis's clock so every node agrees on the order, and publishes the view.
const STATUS_SCRIPT = `
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[1], 'status') == ARGV[2] then return 0 end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'since', now)
if ARGV[2] == 'offline' then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
redis.call('PUBLISH', ARGV[4], ARGV[5] .. now .. ARGV[6])
return now`;

interface PresenceCommands {
  presenceConnect(userKey: string, nodeKey: string, nodeId: string, userId: string, now: number, settings: string): Promise<number>;
  presenceRemove(userKey: string, nodeKey: string, nodeId: string, userId: string, now: number, count: number): Promise<number>;
  presenceActivity(userKey: string, now: number): Promise<number>;
  presenceSettings(userKey: string, settings: string): Promise<number>;
  presenceStatus(userKey: string, version: string, status: string, ttl: number, channel: string, head: string, tail: string): Promise<number>;
}

type CommandClient = Redis & PresenceCommands;

interface Hosted {
  connections: Set<string>;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
  /** Last activity seen on this node and the last one written to Redis. */
  localActiveAt: number;
  writtenActiveAt: number;
  /** Last activity written at once because the user showed as away. */
  urgentAt: number;
  /** Status from the latest change message, to know when activity must be written at once. */
  knownStatus: PresenceStatus | undefined;
}

interface UserSnapshot {
  version: string;
  connected: boolean;
  inGrace: boolean;
  graceEnds: number | undefined;
  liveSockets: number;
  lastActiveAt: number | null;
  settings: AvailabilitySettings;
  status: PresenceStatus | undefined;
  since: number | undefined;
}

export interface RedisPresenceOptions {
  url: string;
  keyPrefix: string;
  /** Command connection, shared with the event bus. */
  client: Redis;
  config: PresenceConfig;
  store: PresenceStore;
  logger: Logger;
  now?: () => number;
  /** Heartbeat interval and node timeout; tests shorten them. */
  heartbeatMs?: number;
  nodeTimeoutMs?: number;
}

/**
 * Presence shared by every node through Redis. Each user has one hash,
 * `<prefix>presence:u:<userId>`, with the socket count per node, the last
 * activity, the settings and the status last announced. Any node may decide
 * a status change, and the write succeeds only if the hash did not change
 * since it was read, so each change is announced once, on the channel
 * `<prefix>presence:changes` that every node subscribes to. A node's timers
 * cover the users with sockets on it, and the grace period of users whose
 * last socket closed on it.
 *
 * Nodes renew an entry in `<prefix>presence:nodes` every 5 s. Sockets of a
 * node whose entry is older than 20 s no longer count, and another node
 * removes them and lets their users go offline after the grace period.
 *
 * NOTE: a device's activity reaches Redis at most every tenth of the idle
 * time, and at least every 30 s. A user active only on another node's socket
 * may therefore show as away up to that much early, until that node writes.
 */
export class RedisPresence implements Presence {
  readonly nodeId = randomBytes(8).toString('hex');
  readonly #client: CommandClient;
  readonly #subscriber: Redis;
  readonly #config: PresenceConfig;
  readonly #store: PresenceStore;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #hosted = new Map<string, Hosted>();
  /** Users whose grace period this node watches although it hosts none of their sockets. */
  readonly #graceTimers = new Map<string, NodeJS.Timeout>();
  readonly #listeners: PresenceListener[] = [];
  /** Operations in flight per user, run one after another so a disconnect never overtakes its connect. */
  readonly #chains = new Map<string, Promise<void>>();
  readonly #errors = new RepeatThrottle();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #nodeTimeoutMs: number;
  /** Nodes whose entry ran out at the last heartbeat; sockets of any other node count, so a new node counts at once. */
  #stoppedNodes = new Set<string>();
  #closed = false;

  constructor(options: RedisPresenceOptions) {
    this.#config = options.config;
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger.child({ component: 'presence', nodeId: this.nodeId });
    this.#prefix = `${options.keyPrefix}presence:`;
    this.#channel = `${this.#prefix}changes`;

    this.#client = options.client as CommandClient;
    defineScripts(this.#client);
    this.#subscriber = createRedisClient(options.url, `chatterbox-presence-${this.nodeId}`, options.logger);
    this.#subscriber.on('message', (_channel: string, message: string) => this.#onMessage(message));
    this.#subscriber.on('ready', () => {
      this.#subscriber.subscribe(this.#channel).catch((error: unknown) => this.#fail(error, 'subscribing to presence changes failed'));
    });

    this.#nodeTimeoutMs = options.nodeTimeoutMs ?? NODE_TIMEOUT_MS;
    this.#heartbeat = setInterval(() => void this.#beat(), options.heartbeatMs ?? HEARTBEAT_MS);
    this.#heartbeat.unref();
    this.#client.on('ready', () => void this.#beat());
    void this.#beat();
  }

  connect(userId: string, connectionId: string): void {
    let hosted = this.#hosted.get(userId);
    if (hosted === undefined) {
      hosted = { connections: new Set(), timer: undefined, timerAt: Number.POSITIVE_INFINITY, localActiveAt: 0, writtenActiveAt: 0, urgentAt: 0, knownStatus: undefined };
      this.#hosted.set(userId, hosted);
    }
    hosted.connections.add(connectionId);
    const now = this.#now();
    hosted.localActiveAt = now;
    hosted.writtenActiveAt = now;
    this.#clearGrace(userId);
    this.#enqueue(userId, async () => {
      const settings = (await this.#store.load([userId])).get(userId)?.settings ?? DEFAULT_SETTINGS;
      await this.#client.presenceConnect(this.#userKey(userId), this.#nodeKey(), this.nodeId, userId, now, JSON.stringify(settings));
      await this.#evaluate(userId);
    });
  }

  disconnect(userId: string, connectionId: string): void {
    const hosted = this.#hosted.get(userId);
    if (hosted === undefined || !hosted.connections.delete(connectionId)) return;
    if (hosted.connections.size === 0) {
      clearTimeout(hosted.timer);
      this.#hosted.delete(userId);
    }
    const lastActiveAt = hosted.localActiveAt > hosted.writtenActiveAt ? hosted.localActiveAt : undefined;
    this.#enqueue(userId, async () => {
      if (lastActiveAt !== undefined) await this.#client.presenceActivity(this.#userKey(userId), lastActiveAt);
      await this.#client.presenceRemove(this.#userKey(userId), this.#nodeKey(), this.nodeId, userId, this.#now(), 1);
      await this.#evaluate(userId);
    });
  }

  activity(userId: string, connectionId: string): void {
    const hosted = this.#hosted.get(userId);
    if (hosted === undefined || !hosted.connections.has(connectionId)) return;
    const now = this.#now();
    hosted.localActiveAt = now;
    const writeIntervalMs = Math.min(this.#config.idleTimeoutMs / 10, 30_000);
    // An away user may come back with this activity, so it is written and decided at once (at most 4 times a second).
    const urgent = hosted.knownStatus === 'away' && now - hosted.urgentAt >= URGENT_ACTIVITY_INTERVAL_MS;
    if (!urgent && now - hosted.writtenActiveAt < writeIntervalMs) return;
    hosted.writtenActiveAt = now;
    if (urgent) hosted.urgentAt = now;
    this.#enqueue(userId, async () => {
      await this.#client.presenceActivity(this.#userKey(userId), now);
      if (urgent) await this.#evaluate(userId);
    });
  }

  async reload(userId: string): Promise<void> {
    const settings = (await this.#store.load([userId])).get(userId)?.settings ?? DEFAULT_SETTINGS;
    if ((await this.#client.presenceSettings(this.#userKey(userId), JSON.stringify(settings))) === 0) return;
    await this.#evaluate(userId);
    // Nodes with the user's sockets schedule their checks again, such as for a new do-not-disturb end.
    await this.#client.publish(this.#channel, JSON.stringify({ reload: userId }));
  }

  async get(userIds: readonly string[]): Promise<Map<string, PresenceView>> {
    const views = new Map<string, PresenceView>();
    const snapshots = await this.#readMany(userIds);
    const missing: string[] = [];
    userIds.forEach((userId, index) => {
      const snapshot = snapshots[index];
      if (snapshot?.status === undefined || snapshot.since === undefined) missing.push(userId);
      else views.set(userId, viewOf(userId, snapshot.status, snapshot.since, snapshot.lastActiveAt, snapshot.settings));
    });
    if (missing.length === 0) return views;

    for (const [userId, stored] of await this.#store.load(missing)) {
      views.set(userId, { user_id: userId, status: 'offline', since: stored.lastActiveAt ?? 0, last_active_at: stored.lastActiveAt, dnd_until: null });
    }
    return views;
  }

  async deliveryStates(userIds: readonly string[]): Promise<Map<string, DeliveryState>> {
    const now = this.#now();
    const snapshots = await this.#readMany(userIds);
    const states = new Map<string, DeliveryState>();
    userIds.forEach((userId, index) => {
      const snapshot = snapshots[index];
      states.set(userId, deliveryStateOf(snapshot?.liveSockets ?? 0, snapshot?.lastActiveAt ?? null, now, this.#config.idleTimeoutMs));
    });
    return states;
  }

  onChange(listener: PresenceListener): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    await Promise.allSettled([...this.#chains.values()]);
    for (const hosted of this.#hosted.values()) clearTimeout(hosted.timer);
    for (const timer of this.#graceTimers.values()) clearTimeout(timer);
    const now = this.#now();
    const leftover = [...this.#hosted.entries()];
    this.#hosted.clear();
    this.#listeners.length = 0;
    try {
      // Sockets still counted here are removed, so their users go offline after the grace period on the other nodes.
      for (const [userId, hosted] of leftover) {
        await this.#client.presenceRemove(this.#userKey(userId), this.#nodeKey(), this.nodeId, userId, now, hosted.connections.size);
      }
      await this.#client.zrem(`${this.#prefix}nodes`, this.nodeId);
      await this.#client.del(this.#nodeKey());
    } catch (error) {
      this.#log.warn({ err: error }, 'removing this node from redis presence failed; other nodes remove it after it times out');
    }
    await closeRedisClient(this.#subscriber);
  }

  #userKey(userId: string): string {
    return `${this.#prefix}u:${userId}`;
  }

  #nodeKey(nodeId = this.nodeId): string {
    return `${this.#prefix}node:${nodeId}`;
  }

  #enqueue(userId: string, work: () => Promise<void>): void {
    const previous = this.#chains.get(userId) ?? Promise.resolve();
    const next = previous.then(work).catch((error: unknown) => this.#fail(error, 'updating presence in redis failed', userId));
    this.#chains.set(userId, next);
    void next.finally(() => {
      if (this.#chains.get(userId) === next) this.#chains.delete(userId);
    });
  }

  #fail(error: unknown, message: string, userId?: string): void {
    const skipped = this.#errors.take();
    if (skipped !== undefined) this.#log.error({ err: error, userId, errorsNotLogged: skipped }, message);
  }

  async #readMany(userIds: readonly string[]): Promise<Array<UserSnapshot | undefined>> {
    if (userIds.length === 0) return [];
    const pipeline = this.#client.pipeline();
    for (const userId of userIds) pipeline.hgetall(this.#userKey(userId));
    const results = (await pipeline.exec()) ?? [];
    const now = this.#now();
    return results.map(([error, hash]) => (error === null ? this.#snapshotOf(hash as Record<string, string>, now) : undefined));
  }

  #snapshotOf(hash: Record<string, string>, now: number): UserSnapshot | undefined {
    if (hash.v === undefined) return undefined;
    let liveSockets = 0;
    for (const [field, value] of Object.entries(hash)) {
      if (field.startsWith('n:') && !this.#stoppedNodes.has(field.slice(2))) liveSockets += Number(value);
    }
    const graceEnds = hash.gone === undefined ? undefined : Number(hash.gone) + this.#config.offlineGraceMs;
    const inGrace = liveSockets === 0 && graceEnds !== undefined && now < graceEnds;
    return {
      version: hash.v,
      connected: liveSockets > 0 || inGrace,
      inGrace,
      graceEnds,
      liveSockets,
      lastActiveAt: hash.active === undefined ? null : Number(hash.active),
      settings: hash.settings === undefined ? DEFAULT_SETTINGS : (JSON.parse(hash.settings) as AvailabilitySettings),
      status: hash.status as PresenceStatus | undefined,
      since: hash.since === undefined ? undefined : Number(hash.since),
    };
  }

  /** Decides the user's status from Redis, writes and announces a change, and schedules this node's next check. */
  async #evaluate(userId: string): Promise<void> {
    for (let attempt = 1; attempt <= MAX_EVALUATE_ATTEMPTS && !this.#closed; attempt += 1) {
      const now = this.#now();
      const [snapshot] = await this.#readMany([userId]);
      if (snapshot === undefined) return;
      const input = { connected: snapshot.connected, lastActiveAt: snapshot.lastActiveAt, settings: snapshot.settings };
      const status = computeStatus(input, now, this.#config.idleTimeoutMs);
      if (status !== snapshot.status) {
        const view = viewOf(userId, status, 0, snapshot.lastActiveAt, snapshot.settings);
        const [head, tail] = splitAtSince(view);
        const written = await this.#client.presenceStatus(this.#userKey(userId), snapshot.version, status, OFFLINE_TTL_SECONDS, this.#channel, head, tail);
        if (written === -1) continue;
        if (written > 0 && status === 'offline' && snapshot.lastActiveAt !== null) {
          await this.#store.saveLastActive([{ userId, at: snapshot.lastActiveAt }]);
        }
      }
      this.#scheduleCheck(userId, input, snapshot, now);
      return;
    }
  }

  #scheduleCheck(userId: string, input: Parameters<typeof nextStatusCheck>[0], snapshot: UserSnapshot, now: number): void {
    const hosted = this.#hosted.get(userId);
    if (hosted === undefined) {
      if (snapshot.inGrace && snapshot.graceEnds !== undefined) this.#watchGrace(userId, snapshot.graceEnds);
      return;
    }
    const next = nextStatusCheck(input, now, this.#config.idleTimeoutMs);
    if (next === undefined) return;
    if (hosted.timer !== undefined && hosted.timerAt <= next && hosted.timerAt > now) return;
    clearTimeout(hosted.timer);
    hosted.timerAt = next;
    hosted.timer = setTimeout(() => {
      hosted.timer = undefined;
      hosted.timerAt = Number.POSITIVE_INFINITY;
      // Activity of this node not yet written would otherwise read as idle.
      const unwritten = hosted.localActiveAt > hosted.writtenActiveAt ? hosted.localActiveAt : undefined;
      if (unwritten !== undefined) hosted.writtenActiveAt = unwritten;
      this.#enqueue(userId, async () => {
        if (unwritten !== undefined) await this.#client.presenceActivity(this.#userKey(userId), unwritten);
        await this.#evaluate(userId);
      });
    }, Math.max(0, next - now) + 5);
    hosted.timer.unref();
  }

  #watchGrace(userId: string, graceEnds: number): void {
    this.#clearGrace(userId);
    const timer = setTimeout(() => {
      this.#graceTimers.delete(userId);
      this.#enqueue(userId, () => this.#evaluate(userId));
    }, Math.max(0, graceEnds - this.#now()) + 5);
    timer.unref();
    this.#graceTimers.set(userId, timer);
  }

  #clearGrace(userId: string): void {
    clearTimeout(this.#graceTimers.get(userId));
    this.#graceTimers.delete(userId);
  }

  #onMessage(message: string): void {
    let parsed: { views?: PresenceView[]; reload?: string };
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      this.#fail(new Error('invalid JSON'), 'invalid message on the presence channel; dropped');
      return;
    }
    if (parsed.reload !== undefined) {
      const userId = parsed.reload;
      if (this.#hosted.has(userId)) this.#enqueue(userId, () => this.#evaluate(userId));
      return;
    }
    if (!Array.isArray(parsed.views)) return;
    for (const view of parsed.views) {
      const hosted = this.#hosted.get(view.user_id);
      if (hosted !== undefined) hosted.knownStatus = view.status;
    }
    for (const listener of this.#listeners) listener(parsed.views);
  }

  /** Renews this node's entry, reads which nodes stopped renewing theirs, and removes those nodes' sockets. */
  async #beat(): Promise<void> {
    if (this.#closed || this.#client.status !== 'ready') return;
    const nodesKey = `${this.#prefix}nodes`;
    const now = this.#now();
    try {
      await this.#client.zadd(nodesKey, now, this.nodeId);
      const stopped = await this.#client.zrangebyscore(nodesKey, '-inf', `(${now - this.#nodeTimeoutMs}`);
      this.#stoppedNodes = new Set(stopped);
      for (const nodeId of stopped) await this.#removeNode(nodeId, now);
    } catch (error) {
      this.#fail(error, 'presence heartbeat failed');
    }
  }

  // TODO: a node that pauses longer than the node timeout (a long GC, a frozen VM) has its sockets
  // removed here and does not count them again when it resumes, so its users may show as offline.
  async #removeNode(nodeId: string, now: number): Promise<void> {
    const claimed = await this.#client.set(`${this.#prefix}cleanup:${nodeId}`, this.nodeId, 'PX', this.#nodeTimeoutMs, 'NX');
    if (claimed === null) return;
    const userIds = await this.#client.smembers(this.#nodeKey(nodeId));
    for (const userId of userIds) {
      await this.#client.presenceRemove(this.#userKey(userId), this.#nodeKey(nodeId), nodeId, userId, now, 0);
      this.#enqueue(userId, () => this.#evaluate(userId));
    }
    await this.#client.del(this.#nodeKey(nodeId));
    await this.#client.zrem(`${this.#prefix}nodes`, nodeId);
    this.#log.warn({ stoppedNodeId: nodeId, users: userIds.length }, 'removed the sockets of a node that stopped renewing its presence entry');
  }
}

function defineScripts(client: Redis): void {
  if ((client as unknown as Partial<PresenceCommands>).presenceConnect !== undefined) return;
  client.defineCommand('presenceConnect', { numberOfKeys: 2, lua: CONNECT_SCRIPT });
  client.defineCommand('presenceRemove', { numberOfKeys: 2, lua: REMOVE_SCRIPT });
  client.defineCommand('presenceActivity', { numberOfKeys: 1, lua: ACTIVITY_SCRIPT });
  client.defineCommand('presenceSettings', { numberOfKeys: 1, lua: SETTINGS_SCRIPT });
  client.defineCommand('presenceStatus', { numberOfKeys: 1, lua: STATUS_SCRIPT });
}

function viewOf(userId: string, status: PresenceStatus, since: number, lastActiveAt: number | null, settings: AvailabilitySettings): PresenceView {
  return { user_id: userId, status, since, last_active_at: lastActiveAt, dnd_until: manualDndEnd(status, settings, Date.now()) };
}

/** Splits the JSON change message at the `since` value, which the status script fills in with Redis's clock. */
function splitAtSince(view: PresenceView): [string, string] {
  const head = `{"views":[{"user_id":${JSON.stringify(view.user_id)},"status":"${view.status}","since":`;
  const tail = `,"last_active_at":${JSON.stringify(view.last_active_at)},"dnd_until":${JSON.stringify(view.dnd_until)}}]}`;
  return [head, tail];
}
