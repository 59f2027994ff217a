/**
 * Limits on Markdown that micromark 4 parses in more than linear time. The
 * time grows with the square of the nesting depth of block quotes and list
 * items, and of the number of emphasis delimiters. Measured on a shared
 * 2-core machine under a load of about 10: 2,000 nested list items
 * ("- - - … @ada", 4,000 characters) took 6 s. 5,000 nested quotes overflowed
 * the call stack. 4,990 asterisks on each side of a word took 8 s.
 * The server and the web client both parse message text, so one such message
 * would stall the node and every reader's browser. A text past a limit is
 * treated as plain text instead.
 */

/** Returns true when the text must not go through the Markdown parser. */
export function isTooComplexForMarkdown(text: string): boolean {
  return exceedsMarkdownNesting(text) || countEmphasisDelimiters(text) > MAX_EMPHASIS_DELIMITERS;
}

/**
 * Maximum emphasis delimiter characters (`*`, `_`, `~`) outside fenced code
 * blocks. At 500, the slowest arrangement measured took 0.17 s under a load of about 16.
 */
export const MAX_EMPHASIS_DELIMITERS = 500;

/** Counts `*`, `_` and `~` outside fenced code blocks, where micromark looks for emphasis. */
export function countEmphasisDelimiters(text: string): number {
  let count = 0;
  let inFence = false;
  for (const line of text.split('\n')) {
    if (/^ {0,3}(```|~~~)/.test(line)) {
      inFence = !inFence;
      continue;
    }
    if (inFence) continue;
    for (const char of line) if (char === '*' || char === '_' || char === '~') count += 1;
  }
  return count;
}

/** Maximum block containers (quotes and list items) one line may open. Real messages use a handful. */
export const MAX_MARKDOWN_NESTING = 32;

/**
 * Returns true when some line opens more than MAX_MARKDOWN_NESTING block
 * containers. Each `>` and each list marker (`-`, `*`, `+`, `1.`, `1)`) at the
 * start of a line counts one level, and so do every two columns of indentation
 * before or between them once the line has a marker. Runs in linear time.
 */
export function exceedsMarkdownNesting(text: string): boolean {
  let depth = 0;
  let markers = 0;
  let indent = 0;
  let inPrefix = true;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index]!;
    if (char === '\n' || char === '\r') {
      depth = 0;
      markers = 0;
      indent = 0;
      inPrefix = true;
      continue;
    }
    if (!inPrefix) continue;

    if (char === ' ' || char === '\t') {
      indent += char === '\t' ? 4 : 1;
    } else if (char === '>') {
      markers += 1;
    } else if ((char === '-' || char === '*' || char === '+') && isMarkerEnd(text, index + 1)) {
      markers += 1;
    } else if (isDigit(char)) {
      const end = skipDigits(text, index);
      if (end - index > 9 || (text[end] !== '.' && text[end] !== ')') || !isMarkerEnd(text, end + 1)) {
        inPrefix = false;
        continue;
      }
      markers += 1;
      index = end;
    } else {
      inPrefix = false;
      continue;
    }
    depth = markers + (markers > 0 ? Math.floor(indent / 2) : 0);
    if (depth > MAX_MARKDOWN_NESTING) return true;
  }
  return false;
}

function isMarkerEnd(text: string, index: number): boolean {
  const next = text[index];
  return next === undefined || next === ' ' || next === '\t' || next === '\n' || next === '\r';
}

function isDigit(char: string): boolean {
  return char >= '0' && char <= '9';
}

function skipDigits(text: string, start: number): number {
  let index = start;
  while (index < text.length && isDigit(text[index]!)) index += 1;
  return index;
}
