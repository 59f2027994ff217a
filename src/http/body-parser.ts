import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../platform/errors.js';

/**
 * Replaces Fastify's body parsers with one strict JSON parser. Bodies must be
 * UTF-8: invalid bytes are rejected rather than replaced with U+FFFD, which
 * would store text the client never sent. Plain-text bodies, which Fastify
 * accepts by default, get 415 like every other non-JSON type.
 */
export function registerJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const charset = /;\s*charset=("?)([^";]+)\1/i.exec(request.headers['content-type'] ?? '')?.[2];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      done(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send JSON encoded as UTF-8', { field: 'content-type' }), undefined);
      return;
    }

    const bytes = body as Buffer;
    if (bytes.length === 0) {
      done(new AppError('INVALID_JSON', 'The request body is empty; send a JSON object', { field: 'body' }), undefined);
      return;
    }
    if (!isUtf8(bytes)) {
      done(new AppError('INVALID_JSON', 'The request body is not valid UTF-8', { field: 'body' }), undefined);
      return;
    }

    try {
      // JSON.parse makes "__proto__" an own property, never the prototype; schemas then reject it as an unknown field.
      done(null, JSON.parse(bytes.toString('utf8')));
    } catch {
      done(new AppError('INVALID_JSON', 'The request body is not valid JSON', { field: 'body' }), undefined);
    }
  });
}
