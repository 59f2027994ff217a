import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { buildLimiter, type RateLimitStore } from '../http/rate-limits.js';
import type { Config } from '../platform/config.js';
import { AppError } from '../platform/errors.js';

/** The scopes failures are counted in; each has its own free failures and its own delay. */
type Scope = 'accountAddress' | 'account' | 'address';

/** A counter of failures and a block of the current delay, for one scope. */
interface ScopeLimiters {
  failures: RateLimiterAbstract;
  blocks: RateLimiterAbstract;
  freeFailures: number;
  maxDelaySeconds: number;
}

/** Identifies one login attempt: the account (or the normalised unknown login) and the client address. */
export interface LoginAttempt {
  accountKey: string;
  address: string;
}

/**
 * Exponential backoff after failed logins and second-factor codes. Failures
 * are counted per account and address, per account, and per address. Once a
 * scope's free failures are spent, each further failure blocks that scope for
 * 1 s, then 2 s, 4 s and so on up to its maximum. While blocked, attempts are
 * rejected with RATE_LIMITED before the password is checked, so guesses made
 * during a block tell the attacker nothing.
 *
 * The account scope can be triggered from any address, including an
 * attacker's, so its maximum delay is short: it slows a distributed guesser
 * without locking the owner out for long. Counts live in this process or, given
 * a store, in Redis under `<prefix>rl:login-*`, like the other rate limits.
 */
export class LoginThrottle {
  readonly #scopes: Record<Scope, ScopeLimiters>;

  constructor(config: Config['loginThrottle'], store?: RateLimitStore) {
    const limiter = (name: string, points: number, durationSeconds: number) => buildLimiter(name, points, durationSeconds, store);
    const scope = (name: string, freeFailures: number, maxDelaySeconds: number): ScopeLimiters => ({
      // The counter never rejects: its points are far above any count, and the block limiter does the rejecting.
      failures: limiter(`login-fail-${name}`, Number.MAX_SAFE_INTEGER, config.windowSeconds),
      blocks: limiter(`login-block-${name}`, 1, maxDelaySeconds),
      freeFailures,
      maxDelaySeconds,
    });
    this.#scopes = {
      accountAddress: scope('acct-addr', config.freeFailuresPerAccountAddress, config.maxDelaySeconds),
      account: scope('acct', config.freeFailuresPerAccount, config.maxAccountDelaySeconds),
      address: scope('addr', config.freeFailuresPerAddress, config.maxDelaySeconds),
    };
  }

  #keys(attempt: LoginAttempt): Record<Scope, string> {
    return {
      accountAddress: `${attempt.accountKey}|${attempt.address}`,
      account: attempt.accountKey,
      address: attempt.address,
    };
  }

  /** Throws RATE_LIMITED with the longest remaining delay when any scope of the attempt is blocked. */
  async check(attempt: LoginAttempt): Promise<void> {
    const keys = this.#keys(attempt);
    let retryAfterMs = 0;
    for (const scope of Object.keys(keys) as Scope[]) {
      const block = await this.#scopes[scope].blocks.get(keys[scope]);
      if (block !== null && block.consumedPoints > 1) retryAfterMs = Math.max(retryAfterMs, block.msBeforeNext);
    }
    if (retryAfterMs > 0) throw throttled(retryAfterMs);
  }

  /**
   * Counts a failed attempt in every scope and starts the delay of each scope
   * whose free failures are spent. Returns the longest delay started, in ms.
   */
  async recordFailure(attempt: LoginAttempt): Promise<number> {
    const keys = this.#keys(attempt);
    let longestMs = 0;
    for (const scope of Object.keys(keys) as Scope[]) {
      const limiters = this.#scopes[scope];
      const counted = await limiters.failures.consume(keys[scope]).catch((rejection: unknown) => {
        if (rejection instanceof RateLimiterRes) return rejection;
        throw rejection;
      });
      const beyondFree = counted.consumedPoints - limiters.freeFailures;
      if (beyondFree <= 0) continue;
      const delaySeconds = Math.min(limiters.maxDelaySeconds, 2 ** Math.min(beyondFree - 1, 30));
      await limiters.blocks.block(keys[scope], delaySeconds);
      longestMs = Math.max(longestMs, delaySeconds * 1000);
    }
    return longestMs;
  }

  /** Forgets the failures of the account, from this address and from all, after a successful login. */
  async recordSuccess(attempt: LoginAttempt): Promise<void> {
    const keys = this.#keys(attempt);
    for (const scope of ['accountAddress', 'account'] as const) {
      await this.#scopes[scope].failures.delete(keys[scope]);
      await this.#scopes[scope].blocks.delete(keys[scope]);
    }
  }
}

function throttled(retryAfterMs: number): AppError {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new AppError('RATE_LIMITED', `Too many failed logins; retry after ${retryAfterSeconds} s`, { retryAfterSeconds });
}
