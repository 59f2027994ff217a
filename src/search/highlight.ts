import { analyseText } from './analyzer.js';
import type { TextTerm } from './query-parser.js';
import { tokenMatches } from './rank.js';

/** A highlighted span of text, in UTF-16 code units, as JavaScript string indices count. */
export interface Highlight {
  offset: number;
  length: number;
}

/**
 * Finds where the included terms match a text, with the analyser that
 * indexed it, so the spans cover exactly what the index matched: whole
 * words (also those matched by their stem), whole phrases, and the
 * characters of a CJK substring. Overlapping spans are merged.
 */
export function findHighlights(text: string, terms: readonly TextTerm[]): Highlight[] {
  if (terms.length === 0 || text === '') return [];
  const tokens = analyseText(text);
  const spans: Array<[number, number]> = [];

  for (const term of terms) {
    const length = term.tokens.length;
    for (let start = 0; start + length <= tokens.length; start += 1) {
      if (!term.tokens.every((query, offset) => tokenMatches(tokens[start + offset]!, query))) continue;
      spans.push([tokens[start]!.start, tokens[start + length - 1]!.end]);
    }
  }

  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: Array<[number, number]> = [];
  for (const span of spans) {
    const last = merged[merged.length - 1];
    if (last !== undefined && span[0] <= last[1]) last[1] = Math.max(last[1], span[1]);
    else merged.push([span[0], span[1]]);
  }
  return merged.map(([start, end]) => ({ offset: start, length: end - start }));
}
