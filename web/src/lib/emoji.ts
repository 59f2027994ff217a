/**
 * Emoji shortcodes for the composer and the reaction picker: GitHub's set
 * from emojibase-data, the data set the server validates reactions against.
 * It loads on first use, in a chunk of its own, so it does not delay the
 * first page.
 */
export interface EmojiEntry {
  shortcode: string;
  emoji: string;
}

/** Emoji offered first in the reaction picker. */
export const QUICK_REACTIONS: EmojiEntry[] = [
  { shortcode: '+1', emoji: '👍' },
  { shortcode: 'heart', emoji: '❤️' },
  { shortcode: 'joy', emoji: '😂' },
  { shortcode: 'tada', emoji: '🎉' },
  { shortcode: 'eyes', emoji: '👀' },
  { shortcode: 'pray', emoji: '🙏' },
  { shortcode: 'white_check_mark', emoji: '✅' },
  { shortcode: 'fire', emoji: '🔥' },
];

let entries: EmojiEntry[] | undefined;
let byShortcode: Map<string, string> | undefined;
let loading: Promise<void> | undefined;

/**
 * Builds the emoji from a hexcode key. The shortcode file leaves out
 * variation selectors, so a lone character below the emoji planes gets
 * U+FE0F to show as an emoji rather than as text.
 */
function fromHexcode(hexcode: string): string {
  const codePoints = hexcode.split('-').map((hex) => Number.parseInt(hex, 16));
  if (codePoints.length === 1 && codePoints[0]! < 0x1f000) codePoints.push(0xfe0f);
  return String.fromCodePoint(...codePoints);
}

export function loadEmoji(): Promise<void> {
  loading ??= import('emojibase-data/en/shortcodes/github.json').then((module) => {
    const data = module.default as Record<string, string | string[]>;
    const list: EmojiEntry[] = [];
    for (const [hexcode, codes] of Object.entries(data)) {
      const emoji = fromHexcode(hexcode);
      for (const shortcode of Array.isArray(codes) ? codes : [codes]) list.push({ shortcode, emoji });
    }
    list.sort((a, b) => a.shortcode.localeCompare(b.shortcode));
    entries = list;
    byShortcode = new Map(list.map((entry) => [entry.shortcode, entry.emoji]));
  });
  return loading;
}

/** Returns the emoji of a shortcode (without colons), or undefined while the data is loading or for an unknown one. */
export function emojiFor(shortcode: string): string | undefined {
  return byShortcode?.get(shortcode.toLowerCase());
}

/** Returns up to `limit` emoji whose shortcode starts with the query, then those that contain it. */
export function searchEmoji(query: string, limit = 8): EmojiEntry[] {
  if (entries === undefined) {
    void loadEmoji();
    return [];
  }
  const needle = query.toLowerCase();
  const starts = entries.filter((entry) => entry.shortcode.startsWith(needle));
  const contains = entries.filter((entry) => !entry.shortcode.startsWith(needle) && entry.shortcode.includes(needle));
  return [...starts, ...contains].slice(0, limit);
}

/** Replaces every known :shortcode: in a text with its emoji. */
export function replaceShortcodes(text: string): string {
  if (byShortcode === undefined) return text;
  return text.replace(/:([a-z0-9_+-]+):/gi, (match, code: string) => emojiFor(code) ?? match);
}
