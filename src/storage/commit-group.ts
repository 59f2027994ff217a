import { CompiledQuery } from 'kysely';
import type { Db, Tx } from './database.js';
import type { Logger } from '../platform/logger.js';
import type { StreamId } from '../realtime/events.js';
import { executeCompiled, runTransaction } from './compiled-query.js';
import { DeferredWrites } from './deferred-writes.js';
import { GroupReads } from './group-reads.js';
import { WriteBehindError } from './write-behind.js';
import { EventWriter, StreamSequences } from './streams.js';
import type { StorageDialect } from './dialects/dialect.js';

// Compiled once: these run twice per grouped transaction, and their text is the same on every engine.
const SAVEPOINT = CompiledQuery.raw('SAVEPOINT unit');
const RELEASE = CompiledQuery.raw('RELEASE SAVEPOINT unit');
const ROLLBACK_TO = CompiledQuery.raw('ROLLBACK TO SAVEPOINT unit');

/**
 * Units per keyed group. PostgreSQL keeps up to 64 subtransaction ids per
 * transaction in shared memory (PGPROC_MAX_CACHED_SUBXIDS in its proc.h), and
 * each savepoint that writes takes one even after its release. Past 64, other
 * sessions' snapshots must read pg_subtrans from then on.
 */
export const MAX_KEYED_GROUP_UNITS = 64;

/**
 * A unit of work. `deferred` is shared by the group's units and runs after all of them, before the
 * commit. `reads` contains the values the units share and, in a keyed group, every unit's hint.
 */
export type TransactionWork<T> = (tx: Tx, events: EventWriter, now: number, deferred: DeferredWrites, reads: GroupReads) => Promise<T>;

interface Pending {
  work: TransactionWork<unknown>;
  hint: string | undefined;
  resolve: (outcome: { result: unknown; events: EventWriter }) => void;
  reject: (error: unknown) => void;
}

/**
 * Groups the transactions that arrive in one event-loop turn into a single
 * database transaction. A failing unit rejects alone and the others commit
 * together, because each runs in its own savepoint (on PostgreSQL only after a
 * first try without them failed). One commit then serves the whole group.
 * Units run in arrival order, then the writes they deferred (see
 * DeferredWrites), then the commit.
 *
 * Unkeyed (SQLite), every unit joins one queue, exactly as the units would run
 * one by one on SQLite's single connection, where a commit is much of the cost
 * of a small write. Keyed (PostgreSQL), each key has its own queue and the
 * groups of different keys run at the same time on different connections. The
 * key is the stream of a post's conversation, because its posts wait for the
 * same `streams` row lock anyway. One transaction per group takes that lock
 * once, before its first unit, and waits for one commit, instead of holding it
 * through a commit per post.
 */
export class CommitGroup {
  readonly #db: Db;
  readonly #dialect: StorageDialect;
  readonly #now: () => number;
  /** True when each key has its own queue. Then only callers that give a key join a group. */
  readonly keyed: boolean;
  readonly #queues = new Map<string, Pending[]>();
  readonly #log: Logger | undefined;

  constructor(db: Db, dialect: StorageDialect, now: () => number, options: { keyed: boolean; logger?: Logger } = { keyed: false }) {
    this.#db = db;
    this.#dialect = dialect;
    this.#now = now;
    this.keyed = options.keyed;
    this.#log = options.logger?.child({ component: 'storage' });
  }

  /**
   * Runs `work` in the next group of `key` and resolves after that group commits.
   * Rejects with the unit's own error, or with the commit's error for every unit of the group.
   * A keyed group gives every unit the `hint` of each of its units (see GroupReads).
   */
  run<T>(work: TransactionWork<T>, key = '', hint?: string): Promise<{ result: T; events: EventWriter }> {
    const queueKey = this.keyed ? key : '';
    return new Promise((resolve, reject) => {
      const queue = this.#queues.get(queueKey);
      const unit = { work, hint, resolve, reject } as Pending;
      if (queue !== undefined) {
        queue.push(unit);
        return;
      }
      this.#queues.set(queueKey, [unit]);
      setImmediate(() => void this.#flush(queueKey));
    });
  }

  // The key's queue stays in the map while its groups run, so units that arrive meanwhile wait for the next group.
  async #flush(key: string): Promise<void> {
    for (;;) {
      const queue = this.#queues.get(key) ?? [];
      if (queue.length === 0) break;
      const group = this.keyed ? queue.splice(0, MAX_KEYED_GROUP_UNITS) : queue.splice(0);
      try {
        await this.#commit(group, key);
      } catch (error) {
        // #commit settles every unit itself. This only keeps an unexpected error from stopping the key's queue.
        for (const unit of group) unit.reject(error);
      }
    }
    this.#queues.delete(key);
  }

  async #commit(group: Pending[], key: string): Promise<void> {
    // SQLite sets a savepoint in-process, so it sets one per unit from the start. On PostgreSQL each
    // savepoint and release is a round trip, so a group first runs without them and pays for them only
    // after a unit failed. Each unit that precedes the failed one then runs twice.
    if (group.length > 1 && !this.keyed) {
      await this.#runWithSavepoints(group, key);
      return;
    }
    // A keyed group first sends its writes behind (see write-behind.ts). A write that fails then
    // surfaces at a later statement, maybe another unit's, so the group runs again without.
    let failure = await this.#runWithoutSavepoints(group, key, this.keyed);
    if (failure !== undefined && 'writeBehindError' in failure) {
      this.#log?.warn({ key, units: group.length, err: failure.writeBehindError }, 'a write sent behind failed; running the group again without writes behind');
      failure = await this.#runWithoutSavepoints(group, key, false);
    }
    if (failure === undefined || 'writeBehindError' in failure) return;

