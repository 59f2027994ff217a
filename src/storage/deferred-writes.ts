import type { Tx } from './database.js';

interface DeferredWrite {
  key: string;
  order: number;
  write: (tx: Tx) => Promise<void>;
}

/**
 * Writes that a transaction runs just before its commit, in ascending
 * `order`. A grouped transaction (see CommitGroup) shares one list between
 * its units, so writes that cost less together run together. On SQLite
 * these are the FTS5 rows of new search documents (see SqliteSearchIndex).
 *
 * A write added later under the same `key` replaces the earlier one. Each
 * write must cope with the work that ran after it was added, because it runs
 * after every unit of the group.
 */
export class DeferredWrites {
  #writes: DeferredWrite[] = [];

  add(key: string, order: number, write: (tx: Tx) => Promise<void>): void {
    this.#writes.push({ key, order, write });
  }

  /** Returns the position to restore when the work after this point rolls back to a savepoint. */
  mark(): number {
    return this.#writes.length;
  }

  restore(mark: number): void {
    this.#writes.length = mark;
  }

  /** Runs the writes, the last of each key only, and empties the list. Run it last in the transaction. */
  async run(tx: Tx): Promise<void> {
    if (this.#writes.length === 0) return;
    const latest = new Map<string, DeferredWrite>();
    for (const write of this.#writes) latest.set(write.key, write);
    this.#writes = [];

    const ordered = [...latest.values()].sort((a, b) => a.order - b.order);
    for (const { write } of ordered) await write(tx);
  }
}
