import { stem } from 'porter2';
import { findEmoji } from '../reactions/emoji.js';

/**
 * The text analyser of search. Indexing, queries and highlighting all use it,
 * and both index implementations store exactly the terms it produces, so
 * SQLite and PostgreSQL match the same messages.
 *
 * A document becomes a sequence of tokens, each with:
 * - `term`: the folded word, stemmed when it is an English word (Porter2),
 *   which is what words and phrases match;
 * - `word`: the folded word before stemming, which prefixes also match;
 * - `start`/`end`: its place in the original text, in UTF-16 code units.
 *
 * Folding: compatibility forms (full-width letters, ligatures) are unified,
 * case is folded, and accents are removed from Latin, Greek and Cyrillic
 * letters. Words are runs of letters, digits and marks; an apostrophe inside
 * a word is dropped ("user's" becomes "users"). Everything else separates
 * words, so code, URLs and paths become their parts
 * ("src/app.ts" is "src", "app", "ts") and match as a phrase of those parts.
 *
 * Chinese, Japanese and Korean runs are split into overlapping character
 * pairs (bigrams), and the run's last character is added alone, so any
 * substring of a run can be found: see `analyseQuery`. Emoji are tokens of
 * their own, without skin tones or variation selectors, and a known
 * `:shortcode:` is the same token as its emoji.
 */
export interface Token {
  term: string;
  word: string;
  start: number;
  end: number;
}

/** A query token: exact, or a prefix of a word (`prefix` true). */
export interface QueryToken {
  term: string;
  prefix: boolean;
}

/** Maximum token length in code points. Longer runs (hashes, base64) are cut, in documents and queries alike. */
export const MAX_TOKEN_CHARS = 100;

/** Script of a run that whitespace does not split: Han, kana, Hangul and Bopomofo, with the kana iteration and length marks. */
const CJK_CHAR = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Bopomofo}\u3005-\u3007\u30fc\uff70\u3099\u309a\uff9e\uff9f]/u;
const CJK_SPLIT = /([\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Bopomofo}\u3005-\u3007\u30fc\uff70\u3099\u309a\uff9e\uff9f]+)/u;
/** Voiced-sound marks that belong to the kana before them. */
const KANA_MARK = /^[\u3099\u309a\uff9e\uff9f]$/u;

/**
 * One raw token of the original text: a `:shortcode:`, an emoji sequence
 * (flags, keycaps, ZWJ sequences with modifiers) or a run of letters, digits
 * and marks with inner apostrophes.
 */
const RAW_TOKEN = new RegExp(
  [
    ':[a-z0-9_+-]+:',
    '\\p{Regional_Indicator}\\p{Regional_Indicator}',
    '[0-9#*]\\ufe0f?\\u20e3',
    '\\p{Extended_Pictographic}[\\ufe0e\\ufe0f\\p{Emoji_Modifier}]*(?:\\u200d\\p{Extended_Pictographic}[\\ufe0e\\ufe0f\\p{Emoji_Modifier}]*)*',
    "[\\p{L}\\p{N}\\p{M}]+(?:['\\u2019][\\p{L}\\p{N}\\p{M}]+)*",
  ].join('|'),
  'giu',
);

