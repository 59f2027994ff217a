import { expect, test } from 'vitest';
import { ID_PATTERN, newId } from '../../src/platform/ids.js';

test('ids sort in creation order', () => {
  // Far more ids than one pool of random bytes serves, most of them in the same millisecond.
  const ids = Array.from({ length: 10_000 }, () => newId());

  for (let index = 1; index < ids.length; index += 1) expect(ids[index]! > ids[index - 1]!).toBe(true);
  expect(new Set(ids).size).toBe(ids.length);
});

test('ids are UUID version 7', () => {
  const before = Date.now();
  const id = newId();
  const after = Date.now();

  expect(id).toMatch(new RegExp(ID_PATTERN));
  expect(id[14]).toBe('7');
  expect('89ab').toContain(id[19]);
  const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
  expect(ms).toBeGreaterThanOrEqual(before);
  expect(ms).toBeLessThanOrEqual(after);
});
