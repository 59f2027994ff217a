import type { Redis } from 'ioredis';
import type { Config } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { SignalHub } from '../realtime/signals.js';
import type { Storage } from '../storage/database.js';
import { PresenceFanout } from './fanout.js';
import { MemoryPresence } from './memory-presence.js';
import { storagePresenceStore, type Presence } from './presence.js';
import { RedisPresence } from './redis-presence.js';
import { PresenceSession, type ConnectionHandle } from './session.js';
import { TypingTracker } from './typing.js';

export interface PresenceServiceOptions {
  config: Config;
  storage: Storage;
  logger: Logger;
  signals: SignalHub;
  /** The event bus's command connection; presence then lives in Redis. */
  redisClient?: Redis;
  now?: () => number;
}

/** Presence, its fan-out to watching sockets and typing indicators of one node. */
export class PresenceService {
  readonly presence: Presence;
  readonly fanout: PresenceFanout;
  readonly typing: TypingTracker;
  readonly #config: Config;
  readonly #storage: Storage;
  readonly #logger: Logger;

  constructor(options: PresenceServiceOptions) {
    const { config, storage, logger } = options;
    const now = options.now ?? Date.now;
    const store = storagePresenceStore(storage.db, now);
    this.presence =
      options.redisClient === undefined
        ? new MemoryPresence(config.presence, store, logger, now)
        : new RedisPresence({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix, client: options.redisClient, config: config.presence, store, logger, now });
    this.fanout = new PresenceFanout(this.presence, config.presence.batchIntervalMs);
    this.typing = new TypingTracker(options.signals, config.presence, now);
    this.#config = config;
    this.#storage = storage;
    this.#logger = logger.child({ component: 'presence' });
  }

  /** Starts the presence side of a socket that just became ready. */
  openSession(handle: ConnectionHandle): PresenceSession {
    return new PresenceSession(
      {
        db: this.#storage.db,
        presence: this.presence,
        fanout: this.fanout,
        typing: this.typing,
        maxWatchedUsers: this.#config.presence.maxWatchedUsers,
        logger: this.#logger,
      },
      handle,
    );
  }

  async close(): Promise<void> {
    this.fanout.stop();
    this.typing.close();
    await this.presence.close();
  }
}
