import { SlackApiError } from './args.js';

/**
 * Opaque cursors of response_metadata.next_cursor: a kind and a position,
 * base64url-encoded, so a cursor of one method is rejected by another.
 */
export function encodeSlackCursor(kind: string, position: string | number): string {
  return Buffer.from(`${kind}:${position}`).toString('base64url');
}

/** Decodes a cursor of the given kind; undefined for none, invalid_cursor for a foreign or malformed one. */
export function decodeSlackCursor(kind: string, cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!decoded.startsWith(`${kind}:`)) throw new SlackApiError('invalid_cursor', 'cursor');
  return decoded.slice(kind.length + 1);
}

/** Decodes a cursor holding a non-negative integer position. */
export function decodeNumberCursor(kind: string, cursor: string | undefined): number | undefined {
  const position = decodeSlackCursor(kind, cursor);
  if (position === undefined) return undefined;
  const value = Number(position);
  if (!Number.isSafeInteger(value) || value < 0) throw new SlackApiError('invalid_cursor', 'cursor');
  return value;
}

/** Builds Slack's response_metadata; an empty next_cursor ends pagination. */
export function responseMetadata(nextCursor: string | undefined): { response_metadata: { next_cursor: string } } {
  return { response_metadata: { next_cursor: nextCursor ?? '' } };
}
