import { CompiledQuery } from 'kysely';
import type { Db, Tx } from './database.js';
import { EventWriter } from './streams.js';
import type { StorageDialect } from './dialects/dialect.js';

// Compiled once: these run twice per grouped transaction, and their text is the same on every engine.
const SAVEPOINT = CompiledQuery.raw('SAVEPOINT unit');
const RELEASE = CompiledQuery.raw('RELEASE SAVEPOINT unit');
const ROLLBACK_TO = CompiledQuery.raw('ROLLBACK TO SAVEPOINT unit');

type Work<T> = (tx: Tx, events: EventWriter, now: number) => Promise<T>;

interface Pending {
  work: Work<unknown>;
  resolve: (outcome: { result: unknown; events: EventWriter }) => void;
  reject: (error: unknown) => void;
}

/**
 * Groups the transactions that arrive in one event-loop turn into a single
 * database transaction, each inside its own savepoint. A failing unit rolls
 * back to its savepoint and rejects alone; the others commit together. One
 * commit then serves the whole group, which is where SQLite spends much of a
 * small write. Units run in arrival order, exactly as they would one by one on
 * SQLite's single connection.
 */
export class CommitGroup {
  readonly #db: Db;
  readonly #dialect: StorageDialect;
  readonly #now: () => number;
  #queue: Pending[] = [];
  #running = false;

  constructor(db: Db, dialect: StorageDialect, now: () => number) {
    this.#db = db;
    this.#dialect = dialect;
    this.#now = now;
  }

  /** Runs `work` in the next group; resolves after that group commits. */
  run<T>(work: Work<T>): Promise<{ result: T; events: EventWriter }> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ work, resolve, reject } as Pending);
      if (!this.#running) {
        this.#running = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const group = this.#queue;
      this.#queue = [];
      await this.#commit(group);
    }
    this.#running = false;
  }

  async #commit(group: Pending[]): Promise<void> {
    const now = this.#now();
    const outcomes: Array<{ ok: true; result: unknown; events: EventWriter } | { ok: false; error: unknown }> = [];
    try {
      await this.#db.transaction().execute(async (tx) => {
        for (const unit of group) {
          const events = new EventWriter(tx, now, this.#dialect);
          await tx.executeQuery(SAVEPOINT);
          try {
            const result = await unit.work(tx, events, now);
            await tx.executeQuery(RELEASE);
            outcomes.push({ ok: true, result, events });
          } catch (error) {
            await tx.executeQuery(ROLLBACK_TO);
            await tx.executeQuery(RELEASE);
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed, so nothing of the group was stored.
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
}
