import { createHash, randomBytes } from 'node:crypto';

/** Creates a random bearer secret; only its hash is ever stored. */
export function createSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
