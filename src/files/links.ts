import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../platform/errors.js';

/**
 * Signed download links, for clients that cannot send a session header (an
 * `<img>` or `<video>` element, a download manager). A link names the file,
 * the part of it (content or thumbnail), the user who asked for it and an
 * expiry, and carries an HMAC-SHA256 of those. The server still checks that
 * the user may read the file on every request, so a link stops working at
 * once when its user loses access, and at the latest when it expires.
 */
export type LinkTarget = 'content' | 'thumbnail';

export interface LinkClaims {
  target: LinkTarget;
  fileId: string;
  userId: string;
  /** Unix seconds. */
  expires: number;
}

function sign(secret: Buffer, claims: LinkClaims): Buffer {
  // Newlines cannot occur in ids or numbers, so the fields cannot run into each other.
  const message = `chatterbox-link-v1\n${claims.target}\n${claims.fileId}\n${claims.userId}\n${claims.expires}`;
  return createHmac('sha256', secret).update(message).digest();
}

/** Returns the query string of a signed link, without the leading "?". */
export function signLink(secret: Buffer, claims: LinkClaims): string {
  const signature = sign(secret, claims).toString('base64url');
  return new URLSearchParams({ expires: String(claims.expires), user: claims.userId, signature }).toString();
}

/**
 * Checks a link's signature, then its expiry, and returns the user it was
 * issued to. A wrong signature raises SIGNED_LINK_INVALID whatever the
 * expiry, so a forged link learns nothing about the file.
 */
export function verifyLink(
  secret: Buffer,
  target: LinkTarget,
  fileId: string,
  query: { expires?: number; user?: string; signature?: string },
  nowMs: number,
): string {
  const invalid = () => new AppError('SIGNED_LINK_INVALID', 'The signed link is not valid; ask for a new one', { field: 'signature' });
  if (query.expires === undefined || query.user === undefined || query.signature === undefined) throw invalid();

  const expected = sign(secret, { target, fileId, userId: query.user, expires: query.expires });
  const given = Buffer.from(query.signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();

  if (query.expires * 1000 <= nowMs) {
    throw new AppError('SIGNED_LINK_EXPIRED', 'The signed link has expired; ask for a new one', { field: 'expires' });
  }
  return query.user;
}
