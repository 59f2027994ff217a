import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { buildCorpus, type Corpus } from './corpus.js';

/**
 * The query table: each query, run by ada over HTTP, must return exactly the
 * expected messages, in both sort orders, and `total` must count exactly
 * those. Keys name the messages of test/search/corpus.ts; `slack:<ts>` keys
 * are messages of the Slack export sample. Ada may read #general, #random
 * (public, never joined), #enrique, #traveling-sailor, the private #ops and
 * #leaving, and her DM with bob. She may not read cy's private #secret or
 * eve's other team, whose messages share words with hers ("zebra", "deploy").
 */
interface Row {
  q: string | ((corpus: Corpus) => string);
  expected: string[];
}

const SETUP_PY = ['slack:1452837352.000006', 'slack:1452845865.000008', 'slack:1452846025.000011', 'slack:1452849677.000014', 'slack:1452988121.000015'];
const EXEC_LOGS = ['slack:1459040292.000010', 'slack:1459033252.000003', 'slack:1459041910.000006', 'slack:1459043360.000007', 'slack:1459044009.000008', 'slack:1459047879.000010'];

const TABLE: Row[] = [
  // Plain words, stemming and case.
  { q: 'deploying', expected: ['deploying', 'deployed', 'ops'] },
  { q: 'deployed', expected: ['deploying', 'deployed', 'ops'] },
  { q: 'DEPLOY', expected: ['deploying', 'deployed', 'ops'] },
  { q: 'deploy staging', expected: ['deploying'] },
  { q: 'servers', expected: ['deploying'] },
  // Accents and compatibility forms.
  { q: 'cafe', expected: ['cafe'] },
  { q: 'zurich', expected: ['cafe'] },
  { q: 'Zürich', expected: ['cafe'] },
  { q: 'naive facade', expected: ['cafe'] },
  { q: 'ＣＡＦＥ', expected: ['cafe'] },
  // Chinese, Japanese and Korean substrings.
  { q: '都庁', expected: ['japanese'] },
  { q: '東京都', expected: ['japanese'] },
  { q: '庁', expected: ['japanese'] },
  { q: '行きました', expected: ['japanese'] },
  { q: '특별', expected: ['korean'] },
  { q: '北京', expected: ['chinese'] },
  { q: '搜索', expected: ['chinese'] },
  { q: '大阪', expected: [] },
  { q: '京都', expected: ['japanese'] },
  // Emoji, as characters and shortcodes; skin tones fold to the base emoji.
  { q: '🎉', expected: ['emoji'] },
  { q: ':tada:', expected: ['emoji'] },
  { q: '👍', expected: ['emoji', 'slack:1458251659.000005'] },
  // Code, URLs and paths.
  { q: 'src/search/analyzer.ts', expected: ['path'] },
  { q: 'analyzer.ts:42', expected: ['path'] },
  { q: '"example.com/docs"', expected: ['path'] },
  { q: 'vitest@4', expected: ['code'] },
  { q: '"C:\\Users\\ada"', expected: ['code'] },
  { q: '"--save-dev"', expected: ['code'] },
  { q: 'setup.py', expected: SETUP_PY },
  // Phrases, exclusions and prefixes.
  { q: '"quick brown fox"', expected: ['fox'] },
  { q: '"fox quick"', expected: [] },
  { q: 'brown', expected: ['fox', 'bread'] },
  { q: 'brown -fox', expected: ['bread'] },
  { q: 'brown -"quick brown"', expected: ['bread'] },
  { q: 'brow*', expected: ['fox', 'bread'] },
  { q: 'kuber* drained', expected: ['thread-reply'] },
  { q: '"bad metaheuristic"', expected: ['slack:1458211102.000009', 'slack:1458228721.000002'] },
  // Edited and deleted messages.
  { q: 'smoothie', expected: ['edited'] },
  { q: 'mango', expected: ['edited'] },
  { q: 'banana', expected: [] },
  { q: 'pineapple', expected: [] },
  // Permissions: the private #secret and the other team never show.
  { q: 'zebra', expected: ['ops', 'random', 'dm'] },
  { q: 'zebra in:#ops', expected: ['ops'] },
  { q: 'zebra in:#secret', expected: [] },
  { q: (corpus) => `zebra in:@${corpus.bob.username}`, expected: ['dm'] },
  { q: 'zebra -in:#ops', expected: ['random', 'dm'] },
  { q: 'hidden', expected: [] },
  // People.
  { q: (corpus) => `zebra from:@${corpus.bob.username}`, expected: ['ops', 'dm'] },
  { q: (corpus) => `zebra -from:${corpus.bob.username}`, expected: ['random'] },
  { q: 'from:@nobody-here zebra', expected: [] },
  { q: (corpus) => `mentions:@${corpus.ada.username}`, expected: ['mention'] },
  { q: 'mentions:me', expected: ['mention'] },
  { q: (corpus) => `mentions:@${corpus.slackUsers.get('U0BMS113R')!.username}`, expected: ['slack:1458251629.000003', 'slack:1458972992.000011', 'slack:1459141841.000022', 'slack:1459144313.000024'] },
  { q: (corpus) => `exec.cpp from:@${corpus.slackUsers.get('U0BMS113R')!.username}`, expected: EXEC_LOGS },
  // Channels.
  { q: 'annealing in:#enrique', expected: ['slack:1458210967.000004'] },
  { q: 'houston in:#traveling-sailor', expected: ['slack:1458972916.000009', 'slack:1458972985.000010', 'slack:1459032936.000002', 'slack:1459044892.000009'] },
  // has: and is:.
  { q: 'kubernetes is:thread', expected: ['thread-root', 'thread-reply'] },
  { q: 'kubernetes -is:thread', expected: [] },
  { q: 'is:thread', expected: ['thread-root', 'thread-reply'] },
  { q: 'has:reaction', expected: ['reaction'] },
  { q: 'xylophone -has:reaction', expected: [] },
  { q: 'has:file', expected: ['file'] },
  { q: 'has:link in:#general', expected: ['path'] },
  { q: 'has:link in:#traveling-sailor', expected: ['slack:1458949481.000002', 'slack:1459052866.000012', 'slack:1459105865.000017', 'slack:1459155174.000025'] },
  // Dates (ada's time zone is UTC).
  { q: 'annual before:2023-01-01', expected: ['dated-2022'] },
  { q: 'annual after:2022-12-31', expected: ['dated-2023'] },
  { q: 'annual on:2023-05-10', expected: ['dated-2023'] },
  { q: 'annual during:2023', expected: ['dated-2023'] },
  { q: 'annual during:2022-12', expected: ['dated-2022'] },
  { q: 'executor during:2016-01', expected: ['slack:1452845865.000008', 'slack:1452845924.000009', 'slack:1452845956.000010'] },
  { q: 'executor before:2016-01-15', expected: [] },
];

