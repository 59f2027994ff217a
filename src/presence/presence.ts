import type { Db } from '../storage/database.js';
import { loadAvailability, saveLastActive, type StoredAvailability } from './queries.js';
import type { DeliveryState, PresenceView } from './status.js';

export type PresenceListener = (views: PresenceView[]) => void;

/**
 * Tracks who is online, away, in do-not-disturb or offline. The gateway
 * reports each socket's open, close and activity; actions report changed
 * settings. Every status change goes to the onChange listeners of every node,
 * and the fan-out (fanout.ts) passes it on to the sockets that watch that user.
 *
 * memory-presence.ts keeps the state in this process, for one node.
 * redis-presence.ts keeps it in Redis, for many nodes behind one load balancer.
 */
export interface Presence {
  /** A socket of the user became ready on this node; opening counts as activity. */
  connect(userId: string, connectionId: string): void;
  /** A socket of the user closed. The last one starts the offline grace period. */
  disconnect(userId: string, connectionId: string): void;
  /** The user did something on the device of this socket. */
  activity(userId: string, connectionId: string): void;
  /** Reads the user's settings from storage again after they changed (manual status, do-not-disturb, time zone). */
  reload(userId: string): Promise<void>;
  /** Returns the presence of each given user that exists; users never seen are offline with their stored last activity. */
  get(userIds: readonly string[]): Promise<Map<string, PresenceView>>;
  /** Returns, for the notification pipeline, who has an open socket and who was active recently. */
  deliveryStates(userIds: readonly string[]): Promise<Map<string, DeliveryState>>;
  onChange(listener: PresenceListener): void;
  /** Stores the last-activity times not yet written and stops every timer. */
  close(): Promise<void>;
}

/** The source of settings and the keeper of last-activity times: storage in the server, memory in the benchmark. */
export interface PresenceStore {
  load(userIds: readonly string[]): Promise<Map<string, StoredAvailability>>;
  saveLastActive(entries: ReadonlyArray<{ userId: string; at: number }>): Promise<void>;
}

/** Creates the store of a server, over the presence_settings and users tables. */
export function storagePresenceStore(db: Db, now: () => number = Date.now): PresenceStore {
  return {
    load: (userIds) => loadAvailability(db, userIds),
    saveLastActive: (entries) => saveLastActive(db, entries, now()),
  };
}

/** Interval at which last-activity times of active users are written to storage. */
export const LAST_ACTIVE_FLUSH_MS = 60_000;