/** The raw tokens of pure ASCII text, which most chat text is: shortcodes and words. */
export const ASCII_RAW_TOKEN = /:[a-z0-9_+-]+:|[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*/gi;
export const NON_ASCII = /[^\x00-\x7f]/;

const EMOJI_START = /^[\p{Extended_Pictographic}\p{Regional_Indicator}]|^[0-9#*]\ufe0f?\u20e3/u;
const EMOJI_NOISE = /[\ufe0e\ufe0f\p{Emoji_Modifier}]/gu;
const ASCII_WORD = /^[A-Za-z0-9'\u2019]+$/;
const COLON = 0x3a;
const FOLDABLE_SCRIPT = /^[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}\p{N}\p{M}]+$/u;
const MARKS = /\p{M}/gu;
const APOSTROPHES = /['\u2019]/g;
const ENGLISH_WORD = /^[a-z]{3,}$/;

/** Letters that neither decomposition nor case folding maps to plain Latin letters. */
const SPECIAL_FOLDS: Record<string, string> = { ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', đ: 'd', ð: 'd', ł: 'l', þ: 'th', ı: 'i', ς: 'σ' };
const SPECIAL_LETTERS = /[ßæœøđðłþıς]/g;

/** Most stems kept in memory; the vocabulary of a chat server is far smaller than the text. */
const STEM_CACHE_SIZE = 200_000;
const stemCache = new Map<string, string>();

/** Returns a folded word's stem; words that are not English words of 3+ letters are their own stem. */
export function stemWord(word: string): string {
  let stemmed = stemCache.get(word);
  if (stemmed === undefined) {
    if (stemCache.size >= STEM_CACHE_SIZE) stemCache.clear();
    stemmed = ENGLISH_WORD.test(word) ? stem(word) : word;
    stemCache.set(word, stemmed);
  }
  return stemmed;
}

/** Any UTF-16 surrogate: half of a code point above U+FFFF. */
const SURROGATE = /[\ud800-\udfff]/;

function truncate(text: string): string {
  if (text.length <= MAX_TOKEN_CHARS) return text;
  // Without a surrogate in the first MAX_TOKEN_CHARS code units, those units are the first as many
  // code points, so the cut needs no array of the whole token's code points.
  const head = text.slice(0, MAX_TOKEN_CHARS);
  if (!SURROGATE.test(head)) return head;
  return Array.from(text).slice(0, MAX_TOKEN_CHARS).join('');
}

/** Folds one word of a non-CJK script: compatibility forms, case, accents. */
export function foldWord(raw: string): string {
  if (ASCII_WORD.test(raw)) {
    const lower = raw.toLowerCase();
    return truncate(lower.includes("'") || lower.includes('\u2019') ? lower.replace(APOSTROPHES, '') : lower);
  }
  let folded = raw.normalize('NFKD');
  folded = FOLDABLE_SCRIPT.test(folded) ? folded.replace(MARKS, '') : folded.normalize('NFC');
  folded = folded.toLowerCase().replace(APOSTROPHES, '').replace(SPECIAL_LETTERS, (letter) => SPECIAL_FOLDS[letter] ?? letter);
  return truncate(folded);
}

/** Folds an emoji sequence: no variation selectors, no skin tones. */
function foldEmoji(raw: string): string {
  return raw.replace(EMOJI_NOISE, '');
}

/** A run of CJK characters, as characters with their places in the original text. */
interface CjkChar {
  text: string;
  start: number;
  end: number;
}

/** Splits a CJK run into characters, folding half-width forms and joining voiced-sound marks to their kana. */
function cjkChars(run: string, offset: number): CjkChar[] {
  const chars: CjkChar[] = [];
  let position = offset;
  for (const char of run) {
    const end = position + char.length;
    const previous = chars[chars.length - 1];
    if (KANA_MARK.test(char) && previous !== undefined) {
      previous.text += char;
      previous.end = end;
    } else {
      chars.push({ text: char, start: position, end });
    }
    position = end;
  }
  for (const char of chars) char.text = char.text.normalize('NFKC');
  return chars;
}

/** Emits the tokens of a CJK run in a document: each pair of neighbours, then the last character alone. */
function pushCjkRun(tokens: Token[], run: string, offset: number): void {
  const chars = cjkChars(run, offset);
  for (let index = 0; index + 1 < chars.length; index += 1) {
    const first = chars[index]!;
    const second = chars[index + 1]!;
    const pair = first.text + second.text;
    tokens.push({ term: pair, word: pair, start: first.start, end: second.end });
  }
  const last = chars[chars.length - 1];
  if (last !== undefined) tokens.push({ term: last.text, word: last.text, start: last.start, end: last.end });
}

function pushWord(tokens: Token[], raw: string, offset: number): void {
  const word = foldWord(raw);
  if (word === '') return;
  tokens.push({ term: stemWord(word), word, start: offset, end: offset + raw.length });
}

/** Splits a text into tokens, in order, with their places in the original text. */
export function analyseText(text: string): Token[] {
  const tokens: Token[] = [];
  const pattern = NON_ASCII.test(text) ? RAW_TOKEN : ASCII_RAW_TOKEN;
  for (const match of text.matchAll(pattern)) {
    const raw = match[0];
    const start = match.index;

    if (raw.charCodeAt(0) === COLON && raw.length > 2) {
      const emoji = findEmoji(raw.toLowerCase());
      if (emoji !== undefined) {
        const term = foldEmoji(emoji.emoji);
        tokens.push({ term, word: term, start, end: start + raw.length });
      } else {
        pushShortcodeText(tokens, raw.slice(1, -1), start + 1);
      }
      continue;
    }
    if (pattern === ASCII_RAW_TOKEN) {
      // The pattern matched ASCII letters and digits with inner apostrophes only, so folding is lowercasing.
      let word = raw.toLowerCase();
      if (word.length > MAX_TOKEN_CHARS || word.includes("'")) word = truncate(word.replace(APOSTROPHES, ''));
      tokens.push({ term: stemWord(word), word, start, end: start + raw.length });
      continue;
    }
    if (EMOJI_START.test(raw)) {
      const term = foldEmoji(raw);
      tokens.push({ term, word: term, start, end: start + raw.length });
      continue;
    }
    pushRun(tokens, raw, start);
  }
  return tokens;
}

/** Tokenises a run of word characters, which may mix CJK and other scripts. */
function pushRun(tokens: Token[], raw: string, start: number): void {
  if (ASCII_WORD.test(raw) || !CJK_CHAR.test(raw)) {
    pushWord(tokens, raw, start);
    return;
  }
  let offset = start;
  for (const part of raw.split(CJK_SPLIT)) {
    if (part === '') continue;
    if (CJK_CHAR.test(part[0]!)) pushCjkRun(tokens, part, offset);
    else pushWord(tokens, part, offset);
    offset += part.length;
  }
}

/** Tokenises the inside of an unknown `:shortcode:`, where "_", "+" and "-" separate words. */
function pushShortcodeText(tokens: Token[], inner: string, start: number): void {
  for (const part of inner.matchAll(/[^_+-]+/g)) pushRun(tokens, part[0], start + part.index);
}

/**
 * Analyses the text of one query term, which becomes a single token or a
 * phrase. CJK runs become their character pairs, which match any substring of
 * a stored run. The run's last character alone is added only when another
 * token follows, because in stored text that single character is between
 * the run and the next token. A run of one character at the end matches as a
 * prefix, which finds it at any place in a stored run.
 */
export function analyseQuery(text: string): QueryToken[] {
  const tokens = analyseText(text);
  const output: QueryToken[] = [];
  for (let index = 0; index < tokens.length; index += 1) {
    const token = tokens[index]!;
    if (!isCjkToken(token.term)) {
      output.push({ term: token.term, prefix: false });
      continue;
    }

    // A stored run emits pairs, then its last character alone; the query run is read the same way.
    const isSingle = Array.from(token.term).length === 1;
    const isLast = index === tokens.length - 1;
    if (!isSingle) {
      output.push({ term: token.term, prefix: false });
      continue;
    }
    const closesLongerRun = index > 0 && isCjkToken(tokens[index - 1]!.term) && Array.from(tokens[index - 1]!.term).length === 2 && tokens[index - 1]!.end === token.end;
    if (closesLongerRun && isLast) continue;
    output.push({ term: token.term, prefix: isLast && !closesLongerRun });
  }
  return output;
}

/** True for a token of a CJK run, which substring matching already covers. */
export function isCjkToken(term: string): boolean {
  return CJK_CHAR.test(term[0] ?? '');
}
