import { AppError } from '../platform/errors.js';

/**
 * Checks message text and returns it unchanged: the server keeps text byte for
 * byte (emoji sequences, right-to-left marks, combining characters) and never
 * normalises it. Rejects blank text, NUL and unpaired UTF-16 surrogates, which
 * could not round-trip through UTF-8 storage.
 */
export function checkMessageText(text: string, maxChars: number, field = 'text'): string {
  if (text.includes('\u0000')) {
    throw new AppError('VALIDATION_FAILED', 'Text must not contain NUL characters', { field });
  }
  if (!text.isWellFormed()) {
    throw new AppError('VALIDATION_FAILED', 'Text contains an unpaired UTF-16 surrogate', { field });
  }
  if (text.trim() === '') {
    throw new AppError('MESSAGE_EMPTY', 'Message text must not be empty or only whitespace', { field });
  }
  const chars = countCodePoints(text, maxChars);
  if (chars > maxChars) {
    throw new AppError('MESSAGE_TOO_LONG', `Message text is longer than ${maxChars} characters`, { field, max: maxChars });
  }
  return text;
}

/** Counts code points, stopping early once past the limit. */
function countCodePoints(text: string, limit: number): number {
  if (text.length <= limit) return text.length;
  let count = 0;
  for (const _ of text) {
    count += 1;
    if (count > limit) break;
  }
  return count;
}
