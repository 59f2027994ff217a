/**
 * Reads that the units of one grouped transaction share (see CommitGroup).
 * Each unit of a keyed group may give a hint when it joins, such as a post's
 * author. The first unit that needs a value can then read it for every hint
 * in one statement, and the other units take their share through `once`.
 *
 * Only reads that no unit of the group changes may be shared, because a later
 * unit gets the value read before the earlier units ran. A set lives for one
 * transaction attempt: a group that runs again after a failure starts with an
 * empty one.
 */
export class GroupReads {
  /** Hints of the group's units, in their order, with repeats. Empty outside keyed groups. */
  readonly hints: readonly string[];
  readonly #values = new Map<string, Promise<unknown>>();

  constructor(hints: readonly string[] = []) {
    this.hints = hints;
  }

  /** Returns the value stored under `key`, loading it on the first call. A failed load is forgotten, so the next unit tries again. */
  once<T>(key: string, load: () => Promise<T>): Promise<T> {
    const known = this.#values.get(key) as Promise<T> | undefined;
    if (known !== undefined) return known;

    const loading = load();
    this.#values.set(key, loading);
    loading.catch(() => this.#values.delete(key));
    return loading;
  }
}
