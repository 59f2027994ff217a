import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { AppError } from './errors.js';
import type { Storage, Tx } from '../storage/database.js';
import type { EventBus } from '../realtime/event-bus.js';
import type { StreamId } from '../realtime/events.js';
import { EventWriter } from '../storage/streams.js';
import { DeferredWrites } from '../storage/deferred-writes.js';
import { GroupReads } from '../storage/group-reads.js';
import { runTransaction } from '../storage/compiled-query.js';
import type { CommitGroup, TransactionWork } from '../storage/commit-group.js';
import type { RateLimits } from '../http/rate-limits.js';
import type { SessionCache } from '../accounts/session-cache.js';
import type { LoginThrottle } from '../accounts/login-throttle.js';
import type { Metrics } from './metrics.js';
import type { FileServices } from '../files/services.js';
import type { SignalHub } from '../realtime/signals.js';
import type { PresenceService } from '../presence/service.js';
import type { JobRunner } from '../jobs/runner.js';
import type { LatestPageCache } from '../messages/page-cache.js';

/** The configuration, storage, fan-out and logging that every action receives. */
export interface AppContext {
  config: Config;
  logger: Logger;
  storage: Storage;
  bus: EventBus;
  rateLimits: RateLimits;
  sessionCache: SessionCache;
  /** Encoded latest history pages of recently read conversations. */
  pageCache: LatestPageCache;
  /** Backoff after failed logins, per account and address. */
  loginThrottle: LoginThrottle;
  /** Prometheus metrics of this node, exposed at /metrics unless config.metrics is false. */
  metrics: Metrics;
  /** Blob store, encryption, upload staging and orphan sweep of shared files. */
  files: FileServices;
  /** Frames sent once to the sockets of a stream and never stored: typing indicators and notifications. */
  signals: SignalHub;
  presence: PresenceService;
  /** Background jobs stored in the database, such as push delivery. */
  jobs: JobRunner;
  now: () => number;
}

/** Attempts of a transaction that fails on a deadlock or serialization conflict. */
const MAX_TRANSACTION_ATTEMPTS = 3;

/**
 * Runs `work` in one transaction with an event writer, then publishes the
 * events it appended. Events reach the bus only after the commit, so no socket
 * ever receives a change that could still roll back. A transaction that lost a
 * deadlock or serialization conflict runs again from the start. Where the
 * storage groups every commit (SQLite), the work joins the current group. Where
 * it groups by key (PostgreSQL), work given a `groupKey` joins the current group
 * of that key, a stream whose row the group locks first. So the work must not
 * wait for other work of the same key, and its
 * `groupHint` reaches the other units of the group (see GroupReads). The
 * writes that `work` adds to `deferred` run after it (in a group, after
 * the group's last unit), just before the commit.
 */
export async function commitWithEvents<T>(
  ctx: AppContext,
  work: TransactionWork<T>,
  options: { groupKey?: StreamId; groupHint?: string } = {},
): Promise<T> {
  const group = ctx.storage.commitGroup;
  if (group !== undefined && (!group.keyed || options.groupKey !== undefined)) {
    return commitInGroup(ctx, group, work, options.groupKey, options.groupHint);
  }

  for (let attempt = 1; ; attempt += 1) {
    const now = ctx.now();
    let writer: EventWriter | undefined;
    try {
      const result = await runTransaction(ctx.storage.db, async (tx) => {
        writer = new EventWriter(tx, now, ctx.storage.dialect);
        const deferred = new DeferredWrites();
        const result = await work(tx, writer, now, deferred, new GroupReads());
        await deferred.run(tx);
        return result;
      });
      if (writer !== undefined && writer.events.length > 0) ctx.bus.publish(writer.events);
      return result;
    } catch (error) {
      if (!ctx.storage.dialect.isTransientConflict(error)) throw error;
      if (attempt >= MAX_TRANSACTION_ATTEMPTS) throw conflictsExhausted(ctx, error);
      ctx.logger.warn({ component: 'storage', attempt, err: error }, 'transaction conflicted; retrying');
    }
  }
}

async function commitInGroup<T>(
  ctx: AppContext,
  group: CommitGroup,
  work: TransactionWork<T>,
  key: string | undefined,
  hint: string | undefined,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const { result, events } = await group.run(work, key, hint);
      if (events.events.length > 0) ctx.bus.publish(events.events);
      return result;
    } catch (error) {
      // A unit that lost a deadlock was rolled back alone (see CommitGroup), so it joins a later group.
      if (!ctx.storage.dialect.isTransientConflict(error)) throw error;
      if (attempt >= MAX_TRANSACTION_ATTEMPTS) throw conflictsExhausted(ctx, error);
      ctx.logger.warn({ component: 'storage', attempt, err: error }, 'grouped transaction conflicted; retrying');
    }
  }
}

/** Logs a transaction that lost every attempt to a deadlock or conflict, and returns the retryable error its request gets. */
function conflictsExhausted(ctx: AppContext, error: unknown): AppError {
  ctx.logger.warn({ component: 'storage', attempts: MAX_TRANSACTION_ATTEMPTS, err: error }, 'transaction conflicted on every attempt; responding with 503');
  return new AppError('UNAVAILABLE', 'The change conflicted with concurrent changes; try again', { retryAfterSeconds: 1 });
}
