import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../platform/config.js';
import { AppError } from '../platform/errors.js';

type LimiterName = 'loginPerAddress' | 'loginPerAccount' | 'postPerUser' | 'postPerAddress' | 'registerPerAddress';

/**
 * Fixed-window limits kept in this process. rate-limiter-flexible offers the
 * same interface over Redis, which a multi-node deployment swaps in.
 */
export class RateLimits {
  readonly #limiters: Record<LimiterName, RateLimiterMemory>;

  constructor(config: Config['rateLimits']) {
    const perMinute = (points: number, keyPrefix: string) => new RateLimiterMemory({ points, duration: 60, keyPrefix });
    this.#limiters = {
      loginPerAddress: perMinute(config.loginPerAddressPerMinute, 'login-addr'),
      loginPerAccount: perMinute(config.loginPerAccountPerMinute, 'login-acct'),
      postPerUser: perMinute(config.postsPerUserPerMinute, 'post-user'),
      postPerAddress: perMinute(config.postsPerAddressPerMinute, 'post-addr'),
      registerPerAddress: new RateLimiterMemory({ points: config.registrationsPerAddressPerHour, duration: 3600, keyPrefix: 'register-addr' }),
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
