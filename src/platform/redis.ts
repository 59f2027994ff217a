import { Redis } from 'ioredis';
import type { Logger } from './logger.js';

/** Shortest time between two log lines about the same repeated failure. */
const REPEAT_LOG_INTERVAL_MS = 30_000;

/**
 * Lets the first of a run of repeated failures through at once, then at most
 * one per interval, and counts the ones held back. A Redis that stays down
 * fails every reconnect attempt, and one line per attempt would flood the log.
 */
export class RepeatThrottle {
  readonly #intervalMs: number;
  #lastAt = Number.NEGATIVE_INFINITY;
  #skipped = 0;

  constructor(intervalMs = REPEAT_LOG_INTERVAL_MS) {
    this.#intervalMs = intervalMs;
  }

  /** Returns how many calls were held back since the last one let through, or undefined to hold this one back too. */
  take(now = Date.now()): number | undefined {
    if (now - this.#lastAt < this.#intervalMs) {
      this.#skipped += 1;
      return undefined;
    }
    const skipped = this.#skipped;
    this.#lastAt = now;
    this.#skipped = 0;
    return skipped;
  }

  /** Starts a new run, so the next failure is logged at once, and returns the count held back. */
  reset(): number {
    const skipped = this.#skipped;
    this.#lastAt = Number.NEGATIVE_INFINITY;
    this.#skipped = 0;
    return skipped;
  }
}

const closing = new WeakSet<Redis>();

/**
 * Opens an ioredis connection that logs its connects, disconnects, retries
 * and errors (component 'redis'), and reconnects with ioredis's default
 * backoff: 50 ms more per attempt, at most 2 s apart, for as long as it runs.
 * Commands issued while it is not connected fail at once instead of
 * queueing, so callers choose what to do without Redis. The URL is never
 * logged, because it may hold a password.
 *
 * With `autoPipelining`, ioredis sends the commands issued in one event-loop
 * turn as one write, and Redis reads them with one read and replies with one
 * write. System calls made up most of Redis's CPU per small command
 * (docs/benchmarks.md, section Cluster). ioredis keeps one such pipeline in
 * flight per connection, so commands issued meanwhile wait and go out
 * together as the next one.
 * Subscriber connections go without it: they send few commands, and
 * ioredis 5 would pipeline SSUBSCRIBE, although it leaves SUBSCRIBE out.
 */
export function createRedisClient(url: string, connectionName: string, logger: Logger, options: { autoPipelining?: boolean } = {}): Redis {
  const log = logger.child({ component: 'redis', connection: connectionName });
  const client = new Redis(url, {
    connectionName,
    enableOfflineQueue: false,
    enableAutoPipelining: options.autoPipelining ?? false,
    // Each subscriber sends its own subscriptions again on 'ready' and handles their failures.
    // ioredis's own resubscription would send them twice, and with the offline queue off its
    // unhandled rejection, when the link drops again at once, would end the process.
    autoResubscribe: false,
  });

  const errors = new RepeatThrottle();
  const retries = new RepeatThrottle();
  let downSince: number | undefined = Date.now();

  client.on('ready', () => {
    const errorsNotLogged = errors.reset();
    const retriesNotLogged = retries.reset();
    const downMs = downSince === undefined ? undefined : Date.now() - downSince;
    downSince = undefined;
    log.info({ downMs, errorsNotLogged, retriesNotLogged }, 'redis connection ready');
  });
  client.on('close', () => {
    if (closing.has(client)) return;
    if (downSince === undefined) {
      downSince = Date.now();
      log.warn('redis connection lost');
    }
  });
  client.on('reconnecting', (delayMs: number) => {
    const skipped = retries.take();
    if (skipped !== undefined) log.info({ delayMs, retriesNotLogged: skipped }, 'reconnecting to redis');
  });
  client.on('error', (error: Error) => {
    if (closing.has(client)) return;
    const skipped = errors.take();
    if (skipped !== undefined) log.error({ err: error, errorsNotLogged: skipped }, 'redis connection failed');
  });
  client.on('end', () => log.info('redis connection closed'));
  return client;
}

/** Closes a connection from createRedisClient: gracefully when connected, at once otherwise. */
export async function closeRedisClient(client: Redis): Promise<void> {
  closing.add(client);
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // The connection dropped during QUIT; disconnect below stops any reconnect attempt.
    }
  }
  client.disconnect();
}
