import { sql } from 'kysely';
import type { Db, Tx } from './database.js';
import { EventWriter } from './streams.js';

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
  readonly #now: () => number;
  #queue: Pending[] = [];
  #running = false;

  constructor(db: Db, now: () => number) {
    this.#db = db;
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
          const events = new EventWriter(tx, now);
          await sql`SAVEPOINT unit`.execute(tx);
          try {
            const result = await unit.work(tx, events, now);
            await sql`RELEASE SAVEPOINT unit`.execute(tx);
            outcomes.push({ ok: true, result, events });
          } catch (error) {
            await sql`ROLLBACK TO SAVEPOINT unit`.execute(tx);
            await sql`RELEASE SAVEPOINT unit`.execute(tx);
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
