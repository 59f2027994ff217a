/**
 * The registry of stable error codes. A code's HTTP status never changes, and a
 * retired code is never reused. docs/errors.md lists the same codes, and a test
 * keeps the two in step.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  MESSAGE_EMPTY: 400,
  MESSAGE_TOO_LONG: 400,
  INVALID_CHANNEL_NAME: 400,
  INVALID_CURSOR: 400,
  UNKNOWN_EMOJI: 400,
  WEAK_PASSWORD: 400,
  INVALID_SEARCH_QUERY: 400,
  PUSH_ENDPOINT_REJECTED: 400,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  CHALLENGE_EXPIRED: 401,
  FORBIDDEN: 403,
  NOT_IN_CONVERSATION: 403,
  ORIGIN_NOT_ALLOWED: 403,
  SIGNED_LINK_INVALID: 403,
  SIGNED_LINK_EXPIRED: 403,
  BROADCAST_RESTRICTED: 403,
  EDIT_WINDOW_CLOSED: 403,
  DELETE_WINDOW_CLOSED: 403,
  ACCOUNT_DEACTIVATED: 403,
  NOT_FOUND: 404,
  TEAM_NOT_FOUND: 404,
  CONVERSATION_NOT_FOUND: 404,
  MESSAGE_NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  SESSION_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  UPLOAD_NOT_FOUND: 404,
  IMPORT_NOT_FOUND: 404,
  EMAIL_TAKEN: 409,
  USERNAME_TAKEN: 409,
  CHANNEL_NAME_TAKEN: 409,
  ALREADY_MEMBER: 409,
  NOT_A_MEMBER: 409,
  LAST_OWNER: 409,
  CONVERSATION_ARCHIVED: 409,
  CLIENT_MESSAGE_ID_REUSED: 409,
  TWO_FACTOR_ALREADY_ENABLED: 409,
  TWO_FACTOR_NOT_ENABLED: 409,
  TWO_FACTOR_SETUP_MISSING: 409,
  UPLOAD_OFFSET_MISMATCH: 409,
  PUSH_SUBSCRIPTION_LIMIT: 409,
  IMPORT_RUNNING: 409,
  PAYLOAD_TOO_LARGE: 413,
  FILE_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Data a client can act on: the offending field, a limit, a retry time. */
export interface ErrorDetails {
  field?: string;
  max?: number;
  retryAfterSeconds?: number;
  [key: string]: unknown;
}

/** The one error type of the API: a stable code, its status, a safe message. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CODES[code];
    this.details = details;
  }

  /** Returns the body every error response carries. */
  toBody(): { error: { code: ErrorCode; message: string } & ErrorDetails } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}

/** Builds a 400 for one named field. */
export function invalidField(field: string, message: string, code: ErrorCode = 'VALIDATION_FAILED'): AppError {
  return new AppError(code, message, { field });
}
