/**
 * Returns the order in which the presence benchmark changes its members: a
 * fixed pseudo-random permutation of 0..members-1. The changes of one batch
 * interval then fall on members spread over the whole team, as real status
 * changes do, and the load generator can count what each socket should receive.
 */
export function changeOrder(members: number, seed = 12345): number[] {
  const order = Array.from({ length: members }, (_unused, index) => index);
  let state = seed >>> 0;
  // Fisher-Yates with a 32-bit linear congruential generator (Numerical Recipes constants).
  for (let index = members - 1; index > 0; index -= 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const other = state % (index + 1);
    [order[index], order[other]] = [order[other]!, order[index]!];
  }
  return order;
}

/** Counts the changes of member `index` after `changes` changes made in changeOrder, round after round; `position` maps a member to its place. */
export function changesOfMember(position: ReadonlyMap<number, number>, index: number, changes: number, members: number): number {
  const place = position.get(index) ?? 0;
  return Math.floor(changes / members) + (place < changes % members ? 1 : 0);
}
