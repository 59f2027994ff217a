import { createRequire } from 'node:module';

/**
 * Emoji validation from emojibase-data (English data set, Unicode emoji and
 * GitHub and Emojibase shortcodes). A reaction is one emoji of that data set,
 * skin-tone variants included, given as the emoji itself or as a shortcode.
 * Variation selectors are ignored when matching and the emoji is stored in
 * its fully-qualified form, so "❤", "❤️" and ":heart:" are one reaction.
 */
export interface KnownEmoji {
  /** Fully-qualified Unicode sequence, as stored and returned. */
  emoji: string;
  /** The preferred shortcode, without colons. */
  shortcode: string;
}

interface DataEmoji {
  hexcode: string;
  /** 0 when the emoji shows as text unless followed by U+FE0F, 1 when it shows as emoji. */
  type?: number;
  skins?: DataEmoji[];
}

type ShortcodeFile = Record<string, string | string[]>;

interface EmojiIndex {
  byHexcode: Map<string, KnownEmoji>;
  byShortcode: Map<string, KnownEmoji>;
}

let index: EmojiIndex | undefined;

/** Strips the variation selectors, which the data set's shortcode files leave out of their keys. */
function hexKey(hexcode: string): string {
  return hexcode
    .split('-')
    .filter((part) => part !== 'FE0F' && part !== 'FE0E')
    .join('-');
}

/**
 * Builds the fully-qualified sequence. Emojibase's `emoji` field adds U+FE0F
 * to every emoji (also to "👍", which Unicode's emoji-test.txt lists without
 * it), so the sequence is built from the hexcode, which keeps the selectors a
 * sequence needs, and a lone text-default character gets U+FE0F.
 */
function fullyQualified(entry: DataEmoji): string {
  const codePoints = entry.hexcode.split('-').map((hex) => Number.parseInt(hex, 16));
  if (codePoints.length === 1 && entry.type === 0) codePoints.push(0xfe0f);
  return String.fromCodePoint(...codePoints);
}

function toHexcode(text: string): string {
  return [...text].map((char) => (char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')).join('-');
}

/** Loads the data set once, on first use: about 4,000 emoji with their skin tones. */
function loadIndex(): EmojiIndex {
  const require = createRequire(import.meta.url);
  const emoji = require('emojibase-data/en/data.json') as DataEmoji[];
  const github = require('emojibase-data/en/shortcodes/github.json') as ShortcodeFile;
  const emojibase = require('emojibase-data/en/shortcodes/emojibase.json') as ShortcodeFile;
  const listOf = (value: string | string[] | undefined) => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

  const byHexcode = new Map<string, KnownEmoji>();
  const byShortcode = new Map<string, KnownEmoji>();
  for (const entry of emoji.flatMap((item) => [item, ...(item.skins ?? [])])) {
    const key = hexKey(entry.hexcode);
    const shortcodes = [...listOf(github[key]), ...listOf(emojibase[key])];
    const known: KnownEmoji = { emoji: fullyQualified(entry), shortcode: shortcodes[0] ?? key.toLowerCase() };
    byHexcode.set(key, known);
    for (const shortcode of shortcodes) {
      if (!byShortcode.has(shortcode)) byShortcode.set(shortcode, known);
    }
  }
  return { byHexcode, byShortcode };
}

/** Shortcode form: ":name:" or "name", with the characters shortcodes use. */
const SHORTCODE = /^:?([a-z0-9_+-]+):?$/i;

/** Returns the emoji a reaction names, or undefined when it is not a known emoji or shortcode. */
export function findEmoji(input: string): KnownEmoji | undefined {
  index ??= loadIndex();
  const shortcode = SHORTCODE.exec(input)?.[1];
  if (shortcode !== undefined) return index.byShortcode.get(shortcode.toLowerCase());
  return index.byHexcode.get(hexKey(toHexcode(input)));
}
