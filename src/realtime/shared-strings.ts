/**
 * One copy per node of strings that many sockets keep, such as stream and
 * team ids. Each socket reads its ids from storage as strings of its own, so
 * without sharing, a socket subscribed to 20 conversations keeps about 2 KiB
 * of copies. Holders are counted, and a string is forgotten when its last
 * holder releases it.
 */
export class SharedStrings {
  readonly #entries = new Map<string, { value: string; holders: number }>();

  /** Returns the node's copy of a string, counting the caller as a holder until it calls `release`. */
  acquire(value: string): string {
    const entry = this.#entries.get(value);
    if (entry !== undefined) {
      entry.holders += 1;
      return entry.value;
    }
    this.#entries.set(value, { value, holders: 1 });
    return value;
  }

  release(value: string): void {
    const entry = this.#entries.get(value);
    if (entry === undefined) return;
    entry.holders -= 1;
    if (entry.holders === 0) this.#entries.delete(value);
  }

  /** Number of distinct strings held. */
  get size(): number {
    return this.#entries.size;
  }
}
