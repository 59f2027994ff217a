import type { Db } from '../storage/database.js';
import { analyseText, ASCII_RAW_TOKEN, NON_ASCII, stemWord, type QueryToken, type Token } from './analyzer.js';
import { fileDocument } from './indexing.js';
import { findFilesByIds, findMessageTexts } from './queries.js';
import type { TextTerm } from './query-parser.js';
import type { SearchHit } from './search-index.js';

/** BM25's term-frequency saturation and length normalisation, with the usual constants. */
const K1 = 1.2;
const B = 0.75;

/** True when a stored token matches a query token: the same term, or for a prefix, a term or word that begins with it. */
export function tokenMatches(token: Token, query: QueryToken): boolean {
  if (!query.prefix) return token.term === query.term;
  return token.term.startsWith(query.term) || token.word.startsWith(query.term);
}

/** Counts the places where a term (one token or a phrase) matches a token sequence. */
function countMatches(tokens: readonly Token[], term: TextTerm): number {
  let count = 0;
  const length = term.tokens.length;
  for (let start = 0; start + length <= tokens.length; start += 1) {
    if (term.tokens.every((query, offset) => tokenMatches(tokens[start + offset]!, query))) count += 1;
  }
  return count;
}

/** Term frequencies of one text and its length in tokens. */
export interface TextCounts {
  length: number;
  frequencies: number[];
}

/** True for a term that the fast counter handles: one ASCII token. */
function isSimpleTerm(term: TextTerm): boolean {
  return term.tokens.length === 1 && !NON_ASCII.test(term.tokens[0]!.term);
}

/**
 * Counts single-token ASCII terms in an ASCII text without building tokens,
 * which is most of ranking's time otherwise. It reads words as the
 * analyser's ASCII path does. `matchesByWord` remembers which terms each
 * distinct word matches, so each word is stemmed and compared once per
 * ranking.
 */
function countSimpleTerms(text: string, terms: readonly TextTerm[], matchesByWord: Map<string, number[]>): TextCounts {
  const queries = terms.map((term) => term.tokens[0]!);
  const frequencies = queries.map(() => 0);
  let length = 0;
  for (const match of text.matchAll(ASCII_RAW_TOKEN)) {
    length += 1;
    const raw = match[0];
    if (raw.charCodeAt(0) === COLON && raw.length > 2) return countByAnalysis(text, terms);
    let matched = matchesByWord.get(raw);
    if (matched === undefined) {
      const lower = raw.toLowerCase();
      const word = lower.includes("'") ? lower.replaceAll("'", '') : lower;
      const token: Token = { term: stemWord(word), word, start: 0, end: 0 };
      matched = queries.flatMap((query, index) => (tokenMatches(token, query) ? [index] : []));
      matchesByWord.set(raw, matched);
    }
    for (const index of matched) frequencies[index]! += 1;
  }
  return { length, frequencies };
}

const COLON = 0x3a;

/** Counts the terms in a text through the full analyser. */
export function countByAnalysis(text: string, terms: readonly TextTerm[]): TextCounts {
  const tokens = analyseText(text);
  return { length: tokens.length, frequencies: terms.map((term) => countMatches(tokens, term)) };
}

/**
 * Counts the terms in a text, taking the fast path when both are plain ASCII
 * words. Pass the same `matchesByWord` for every text of one ranking.
 */
export function countTerms(text: string, terms: readonly TextTerm[], matchesByWord = new Map<string, number[]>()): TextCounts {
  if (!NON_ASCII.test(text) && terms.every(isSimpleTerm)) return countSimpleTerms(text, terms, matchesByWord);
  return countByAnalysis(text, terms);
}

/**
 * Scores and orders candidates by relevance, best first, then newest first.
 * The score is BM25 without inverse document frequency, so every query term
 * weighs the same. Computing IDF needs a count of each term's documents in the
 * whole index: FTS5's bm25() spent about 90 ms on it, even with LIMIT 1, for
 * a word in 768,000 of the 1,000,000 messages of bench/search.ts (busy 2-core
 * machine). Texts are analysed with the indexing analyser. SQLite ranks
 * with this function; PostgreSQL uses it only for a query without words.
 */
export async function rankCandidates(db: Db, hits: readonly SearchHit[], terms: readonly TextTerm[]): Promise<SearchHit[]> {
  if (terms.length === 0) return [...hits].sort((a, b) => b.docId - a.docId).map((hit) => ({ ...hit, score: 0 }));

  const counts = await loadCounts(db, hits, terms);
  const empty: TextCounts = { length: 0, frequencies: terms.map(() => 0) };
  const averageLength = Math.max(1, [...counts.values()].reduce((sum, item) => sum + item.length, 0) / Math.max(1, hits.length));

  const scored = hits.map((hit) => {
    const { length, frequencies } = counts.get(hit.docId) ?? empty;
    const normalisation = K1 * (1 - B + (B * length) / averageLength);
    const score = frequencies.reduce((sum, frequency) => sum + (frequency * (K1 + 1)) / (frequency + normalisation), 0);
    return { ...hit, score };
  });
  return orderByRelevance(scored);
}

/** Sorts scored hits best first, then newest first. */
export function orderByRelevance(hits: Array<SearchHit & { score: number }>): SearchHit[] {
  return hits.sort((a, b) => b.score - a.score || b.docId - a.docId);
}

/** Counts the terms in each candidate: a message's text, or a file's name and type. */
async function loadCounts(db: Db, hits: readonly SearchHit[], terms: readonly TextTerm[]): Promise<Map<number, TextCounts>> {
  const counts = new Map<number, TextCounts>();
  const messageIds = hits.flatMap((hit) => (hit.messageId === null ? [] : [hit.messageId]));
  const texts = new Map((await findMessageTexts(db, messageIds)).map((row) => [row.id, row.text]));
  const fileIds = hits.flatMap((hit) => (hit.fileId === null ? [] : [hit.fileId]));
  const files = new Map((await findFilesByIds(db, fileIds)).map((file) => [file.id, file]));

  const matchesByWord = new Map<string, number[]>();
  for (const hit of hits) {
    const file = hit.fileId === null ? undefined : files.get(hit.fileId);
    if (file !== undefined) {
      const tokens = fileDocument(file).tokens;
      counts.set(hit.docId, { length: tokens.length, frequencies: terms.map((term) => countMatches(tokens, term)) });
    }
    const text = hit.messageId === null ? undefined : texts.get(hit.messageId);
    if (text !== undefined) counts.set(hit.docId, countTerms(text, terms, matchesByWord));
  }
  return counts;
}
