import type { PresenceConfig } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import { LAST_ACTIVE_FLUSH_MS, type Presence, type PresenceListener, type PresenceStore } from './presence.js';
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

interface UserState {
  userId: string;
  connections: Set<string>;
  lastActiveAt: number | null;
  settings: AvailabilitySettings;
  /** False until the stored settings are read; no status is announced before. */
  loaded: boolean;
  /** The status last announced. */
  status: PresenceStatus;
  since: number;
  /** Time the last socket closed; the status is kept until the grace period after it ends. */
  lastDisconnectAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
}

/**
 * Presence for one node: the state of every user with a socket here lives in
 * this process. A user without sockets is dropped from memory once offline,
 * and their last activity is written to storage then.
 */
export class MemoryPresence implements Presence {
  readonly #config: PresenceConfig;
  readonly #store: PresenceStore;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #users = new Map<string, UserState>();
  readonly #listeners: PresenceListener[] = [];
  /** Last-activity times not yet written to storage. */
  readonly #unsaved = new Map<string, number>();
  readonly #flushTimer: NodeJS.Timeout;

  constructor(config: PresenceConfig, store: PresenceStore, logger: Logger, now: () => number = Date.now) {
    this.#config = config;
    this.#store = store;
    this.#log = logger.child({ component: 'presence' });
    this.#now = now;
    this.#flushTimer = setInterval(() => void this.#flushLastActive(), LAST_ACTIVE_FLUSH_MS);
    this.#flushTimer.unref();
  }

  connect(userId: string, connectionId: string): void {
    const now = this.#now();
    let state = this.#users.get(userId);
    if (state === undefined) {
      state = {
        userId,
        connections: new Set(),
        lastActiveAt: null,
        settings: DEFAULT_SETTINGS,
        loaded: false,
        status: 'offline',
        since: now,
        lastDisconnectAt: undefined,
        timer: undefined,
        timerAt: Number.POSITIVE_INFINITY,
      };
      this.#users.set(userId, state);
      void this.#load(state);
    }
    state.connections.add(connectionId);
    state.lastDisconnectAt = undefined;
    this.#touch(state, now);
    this.#evaluate(state);
  }

  disconnect(userId: string, connectionId: string): void {
    const state = this.#users.get(userId);
    if (state === undefined || !state.connections.delete(connectionId)) return;
    if (state.connections.size === 0) state.lastDisconnectAt = this.#now();
    this.#evaluate(state);
  }

  activity(userId: string, connectionId: string): void {
    const state = this.#users.get(userId);
    if (state === undefined || !state.connections.has(connectionId)) return;
    this.#touch(state, this.#now());
    // Only an away user can change status through activity; for the others the idle check is already scheduled.
    if (state.status === 'away') this.#evaluate(state);
  }

  async reload(userId: string): Promise<void> {
    const state = this.#users.get(userId);
    if (state !== undefined) await this.#load(state);
  }