interface SearchBody {
  results: Array<{ message: { id: string }; highlights: unknown[] }>;
  total: number | null;
  total_capped: boolean;
}

let server: TestServer;
let corpus: Corpus;

beforeAll(async () => {
  server = await startServer();
  corpus = await buildCorpus(server);
}, 120_000);

afterAll(async () => {
  await server.close();
});

function keysOf(body: SearchBody): string[] {
  return body.results.map((result) => corpus.keys.get(result.message.id) ?? `unknown:${result.message.id}`).sort();
}

describe('search query table', () => {
  test('has at least 40 queries', () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(40);
  });

  for (const row of TABLE) {
    const label = typeof row.q === 'string' ? row.q : row.q.toString().replace(/^\(corpus\) => /, '');
    test(`query ${label}`, async () => {
      const q = typeof row.q === 'string' ? row.q : row.q(corpus);
      for (const sort of ['relevance', 'date']) {
        const body = await corpus.ada.api.get<SearchBody>(`/api/search?q=${encodeURIComponent(q)}&sort=${sort}&limit=100`);
        expect(keysOf(body), `sort=${sort}`).toEqual([...row.expected].sort());
        expect(body.total, `total, sort=${sort}`).toBe(row.expected.length);
        expect(body.total_capped).toBe(false);
      }
    });
  }
});
