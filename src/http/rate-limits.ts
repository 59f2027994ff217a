import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../platform/config.js';
import { AppError } from '../platform/errors.js';
import type { Logger } from '../platform/logger.js';
import { RepeatThrottle } from '../platform/redis.js';

type LimiterName = 'loginPerAddress' | 'loginPerAccount' | 'postPerUser' | 'postPerAddress' | 'registerPerAddress';

/** A Redis connection and key prefix under which every node counts the same limits. */
export interface RateLimitStore {
  client: Redis;
  keyPrefix: string;
}

/**
 * Builds a fixed-window limiter of `points` per `durationSeconds`: in memory,
 * or in Redis under `<prefix>rl:<name>` with a memory limiter that counts on
 * this node while Redis is not connected.
 */
export function buildLimiter(name: string, points: number, durationSeconds: number, store?: RateLimitStore): RateLimiterAbstract {
  const memory = new RateLimiterMemory({ points, duration: durationSeconds, keyPrefix: name });
  if (store === undefined) return memory;
  return new RateLimiterRedis({
    storeClient: store.client,
    points,
    duration: durationSeconds,
    keyPrefix: `${store.keyPrefix}rl:${name}`,
    rejectIfRedisNotReady: true,
    insuranceLimiter: memory,
  });
}

/** A fixed-window limit: its size, its Redis key prefix, and the memory limiter that counts without Redis. */
interface Limit {
  points: number;
  durationSeconds: number;
  /** Prefix of its Redis counters, `<prefix>rl:<name>:`, the key format of rate-limiter-flexible's RateLimiterRedis. */
  redisKeyPrefix: string;
  memory: RateLimiterMemory;
}

/**
 * Fixed-window limits, kept in this process or, given a store, in Redis and
 * shared by every node. While Redis is not connected, or its commands fail,
 * each node counts in its own memory instead, so requests go on and limits
 * hold per node.
 *
 * In Redis each check runs INCR and EXPIRE NX on its counter, and PTTL too
 * when the limit is spent. The connection's auto-pipelining sends the commands
 * of all checks, and of concurrent requests, in one write. The counters are those of
 * rate-limiter-flexible's RateLimiterRedis, which runs a Lua script per check
 * instead, and the script cost Redis about twice the CPU of the three
 * commands (docs/benchmarks.md, section Cluster). The commands are not atomic,
 * but INCR counts atomically and EXPIRE NX only sets a missing timeout, so a
 * counter left without one by an interrupted check gets it at the next check.
 * EXPIRE NX needs Redis 7.0 or later, as do the bus's sharded channels.
 */
export class RateLimits {
  readonly #limits: Record<LimiterName, Limit>;
  readonly #client: Redis | undefined;
  readonly #log: Logger | undefined;
  readonly #failures = new RepeatThrottle();

  constructor(config: Config['rateLimits'], store?: RateLimitStore, logger?: Logger) {
    this.#client = store?.client;
    this.#log = logger?.child({ component: 'rate-limits' });
    const limit = (points: number, durationSeconds: number, name: string): Limit => ({
      points,
      durationSeconds,
      redisKeyPrefix: `${store?.keyPrefix ?? ''}rl:${name}:`,
      memory: new RateLimiterMemory({ points, duration: durationSeconds, keyPrefix: name }),
    });
    this.#limits = {
      loginPerAddress: limit(config.loginPerAddressPerMinute, 60, 'login-addr'),
      loginPerAccount: limit(config.loginPerAccountPerMinute, 60, 'login-acct'),
      postPerUser: limit(config.postsPerUserPerMinute, 60, 'post-user'),
      postPerAddress: limit(config.postsPerAddressPerMinute, 60, 'post-addr'),
      registerPerAddress: limit(config.registrationsPerAddressPerHour, 3600, 'register-addr'),
    };
  }

  /**
   * Takes one point from each named limiter, even from the others when one
   * rejects the request. Throws RATE_LIMITED with the longest wait if any is
   * spent.
   */
  async consume(checks: ReadonlyArray<readonly [LimiterName, string]>): Promise<void> {
    const waits = (await this.#consumeInRedis(checks)) ?? (await this.#consumeInMemory(checks));
    const retryAfterMs = Math.max(0, ...waits);
    if (retryAfterMs > 0) {
      const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
      throw new AppError('RATE_LIMITED', `Too many requests; retry after ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
  }

  /**
   * Counts the checks in Redis and returns each one's wait in ms, 0 when it
   * is allowed. Returns undefined when Redis is not connected or a command
   * fails, and then the caller counts in memory, as RateLimiterRedis does with
   * its insurance limiter. A failed command may still have counted in Redis.
   */
  async #consumeInRedis(checks: ReadonlyArray<readonly [LimiterName, string]>): Promise<number[] | undefined> {
    const client = this.#client;
    if (client === undefined || client.status !== 'ready') return undefined;

    const counters = checks.map(([name, key]) => this.#limits[name].redisKeyPrefix + key);
    try {
      // Issued in one turn, so auto-pipelining sends all of them in one write.
      const counted = await Promise.all(
        checks.map(([name], index) => {
          const counter = counters[index]!;
          return Promise.all([client.incr(counter), client.expire(counter, this.#limits[name].durationSeconds, 'NX')]);
        }),
      );
      // Only a spent limit needs its window's remaining time, so an allowed request costs two commands per check.
      return await Promise.all(
        counted.map(async ([consumed], index) => {
          if (consumed <= this.#limits[checks[index]![0]].points) return 0;
          // PTTL returns -2 when the window ended after the INCR, and the next request opens a new one.
          return Math.max(1, await client.pttl(counters[index]!));
        }),
      );
    } catch (error) {
      const skipped = this.#failures.take();
      if (skipped !== undefined) this.#log?.error({ err: error, failuresNotLogged: skipped }, 'counting rate limits in redis failed; counting in memory on this node');
      return undefined;
    }
  }

  async #consumeInMemory(checks: ReadonlyArray<readonly [LimiterName, string]>): Promise<number[]> {
    const outcomes = await Promise.allSettled(checks.map(([name, key]) => this.#limits[name].memory.consume(key)));
    return outcomes.map((outcome) => {
      if (outcome.status === 'fulfilled') return 0;
      if (!(outcome.reason instanceof RateLimiterRes)) throw outcome.reason;
      return Math.max(1, outcome.reason.msBeforeNext);
    });
  }
}
