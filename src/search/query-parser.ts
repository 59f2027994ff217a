import { AppError } from '../platform/errors.js';
import { analyseQuery, analyseText, isCjkToken, type QueryToken } from './analyzer.js';
import { parsePeriod } from './dates.js';

/**
 * The search language, parsed once into `SearchQuery`, which both index
 * implementations translate. docs/search.md describes the language.
 */

/** Text that must (or must not) appear: one token, or a phrase of several in order. */
export interface TextTerm {
  /** The term as typed, for error messages. */
  source: string;
  tokens: QueryToken[];
}

export type ConversationRef = { kind: 'channel'; name: string } | { kind: 'direct'; username: string };

/** Values of one operator: a match needs any of `any` (when not empty) and none of `none`. */
export interface ValueFilter<T> {
  any: T[];
  none: T[];
}

export const HAS_VALUES = ['file', 'link', 'reaction'] as const;
export type HasValue = (typeof HAS_VALUES)[number];
export const IS_VALUES = ['thread'] as const;
export type IsValue = (typeof IS_VALUES)[number];

export interface SearchQuery {
  include: TextTerm[];
  exclude: TextTerm[];
  /** Usernames (without "@"), or "me". */
  from: ValueFilter<string>;
  in: ValueFilter<ConversationRef>;
  mentions: ValueFilter<string>;
  /** Every value of `all` must hold, and none of `none`. */
  has: { all: HasValue[]; none: HasValue[] };
  is: { all: IsValue[]; none: IsValue[] };
  /** Created at or after this Unix millisecond time. */
  createdFrom: number | undefined;
  /** Created before this Unix millisecond time. */
  createdBefore: number | undefined;
}

export interface ParseOptions {
  /** The current time, which `today` and `yesterday` are relative to. */
  now: number;
  /** IANA time zone in which dates are read. */
  timeZone: string;
}

/** Most terms one query may contain. */
export const MAX_QUERY_TERMS = 32;
/** Minimum length in characters of a prefix term such as `de*`. */
export const MIN_PREFIX_CHARS = 2;

const OPERATORS = ['from', 'in', 'mentions', 'has', 'is', 'before', 'after', 'on', 'during'] as const;
type Operator = (typeof OPERATORS)[number];

const OPERATOR_TERM = /^([A-Za-z]+):(.*)$/s;

function invalid(term: string, message: string): AppError {
  return new AppError('INVALID_SEARCH_QUERY', message, { field: 'q', term });
}

/** Splits a query at whitespace outside double quotes; a quote that is never closed is an error. */
function splitTerms(query: string): string[] {
  const terms: string[] = [];
  let current = '';
  let quoted = false;
  for (const char of query) {
    if (char === '"') quoted = !quoted;
    if (!quoted && /\s/u.test(char)) {
      if (current !== '') terms.push(current);
      current = '';
      continue;
    }
    current += char;
  }
  if (quoted) throw invalid(current, `The quote in ${current} is never closed; add the closing "`);
  if (current !== '') terms.push(current);
  return terms;
}

function emptyQuery(): SearchQuery {
  return {
    include: [],
    exclude: [],
    from: { any: [], none: [] },
    in: { any: [], none: [] },
    mentions: { any: [], none: [] },
    has: { all: [], none: [] },
    is: { all: [], none: [] },
    createdFrom: undefined,
    createdBefore: undefined,
  };
}

/**
 * Parses a query such as `deploy -staging from:@ada in:#ops after:2024-01-31`.
 * Raises INVALID_SEARCH_QUERY, with the offending term in `term`, for an
 * unknown operator, an invalid value or date, an unclosed quote, a short
 * prefix, too many terms, or a query with nothing to search for.
 */
export function parseSearchQuery(text: string, options: ParseOptions): SearchQuery {
  const terms = splitTerms(text);
  if (terms.length > MAX_QUERY_TERMS) {
    throw new AppError('INVALID_SEARCH_QUERY', `A query can have at most ${MAX_QUERY_TERMS} terms`, { field: 'q', max: MAX_QUERY_TERMS });
  }

  const query = emptyQuery();
  let hasFilter = false;
  for (const term of terms) {
    const negated = term.length > 1 && term.startsWith('-');
    const body = negated ? term.slice(1) : term;
    const operator = readOperator(term, body);
    if (operator !== undefined) {
      applyOperator(query, term, operator.name, operator.value, negated, options);
      hasFilter = true;
      continue;
    }
    const textTerm = readText(term, body);
    if (textTerm.tokens.length === 0) continue;
    (negated ? query.exclude : query.include).push(textTerm);
  }

  if (query.include.length === 0 && !hasFilter) {
    const message =
      query.exclude.length > 0
        ? 'A query of only excluded words matches almost everything; add a word, a phrase or a filter'
        : 'The query has no words or filters to search for';
    throw invalid(text, message);
  }
  return query;
}