  async get(userIds: readonly string[]): Promise<Map<string, PresenceView>> {
    const views = new Map<string, PresenceView>();
    const unknown: string[] = [];
    for (const userId of userIds) {
      const state = this.#users.get(userId);
      if (state?.loaded) views.set(userId, viewOf(state));
      else unknown.push(userId);
    }
    if (unknown.length === 0) return views;

    const stored = await this.#store.load(unknown);
    for (const [userId, availability] of stored) {
      const state = this.#users.get(userId);
      if (state?.loaded) {
        views.set(userId, viewOf(state));
        continue;
      }
      const lastActiveAt = maxOf(availability.lastActiveAt, this.#unsaved.get(userId) ?? null);
      views.set(userId, { user_id: userId, status: 'offline', since: lastActiveAt ?? 0, last_active_at: lastActiveAt, dnd_until: null });
    }
    return views;
  }

  async deliveryStates(userIds: readonly string[]): Promise<Map<string, DeliveryState>> {
    const now = this.#now();
    const states = new Map<string, DeliveryState>();
    for (const userId of userIds) {
      const state = this.#users.get(userId);
      states.set(userId, deliveryStateOf(state?.connections.size ?? 0, state?.lastActiveAt ?? null, now, this.#config.idleTimeoutMs));
    }
    return states;
  }

  onChange(listener: PresenceListener): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.#flushTimer);
    for (const state of this.#users.values()) clearTimeout(state.timer);
    this.#users.clear();
    this.#listeners.length = 0;
    await this.#flushLastActive();
  }

  async #load(state: UserState): Promise<void> {
    try {
      const stored = (await this.#store.load([state.userId])).get(state.userId);
      if (this.#users.get(state.userId) !== state) return;
      state.settings = stored?.settings ?? DEFAULT_SETTINGS;
      state.lastActiveAt = maxOf(state.lastActiveAt, stored?.lastActiveAt ?? null);
    } catch (error) {
      this.#log.error({ err: error, userId: state.userId }, 'reading presence settings failed; using the defaults');
    }
    state.loaded = true;
    this.#evaluate(state);
  }

  #touch(state: UserState, now: number): void {
    state.lastActiveAt = now;
    this.#unsaved.set(state.userId, now);
  }

  /** Decides the status now, announces a change, and schedules the next check. */
  #evaluate(state: UserState): void {
    if (!state.loaded) return;
    const now = this.#now();
    const graceEnds = state.lastDisconnectAt === undefined ? undefined : state.lastDisconnectAt + this.#config.offlineGraceMs;
    const inGrace = graceEnds !== undefined && now < graceEnds;
    const input = { connected: state.connections.size > 0 || inGrace, lastActiveAt: state.lastActiveAt, settings: state.settings };
    const status = computeStatus(input, now, this.#config.idleTimeoutMs);

    if (status !== state.status) {
      state.status = status;
      state.since = now;
      this.#announce([viewOf(state)]);
    }
    if (status === 'offline') {
      this.#forget(state);
      return;
    }
    const next = Math.min(nextStatusCheck(input, now, this.#config.idleTimeoutMs) ?? Number.POSITIVE_INFINITY, inGrace ? graceEnds : Number.POSITIVE_INFINITY);
    this.#schedule(state, next);
  }

  /** Sets the check timer, keeping an earlier one: a check that finds nothing due schedules the next itself. */
  #schedule(state: UserState, at: number): void {
    if (at === Number.POSITIVE_INFINITY) return;
    if (state.timer !== undefined && state.timerAt <= at && state.timerAt > this.#now()) return;
    clearTimeout(state.timer);
    state.timerAt = at;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      state.timerAt = Number.POSITIVE_INFINITY;
      this.#evaluate(state);
    }, Math.max(0, at - this.#now()) + 5);
    state.timer.unref();
  }

  #forget(state: UserState): void {
    clearTimeout(state.timer);
    this.#users.delete(state.userId);
    const at = this.#unsaved.get(state.userId);
    if (at === undefined) return;
    this.#unsaved.delete(state.userId);
    this.#store.saveLastActive([{ userId: state.userId, at }]).catch((error: unknown) => {
      this.#log.error({ err: error, userId: state.userId }, 'storing the last activity failed');
    });
  }

  #announce(views: PresenceView[]): void {
    for (const listener of this.#listeners) listener(views);
  }

  async #flushLastActive(): Promise<void> {
    if (this.#unsaved.size === 0) return;
    const entries = [...this.#unsaved].map(([userId, at]) => ({ userId, at }));
    this.#unsaved.clear();
    try {
      await this.#store.saveLastActive(entries);
    } catch (error) {
      this.#log.error({ err: error, users: entries.length }, 'storing last activity times failed');
    }
  }
}

function viewOf(state: UserState): PresenceView {
  return {
    user_id: state.userId,
    status: state.status,
    since: state.since,
    last_active_at: state.lastActiveAt,
    dnd_until: manualDndEnd(state.status, state.settings, state.since),
  };
}

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}
