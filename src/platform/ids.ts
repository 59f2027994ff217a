import { v7 as uuidv7 } from 'uuid';

/**
 * Creates a new identifier for any stored object: a UUID version 7 (RFC 9562), whose first 48
 * bits are the creation time in milliseconds and whose other 74 bits are random. New ids sort
 * after older ones, so B-tree indexes on them grow at their right edge instead of splitting pages
 * all over, and an id reveals when its object was created. Ids are not secrets: tokens come from
 * createSecret.
 */
export function newId(): string {
  return uuidv7();
}

/** The shape of every id, for route schemas. */
export const ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
