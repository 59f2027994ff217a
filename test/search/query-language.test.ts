import { describe, expect, test } from 'vitest';
import { analyseQuery, analyseText, MAX_TOKEN_CHARS } from '../../src/search/analyzer.js';
import { parsePeriod, startOfLocalDay } from '../../src/search/dates.js';
import { parseSearchQuery } from '../../src/search/query-parser.js';
import { countByAnalysis, countTerms } from '../../src/search/rank.js';

const NOW = Date.UTC(2024, 5, 15, 12); // 2024-06-15T12:00Z

describe('query parser', () => {
  test('every part in one structure', () => {
    const query = parseSearchQuery('Deploying "blue green" -staging -"dry run" db* from:@Ada -from:bob in:#ops in:@cy -in:#random mentions:me has:link -has:file is:thread after:2024-01-31 before:2024-03', {
      now: NOW,
      timeZone: 'UTC',
    });
    expect(query.include).toEqual([
      { source: 'Deploying', tokens: [{ term: 'deploy', prefix: false }] },
      { source: '"blue green"', tokens: [{ term: 'blue', prefix: false }, { term: 'green', prefix: false }] },
      { source: 'db*', tokens: [{ term: 'db', prefix: true }] },
    ]);
    expect(query.exclude.map((term) => term.source)).toEqual(['-staging', '-"dry run"']);
    expect(query.from).toEqual({ any: ['Ada'], none: ['bob'] });
    expect(query.in).toEqual({ any: [{ kind: 'channel', name: 'ops' }, { kind: 'direct', username: 'cy' }], none: [{ kind: 'channel', name: 'random' }] });
    expect(query.mentions).toEqual({ any: ['me'], none: [] });
    expect(query.has).toEqual({ all: ['link'], none: ['file'] });
    expect(query.is).toEqual({ all: ['thread'], none: [] });
    expect(query.createdFrom).toBe(Date.UTC(2024, 1, 1));
    expect(query.createdBefore).toBe(Date.UTC(2024, 2, 1));
  });

  test('prefix matches the unstemmed word', () => {
    const query = parseSearchQuery('deploying*', { now: NOW, timeZone: 'UTC' });
    expect(query.include[0]!.tokens).toEqual([{ term: 'deploying', prefix: true }]);
  });

  test('colons that are not operators', () => {
    const query = parseSearchQuery('https://example.com 12:30 std::vector', { now: NOW, timeZone: 'UTC' });
    expect(query.include.map((term) => term.tokens.map((token) => token.term))).toEqual([['https', 'exampl', 'com'], ['12', '30'], ['std', 'vector']]);
  });

  test('filters alone are a query', () => {
    const query = parseSearchQuery('from:me has:reaction', { now: NOW, timeZone: 'UTC' });
    expect(query.include).toEqual([]);
    expect(query.has.all).toEqual(['reaction']);
  });
});

describe('dates', () => {
  test('day in a daylight saving zone', () => {
    // 2024-03-10 is 23 hours long in Los Angeles: it starts at UTC-8 and ends at UTC-7.
    expect(parsePeriod('2024-03-10', NOW, 'America/Los_Angeles')).toEqual({ start: Date.UTC(2024, 2, 10, 8), end: Date.UTC(2024, 2, 11, 7) });
  });

  test('today, yesterday and months', () => {
    expect(parsePeriod('today', NOW, 'UTC')).toEqual({ start: Date.UTC(2024, 5, 15), end: Date.UTC(2024, 5, 16) });
    expect(parsePeriod('yesterday', NOW, 'Asia/Tokyo')).toEqual({ start: Date.UTC(2024, 5, 13, 15), end: Date.UTC(2024, 5, 14, 15) });
    expect(parsePeriod('march', NOW, 'UTC')).toEqual({ start: Date.UTC(2024, 2, 1), end: Date.UTC(2024, 3, 1) });
    expect(parsePeriod('dec', NOW, 'UTC')).toEqual({ start: Date.UTC(2023, 11, 1), end: Date.UTC(2024, 0, 1) });
  });

  test('invalid dates', () => {
    for (const value of ['2024-02-30', '2024-00', '1969', 'tomorrow', '2024/01/01']) expect(parsePeriod(value, NOW, 'UTC'), value).toBeUndefined();
  });

  test('start of local day', () => {
    expect(startOfLocalDay(2024, 1, 1, 'Pacific/Auckland')).toBe(Date.UTC(2023, 11, 31, 11));
  });
});

describe('analyser', () => {
  const terms = (text: string) => analyseText(text).map((token) => token.term);

  test('folding and stemming', () => {
    expect(terms("Ärger über CAFÉS and the user's ﬁles")).toEqual(['arger', 'uber', 'cafe', 'and', 'the', 'user', 'file']);
    expect(terms('Straße Łódź')).toEqual(['strass', 'lodz']);
  });

  test('CJK runs become pairs and a last character', () => {
    expect(terms('東京都')).toEqual(['東京', '京都', '都']);
    expect(analyseQuery('東京都')).toEqual([
      { term: '東京', prefix: false },
      { term: '京都', prefix: false },
    ]);
    expect(analyseQuery('都')).toEqual([{ term: '都', prefix: true }]);
  });

  test('emoji and shortcodes', () => {
    expect(terms('🎉 :tada: 👍🏾 ❤️')).toEqual(['🎉', '🎉', '👍', '❤']);
  });

  test('long tokens cut at 100 code points', () => {
    const gothic = '\u{10330}';
    expect(terms('a'.repeat(150))).toEqual(['a'.repeat(MAX_TOKEN_CHARS)]);
    expect(terms(gothic.repeat(150))).toEqual([gothic.repeat(MAX_TOKEN_CHARS)]);
    // The 100th code point is past the 100th code unit here.
    expect(terms('b'.repeat(99) + gothic.repeat(50))).toEqual(['b'.repeat(99) + gothic]);
  });

  test('offsets point into the original text', () => {
    const text = 'a ﬁle, Zürich 東京';
    expect(analyseText(text).map((token) => text.slice(token.start, token.end))).toEqual(['a', 'ﬁle', 'Zürich', '東京', '京']);
  });
});

describe('ranking counts', () => {
  test('fast count equals analysis', () => {
    const texts = [
      "Deploying the servers: we deployed, they're deploying! DEPLOY logs at 12:30.",
      "The deployment's done; deploy again tomorrow with the new server's config",
      'nothing relevant here at all',
      'party :tada: deploy',
    ];
    for (const q of ['deploy', 'server config', 'dep*', 'the']) {
      const terms = parseSearchQuery(q, { now: NOW, timeZone: 'UTC' }).include;
      for (const text of texts) expect(countTerms(text, terms), `${q} in ${text}`).toEqual(countByAnalysis(text, terms));
    }
  });
});
