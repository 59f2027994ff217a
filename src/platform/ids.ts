import { randomUUID } from 'node:crypto';

/** Creates a new random identifier for any stored object. */
export function newId(): string {
  return randomUUID();
}

/** The shape of every id, for route schemas. */
export const ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
