import { describe, expect, it } from 'vitest';
import { JsonArrayError, readJsonArray } from '../../src/slack/import/json-array.js';

/** Reads `text` through readJsonArray in chunks of `size` bytes; returns the entries and the error, if any. */
async function read(text: string, size: number, maxEntryBytes = 1000): Promise<{ entries: unknown[]; error?: JsonArrayError }> {
  const bytes = Buffer.from(text);
  async function* chunks() {
    for (let start = 0; start < bytes.length; start += size) yield bytes.subarray(start, start + size);
  }
  const entries: unknown[] = [];
  try {
    for await (const entry of readJsonArray(chunks(), maxEntryBytes)) entries.push(entry);
    return { entries };
  } catch (error) {
    if (!(error instanceof JsonArrayError)) throw error;
    return { entries, error };
  }
}

// Chunk sizes of 1 and 2 bytes split every token and every multi-byte character.
const CHUNK_SIZES = [1, 2, 7, 4096];

describe('readJsonArray', () => {
  it.each([
    ['[]', []],
    [' [ ]\n', []],
    ['[1,2,3]', [1, 2, 3]],
    ['[{"a":"x,]}\\"y"},[1,[2]],"s",null,true]', [{ a: 'x,]}"y' }, [1, [2]], 's', null, true]],
    ['["é😀",{"k":"ü"}]', ['é😀', { k: 'ü' }]],
    ['\ufeff[1]', [1]],
  ])('reads %s', async (text, expected) => {
    for (const size of CHUNK_SIZES) {
      const result = await read(text, size);
      expect(result.error).toBeUndefined();
      expect(result.entries).toEqual(expected);
    }
  });

  it.each([
    ['{"a":1}', [], /not a JSON array/],
    ['', [], /empty/],
    ['[1,2', [1], /ends before the array is closed/],
    ['[{"ts":"1"},{"ts":', [{ ts: '1' }], /ends before the array is closed/],
    ['[1,]', [1], /entry 2 is not valid JSON/],
    ['[,1]', [], /entry 1 is not valid JSON/],
    ['[1 2]', [], /entry 1 is not valid JSON/],
    ['[{"a":1]]', [], /entry 1 is not valid JSON/],
    ['[1]x', [1], /after the end of the array/],
  ])('rejects %s after the entries before the damage', async (text, before, message) => {
    for (const size of CHUNK_SIZES) {
      const result = await read(text, size);
      expect(result.entries).toEqual(before);
      expect(result.error?.message).toMatch(message);
    }
  });

  it('marks JSON that is not an array', async () => {
    expect((await read('{"a":1}', 3)).error?.notArray).toBe(true);
    expect((await read('[1,', 3)).error?.notArray).toBe(false);
  });

  it('rejects an entry past the size limit', async () => {
    const long = JSON.stringify('x'.repeat(200));
    for (const size of [7, 4096]) {
      expect((await read(`[${long}]`, size, 201)).error?.message).toMatch(/entry 1 is larger than 201 bytes/);
      expect((await read(`[1,${long}]`, size, 202)).entries).toEqual([1, 'x'.repeat(200)]);
    }
  });
});
