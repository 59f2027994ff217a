import type { FastifyInstance } from 'fastify';

/**
 * The default Content-Security-Policy. It fits an HTML page whose scripts,
 * styles and connections come from its own origin, and it keeps every
 * response out of frames. A route that serves other HTML sets its own
 * Content-Security-Policy header, which this default then leaves alone.
 */
export const DEFAULT_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** One year, in seconds: how long browsers keep using HTTPS for the host after seeing the header. */
export const HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600;

const DEFAULT_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['content-security-policy', DEFAULT_CONTENT_SECURITY_POLICY],
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'DENY'],
  ['referrer-policy', 'no-referrer'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['cross-origin-resource-policy', 'same-origin'],
  ['permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()'],
];

/**
 * Adds security headers to every response, errors and 404s included, in an
 * onSend hook: each header is set only when the route did not set it, so a
 * route can refine any of them. Strict-Transport-Security goes only on
 * responses over HTTPS (the server's own TLS, or a trusted proxy's
 * X-Forwarded-Proto), because browsers ignore it on plain HTTP.
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => {
    for (const [name, value] of DEFAULT_HEADERS) {
      if (!reply.hasHeader(name)) void reply.header(name, value);
    }
    if (request.protocol === 'https' && !reply.hasHeader('strict-transport-security')) {
      void reply.header('strict-transport-security', `max-age=${HSTS_MAX_AGE_SECONDS}`);
    }
  });
}
