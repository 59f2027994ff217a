import type { FastifyInstance } from 'fastify';
import { AppError } from '../platform/errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Fields of the route's querystring that it cleans itself, NUL included (a file's name). */
    cleanedQueryFields?: readonly string[];
  }
}

/** Maximum nesting depth this guard walks into; deeper values are left to the route's schema. */
const MAX_DEPTH = 32;

/**
 * Rejects requests whose body, query or path parameters contain U+0000 in
 * any string or key, with 400 naming the field. PostgreSQL text cannot hold
 * the NUL character and fails the statement, so without this guard a NUL
 * that a schema lets through became a 500 on PostgreSQL while SQLite stored it.
 */
export function registerNulGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const cleaned = request.routeOptions.config.cleanedQueryFields ?? [];
    const query = cleaned.length === 0 ? request.query : withoutFields(request.query, cleaned);
    for (const [part, value] of [['params', request.params], ['querystring', query], ['body', request.body]] as const) {
      const field = findNul(value, '');
      if (field === undefined) continue;
      // Named as schema errors name fields: the path inside the part, or the part for a bare string.
      throw new AppError('VALIDATION_FAILED', 'Text must not contain the NUL character (U+0000)', { field: field === '' ? part : field });
    }
  });
}

function withoutFields(value: unknown, fields: readonly string[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !fields.includes(key)));
}

/** Returns the path of the first string or key that contains U+0000, or undefined when none does. */
function findNul(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return undefined;
  for (const [key, child] of Object.entries(value)) {
    const childPath = path === '' ? key : `${path}/${key}`;
    if (key.includes('\u0000')) return childPath;
    const found = findNul(child, childPath, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
