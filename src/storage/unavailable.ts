import { AppError } from '../platform/errors.js';

// Socket-level failures reaching the database server.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// PostgreSQL's admin_shutdown, crash_shutdown and cannot_connect_now; class 08 is connection exceptions.
const SERVER_CODES = new Set(['57P01', '57P02', '57P03']);
// pg reports a lost or refused connection with these messages and no code.
const POOL_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection refused/i;

/**
 * True when a storage call failed because the database cannot be reached or
 * is restarting, rather than because of the request: the caller may retry the
 * same request later. A busy SQLite file (lock held past busy_timeout) counts too.
 */
export function isStorageUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  if (code !== undefined && (NETWORK_CODES.has(code) || SERVER_CODES.has(code) || code.startsWith('08') || code === 'SQLITE_BUSY')) {
    return true;
  }
  if (error instanceof Error && POOL_MESSAGES.test(error.message)) return true;
  return error instanceof Error && error.cause !== undefined && isStorageUnavailable(error.cause);
}

/** Builds the 503 a client gets while the database is unreachable, with the time to retry. */
export function storageUnavailableError(): AppError {
  return new AppError('UNAVAILABLE', 'The database is not reachable; try again shortly', { retryAfterSeconds: 1 });
}
