import type { FastifyReply, FastifyRequest } from 'fastify';
import { authenticateToken, type Auth } from '../accounts/actions.js';
import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';

export const SESSION_COOKIE = 'cb_session';

declare module 'fastify' {
  interface FastifyRequest {
    auth: Auth | undefined;
  }
}

/** Reads the bearer token of a request: the Authorization header, else the session cookie. */
export function readToken(request: FastifyRequest): { token: string; viaCookie: boolean } | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    return match?.[1] === undefined ? undefined : { token: match[1], viaCookie: false };
  }
  const cookie = request.cookies[SESSION_COOKIE];
  return cookie ? { token: cookie, viaCookie: true } : undefined;
}

/** Returns true for an origin listed in the configuration or for the server's own origin. */
export function isAllowedOrigin(ctx: AppContext, origin: string, host: string | undefined): boolean {
  if (ctx.config.allowedOrigins.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/**
 * Builds the onRequest hook that requires a live session. It runs before the
 * body is parsed or validated, so a caller without a session gets 401 and
 * never a validation error. A state-changing request authenticated by cookie
 * must come from an allowed origin, which stops cross-site request forgery.
 */
export function requireAuth(ctx: AppContext) {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const credentials = readToken(request);
    if (credentials === undefined) throw new AppError('UNAUTHENTICATED', 'Log in first: send a bearer token or session cookie');

    if (credentials.viaCookie && !['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
      const origin = request.headers.origin;
      if (origin === undefined || !isAllowedOrigin(ctx, origin, request.headers.host)) {
        throw new AppError('ORIGIN_NOT_ALLOWED', 'Cross-site request rejected: the Origin header is missing or not allowed');
      }
    }

    const auth = await authenticateToken(ctx, credentials.token);
    if (auth === undefined) throw new AppError('UNAUTHENTICATED', 'The session has expired or was revoked; log in again');
    // A copy, because the session cache shares `auth` between requests.
    request.auth = { ...auth, address: request.ip };
    request.log = request.log.child({ userId: auth.user.id });
  };
}

/** Returns the caller of a route behind requireAuth. */
export function callerOf(request: FastifyRequest): Auth {
  if (request.auth === undefined) throw new AppError('UNAUTHENTICATED', 'Log in first');
  return request.auth;
}