/** Reads `name:value` as an operator; text with a colon that is not one (a URL, "12:30") returns undefined. */
function readOperator(term: string, body: string): { name: Operator; value: string } | undefined {
  if (body.startsWith('"')) return undefined;
  const match = OPERATOR_TERM.exec(body);
  if (match === null) return undefined;
  const name = match[1]!.toLowerCase();
  const value = match[2]!;
  if (value === '' || value.startsWith('/') || value.startsWith(':')) return undefined;
  if (!(OPERATORS as readonly string[]).includes(name)) {
    throw invalid(term, `Unknown search operator "${name}:" in ${term}; use one of ${OPERATORS.map((item) => `${item}:`).join(', ')}, or put the term in quotes to search for it as text`);
  }
  return { name: name as Operator, value };
}

function readText(term: string, body: string): TextTerm {
  if (body.startsWith('"')) {
    if (body.length < 2 || !body.endsWith('"')) throw invalid(term, `The phrase ${term} must end with its closing quote`);
    return { source: term, tokens: analyseQuery(body.slice(1, -1)) };
  }
  if (body.includes('"')) throw invalid(term, `Quotes must enclose a whole phrase, as in "exact words"; ${term} has one inside a word`);

  if (body.length > 1 && body.endsWith('*')) return readPrefix(term, body.slice(0, -1));
  return { source: term, tokens: analyseQuery(body) };
}

/** Reads `word*`: the folded word before stemming must begin with the prefix. */
function readPrefix(term: string, base: string): TextTerm {
  const tokens = analyseQuery(base);
  const lastWord = analyseText(base).at(-1);
  const last = tokens.at(-1);
  if (last === undefined || lastWord === undefined) return { source: term, tokens: [] };
  // A CJK token already matches anywhere inside a run, so it needs no prefix.
  if (last.prefix || isCjkToken(last.term)) return { source: term, tokens };

  // The prefix is matched unstemmed, so "deploying*" does not become "deploy*".
  if (Array.from(lastWord.word).length < MIN_PREFIX_CHARS) {
    throw invalid(term, `A prefix needs at least ${MIN_PREFIX_CHARS} characters before the *, as in de*; ${term} has fewer`);
  }
  tokens[tokens.length - 1] = { term: lastWord.word, prefix: true };
  return { source: term, tokens };
}

function applyOperator(query: SearchQuery, term: string, name: Operator, value: string, negated: boolean, options: ParseOptions): void {
  switch (name) {
    case 'from':
    case 'mentions': {
      const username = readUsername(term, value);
      (negated ? query[name].none : query[name].any).push(username);
      return;
    }
    case 'in': {
      const ref = readConversation(term, value);
      (negated ? query.in.none : query.in.any).push(ref);
      return;
    }
    case 'has':
      (negated ? query.has.none : query.has.all).push(readChoice(term, value, HAS_VALUES));
      return;
    case 'is':
      (negated ? query.is.none : query.is.all).push(readChoice(term, value, IS_VALUES));
      return;
    default:
      applyDate(query, term, name, value, negated, options);
  }
}

function readUsername(term: string, value: string): string {
  const name = value.startsWith('@') ? value.slice(1) : value;
  if (name === '') throw invalid(term, `${term} needs a username after the @`);
  return name;
}

function readConversation(term: string, value: string): ConversationRef {
  if (value.startsWith('@')) return { kind: 'direct', username: readUsername(term, value) };
  const name = value.startsWith('#') ? value.slice(1) : value;
  if (name === '') throw invalid(term, `${term} needs a channel name after the #`);
  return { kind: 'channel', name: name.toLowerCase() };
}

function readChoice<T extends string>(term: string, value: string, choices: readonly T[]): T {
  const choice = value.toLowerCase();
  if ((choices as readonly string[]).includes(choice)) return choice as T;
  const operator = term.replace(/^-/, '').split(':')[0];
  throw invalid(term, `Unknown value in ${term}; ${operator}: takes ${choices.join(', ')}`);
}

function applyDate(query: SearchQuery, term: string, name: 'before' | 'after' | 'on' | 'during', value: string, negated: boolean, options: ParseOptions): void {
  if (negated) throw invalid(term, `Date operators cannot be excluded; use before: or after: instead of ${term}`);
  const period = parsePeriod(value, options.now, options.timeZone);
  if (period === undefined) {
    throw invalid(term, `Invalid date in ${term}; use YYYY-MM-DD, YYYY-MM, YYYY, today, yesterday or a month name`);
  }

  if (name === 'before') query.createdBefore = Math.min(query.createdBefore ?? Infinity, period.start);
  if (name === 'after') query.createdFrom = Math.max(query.createdFrom ?? -Infinity, period.end);
  if (name === 'on' || name === 'during') {
    query.createdFrom = Math.max(query.createdFrom ?? -Infinity, period.start);
    query.createdBefore = Math.min(query.createdBefore ?? Infinity, period.end);
  }
}
