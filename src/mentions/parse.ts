import type { Nodes, Root } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import { isTooComplexForMarkdown } from './markdown-limits.js';

/**
 * Finds mentions and links in message text. Posting, editing, and later
 * notifications and search all use this one parser, so they agree on what a
 * mention is. docs/formatting.md lists the supported syntax.
 *
 * Offsets and lengths count UTF-16 code units, as JavaScript string indices do.
 */

/** Keywords that reach many people; they take precedence over users of the same name. */
export const BROADCAST_KINDS = ['channel', 'here', 'team'] as const;
export type BroadcastKind = (typeof BROADCAST_KINDS)[number];

export type MentionToken =
  | { kind: 'user'; username: string; offset: number; length: number }
  | { kind: BroadcastKind; offset: number; length: number };

export interface LinkToken {
  url: string;
  offset: number;
  length: number;
}

export interface ParsedText {
  mentions: MentionToken[];
  links: LinkToken[];
}

/**
 * Characters of a message that are parsed. Parsing costs roughly 1 to 8 µs per
 * character (micromark 4, measured on this project's 2-core test machine), so
 * a 40,000-character message would block the event loop for up to about 300 ms.
 * Mentions and links after this point are not recognised.
 */
// TODO: parse long texts in a worker thread so that the limit can go.
export const MAX_PARSED_CHARS = 10_000;

/**
 * Parts of which every link with a safe scheme contains one in its source. They are the scheme
 * itself, `www.` (GFM literal autolinks), and an address after `@`: GFM email autolinks need a dot
 * in the domain, and CommonMark's `<user@host>` a closing `>`. A character reference or a backslash
 * escape can spell the scheme in a link destination, so either one also counts.
 */
const LINK_HINT = /https?:|mailto:|www\.|@[\w-]+[.>]|[&\\]/i;

/** Maximum username length in code points, as registration allows. */
const MAX_USERNAME_CHARS = 32;

/**
 * A mention candidate: "@" then a username as registration allows it (a letter
 * or digit, then letters, digits, ".", "_" and "-"). The lookbehind rejects an
 * "@" that follows a letter, digit, or one of `.@/+-\` (addresses, paths, escapes).
 */
const MENTION = /(?<![\p{L}\p{N}\p{M}.@/+\\-])@([\p{L}\p{N}][\p{L}\p{N}._-]*)/u;

/**
 * Checks whether text may have a mention or a link, so that text without
 * either skips the parser, which costs 1 to 8 µs per character. A colon (a
 * time, an emoji code) or an `@` that starts no mention candidate (`a@b`)
 * does not count.
 */
export function mayHaveEntities(text: string): boolean {
  return MENTION.test(text) || LINK_HINT.test(text);
}

/** Link schemes returned as link entities; others (javascript:, data:...) are dropped. */
const SAFE_SCHEMES = /^(https?:|mailto:)/i;

/** Markdown nodes whose text is never scanned for mentions. */
/** GFM syntax and tree extensions, built once: building them on every call cost more than parsing a short message. */
const MARKDOWN_OPTIONS = { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] };

const OPAQUE_NODES = new Set(['code', 'inlineCode', 'link', 'linkReference', 'image', 'imageReference', 'definition']);

export function parseMessageText(text: string): ParsedText {
  if (!mayHaveEntities(text)) return { mentions: [], links: [] };

  const truncated = text.length > MAX_PARSED_CHARS;
  const source = truncated ? text.slice(0, MAX_PARSED_CHARS) : text;
  const scanned: Array<[number, number]> = [];
  const links: LinkToken[] = [];
  if (isTooComplexForMarkdown(source)) {
    // Too nested or too many delimiters to parse in bounded time: the web client shows it as plain text, so it is scanned as one.
    scanned.push([0, source.length]);
  } else {
    const tree = fromMarkdown(source, MARKDOWN_OPTIONS);
    collect(tree, scanned, links);
  }

  const mentions: MentionToken[] = [];
  for (const [start, end] of scanned) findMentions(source, start, end, mentions);
  if (!truncated) return { mentions, links };

  // A mention or link that reaches the cut may continue past it, so it is dropped rather than shortened.
  const endsBeforeCut = (token: { offset: number; length: number }) => token.offset + token.length < source.length;
  return { mentions: mentions.filter(endsBeforeCut), links: links.filter(endsBeforeCut) };
}

/**
 * Gathers the source ranges of plain text (text and raw HTML nodes, since HTML
 * is shown as text) and the links, skipping code, links and images entirely.
 */
function collect(tree: Root, scanned: Array<[number, number]>, links: LinkToken[]): void {
  // An explicit stack, because inline nesting such as emphasis can be thousands of levels deep.
  const pending: Array<Nodes | Root> = [tree];
  for (let node = pending.pop(); node !== undefined; node = pending.pop()) {
    const start = node.position?.start.offset;
    const end = node.position?.end.offset;
    if (start === undefined || end === undefined) continue;

    if (OPAQUE_NODES.has(node.type)) {
      if (node.type === 'link' && SAFE_SCHEMES.test(node.url)) links.push({ url: node.url, offset: start, length: end - start });
      continue;
    }
    if (node.type === 'text' || node.type === 'html') {
      scanned.push([start, end]);
      continue;
    }
    if ('children' in node) {
      for (let index = node.children.length - 1; index >= 0; index -= 1) pending.push(node.children[index]!);
    }
  }
}

/** Appends the mentions that start inside text[start, end); a name never extends past `end`. */
function findMentions(text: string, start: number, end: number, mentions: MentionToken[]): void {
  const pattern = new RegExp(MENTION.source, 'gu');
  pattern.lastIndex = start;
  for (let match = pattern.exec(text); match !== null && match.index < end; match = pattern.exec(text)) {
    const offset = match.index;
    // Trailing dots and hyphens end a sentence or clause, so they are not part of the name.
    const name = (match[1] ?? '').slice(0, end - offset - 1).replace(/[.-]+$/u, '');
    const length = 1 + name.length;
    // "@alice@example.com" is an address, not a mention.
    if (name === '' || text[offset + length] === '@') continue;

    const keyword = name.toLowerCase();
    if ((BROADCAST_KINDS as readonly string[]).includes(keyword)) {
      mentions.push({ kind: keyword as BroadcastKind, offset, length });
    } else if ([...name].length <= MAX_USERNAME_CHARS) {
      mentions.push({ kind: 'user', username: name, offset, length });
    }
  }
}