    const others = group.filter((_unit, index) => index !== failure.index);
    if (others.length > 0) await this.#runWithSavepoints(others, key);
    // Settled after the others commit, so that a post that lost its idempotency key to one of
    // them finds that message stored.
    group[failure.index]!.reject(failure.error);
  }

  /**
   * Runs the group's units in one transaction, with no savepoints. When a unit fails, the whole
   * transaction rolls back, no unit is settled, and the failed unit's index and error are returned.
   * With `writeBehind`, a failed write sent behind rolls it back too and is returned as `writeBehindError`.
   */
  async #runWithoutSavepoints(
    group: Pending[],
    key: string,
    writeBehind: boolean,
  ): Promise<{ index: number; error: unknown } | { writeBehindError: WriteBehindError } | undefined> {
    const now = this.#now();
    const outcomes: Array<{ result: unknown; events: EventWriter }> = [];
    let failure: { index: number; error: unknown } | undefined;
    try {
      await runTransaction(this.#db, async (tx) => {
        const sequences = await this.#lockKey(tx, key);
        const deferred = new DeferredWrites();
        const reads = this.#reads(group);
        for (const [index, unit] of group.entries()) {
          const events = new EventWriter(tx, now, this.#dialect, sequences);
          try {
            outcomes.push({ result: await unit.work(tx, events, now, deferred, reads), events });
          } catch (error) {
            failure = { index, error };
            throw error;
          }
        }
        await deferred.run(tx);
        await sequences?.store(tx);
      }, { writeBehind });
    } catch (error) {
      if (writeBehind && error instanceof WriteBehindError) return { writeBehindError: error };
      if (writeBehind && failure?.error instanceof WriteBehindError) return { writeBehindError: failure.error };
      if (failure !== undefined) return failure;
      // BEGIN, a deferred write, the `streams` update or COMMIT failed, so nothing of the group was stored.
      for (const unit of group) unit.reject(error);
      return undefined;
    }

    group.forEach((unit, index) => unit.resolve(outcomes[index]!));
    return undefined;
  }

  /** Runs the group's units in one transaction, each in its own savepoint, and settles every unit. */
  async #runWithSavepoints(group: Pending[], key: string): Promise<void> {
    const now = this.#now();
    const outcomes: Array<{ ok: true; result: unknown; events: EventWriter } | { ok: false; error: unknown }> = [];
    try {
      await runTransaction(this.#db, async (tx) => {
        const sequences = await this.#lockKey(tx, key);
        const deferred = new DeferredWrites();
        const reads = this.#reads(group);
        for (const unit of group) {
          const events = new EventWriter(tx, now, this.#dialect, sequences);
          const mark = sequences?.mark();
          const deferredMark = deferred.mark();
          await executeCompiled(tx, SAVEPOINT);
          try {
            const result = await unit.work(tx, events, now, deferred, reads);
            await executeCompiled(tx, RELEASE);
            outcomes.push({ ok: true, result, events });
          } catch (error) {
            await executeCompiled(tx, ROLLBACK_TO);
            await executeCompiled(tx, RELEASE);
            if (mark !== undefined) sequences?.restore(mark);
            deferred.restore(deferredMark);
            outcomes.push({ ok: false, error });
          }
        }
        await deferred.run(tx);
        await sequences?.store(tx);
      });
    } catch (error) {
      // The commit, a savepoint statement or a deferred write failed, so nothing of the group was stored.
      for (const unit of group) unit.reject(error);
      return;
    }

    group.forEach((unit, index) => {
      const outcome = outcomes[index];
      if (outcome === undefined) unit.reject(new Error('transaction unit has no outcome'));
      else if (outcome.ok) unit.resolve({ result: outcome.result, events: outcome.events });
      else unit.reject(outcome.error);
    });
  }

  // An unkeyed group may contain any work, which may change what one unit would read for the others.
  // So only keyed groups, which contain posts alone, pass the hints that let a unit read for all.
  #reads(group: Pending[]): GroupReads {
    if (!this.keyed) return new GroupReads();
    const hints: string[] = [];
    for (const unit of group) if (unit.hint !== undefined) hints.push(unit.hint);
    return new GroupReads(hints);
  }

  // A keyed group holds only work that reads no `streams` row (posts), so its units share the
  // sequence numbers they take. Unkeyed groups on SQLite hold any work, which may read them.
  // A keyed group's key is a stream, whose row it locks before its first unit runs, so every
  // unit's reads come after any change that appends to that stream has committed. A stream has a
  // row from its first event on, which for a conversation is its creator's member.joined.
  async #lockKey(tx: Tx, key: string): Promise<StreamSequences | undefined> {
    if (!this.keyed) return undefined;
    const sequences = new StreamSequences();
    await sequences.lock(tx, key as StreamId, { forUpdate: !this.#dialect.singleWriter });
    return sequences;
  }
}
