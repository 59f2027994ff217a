/** Helpers of the search view that do not render: query terms and highlighted snippets. */

/** Characters of context shown around the first highlight of a long message. */
const SNIPPET_CONTEXT = 120;

export interface Highlight {
  offset: number;
  length: number;
}

/** A piece of a snippet: plain text, a matched span, or an ellipsis where text was cut. */
export interface SnippetPart {
  text: string;
  match: boolean;
}

/** Splits a query into its terms, keeping quoted phrases and quoted operator values whole. */
export function termsOf(query: string): string[] {
  return query.match(/-?[a-z]+:"[^"]*"|-?"[^"]*"?|\S+/gi) ?? [];
}

/** Adds a term to a query, or removes it when present (case-insensitively), as a filter chip does. */
export function toggleTerm(query: string, term: string): string {
  const terms = termsOf(query);
  const present = terms.some((candidate) => candidate.toLowerCase() === term.toLowerCase());
  return (present ? terms.filter((candidate) => candidate.toLowerCase() !== term.toLowerCase()) : [...terms, term]).join(' ');
}

export function hasTerm(query: string, term: string): boolean {
  return termsOf(query).some((candidate) => candidate.toLowerCase() === term.toLowerCase());
}

/**
 * Splits a result's text at its highlights. The highlights are UTF-16
 * offsets into the raw text (docs/search.md), so the snippet is the raw text,
 * without Markdown. A long text is cut to a window around its first match.
 */
export function snippetParts(text: string, highlights: Highlight[]): SnippetPart[] {
  const sorted = [...highlights].sort((a, b) => a.offset - b.offset);
  const first = sorted[0]?.offset ?? 0;
  const start = text.length > SNIPPET_CONTEXT * 3 ? Math.max(0, first - SNIPPET_CONTEXT) : 0;
  const end = Math.min(text.length, start + SNIPPET_CONTEXT * 3);
  const parts: SnippetPart[] = start > 0 ? [{ text: '…', match: false }] : [];
  let position = start;
  for (const span of sorted) {
    const from = Math.max(span.offset, position);
    const to = Math.min(span.offset + span.length, end);
    if (to <= from) continue;
    if (from > position) parts.push({ text: text.slice(position, from), match: false });
    parts.push({ text: text.slice(from, to), match: true });
    position = to;
  }
  if (position < end) parts.push({ text: text.slice(position, end), match: false });
  if (end < text.length) parts.push({ text: '…', match: false });
  return parts;
}
