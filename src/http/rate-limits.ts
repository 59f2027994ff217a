import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../platform/config.js';
import { AppError } from '../platform/errors.js';

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

/**
 * Fixed-window limits, kept in this process or, given a store, in Redis and
 * shared by every node. While Redis is not connected, each node counts in its
 * own memory instead, so requests go on and limits hold per node.
 */
export class RateLimits {
  readonly #limiters: Record<LimiterName, RateLimiterAbstract>;

  constructor(config: Config['rateLimits'], store?: RateLimitStore) {
    const limiter = (points: number, durationSeconds: number, name: string) => buildLimiter(name, points, durationSeconds, store);
    this.#limiters = {
      loginPerAddress: limiter(config.loginPerAddressPerMinute, 60, 'login-addr'),
      loginPerAccount: limiter(config.loginPerAccountPerMinute, 60, 'login-acct'),
      postPerUser: limiter(config.postsPerUserPerMinute, 60, 'post-user'),
      postPerAddress: limiter(config.postsPerAddressPerMinute, 60, 'post-addr'),
      registerPerAddress: limiter(config.registrationsPerAddressPerHour, 3600, 'register-addr'),
    };
  }

  /** Takes one point from each named limiter; throws RATE_LIMITED with the longest wait if any is spent. */
  async consume(checks: ReadonlyArray<readonly [LimiterName, string]>): Promise<void> {
    let retryAfterMs = 0;
    for (const [name, key] of checks) {
      try {
        await this.#limiters[name].consume(key);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        retryAfterMs = Math.max(retryAfterMs, rejection.msBeforeNext);
      }
    }
    if (retryAfterMs > 0) {
      const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
      throw new AppError('RATE_LIMITED', `Too many requests; retry after ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
  }
}
