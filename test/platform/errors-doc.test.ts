import fs from 'node:fs';
import { expect, test } from 'vitest';
import { ERROR_CODES } from '../../src/platform/errors.js';

test('errors doc matches registry', () => {
  const doc = fs.readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = Object.fromEntries(
    [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((match) => [match[1], Number(match[2])]),
  );
  expect(documented).toEqual(ERROR_CODES);
});
