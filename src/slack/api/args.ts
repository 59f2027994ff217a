import { AppError, type ErrorCode } from '../../platform/errors.js';

/**
 * A Slack Web API error: Slack responds `{ ok: false, error }` with HTTP 200
 * for every failure except rate limits, and clients switch on the error string.
 */
export class SlackApiError extends Error {
  constructor(
    readonly error: string,
    /** The argument at fault, returned as Slack's response_metadata.messages do. */
    readonly argument?: string,
  ) {
    super(error);
    this.name = 'SlackApiError';
  }
}

/** The arguments of one call: form fields or JSON properties, by name. */
export type SlackArgs = Record<string, unknown>;

/** Reads a required string argument; a missing one raises Slack's error for it (such as channel_not_found). */
export function requireString(args: SlackArgs, name: string, missingError = 'invalid_arguments'): string {
  const value = optionalString(args, name);
  if (value === undefined || value === '') throw new SlackApiError(missingError, name);
  return value;
}

export function optionalString(args: SlackArgs, name: string): string | undefined {
  const value = args[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new SlackApiError('invalid_arguments', name);
}

/** Reads a boolean argument: form encoding sends "true"/"false" or "1"/"0". */
export function optionalBoolean(args: SlackArgs, name: string): boolean | undefined {
  const value = args[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1' || value === 1) return true;
  if (value === 'false' || value === '0' || value === 0) return false;
  throw new SlackApiError('invalid_arguments', name);
}

/** Reads a page size, clamped to 1..max as Slack does; a non-number raises invalid_limit. */
export function readLimit(args: SlackArgs, name: string, defaultLimit: number, max: number): number {
  const raw = optionalString(args, name);
  if (raw === undefined || raw === '' || raw === '0') return defaultLimit;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 0) throw new SlackApiError('invalid_limit', name);
  return Math.min(limit, max);
}

/** Reads a JSON argument that form encoding sends as a string, such as `blocks` or `files`. */
export function optionalJson(args: SlackArgs, name: string): unknown {
  const value = args[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new SlackApiError(`invalid_${name}`, name);
  }
}

/** Slack error strings for our error codes, where a method has no more specific one. */
const SLACK_ERRORS: Partial<Record<ErrorCode, string>> = {
  CONVERSATION_NOT_FOUND: 'channel_not_found',
  TEAM_NOT_FOUND: 'channel_not_found',
  NOT_IN_CONVERSATION: 'not_in_channel',
  CONVERSATION_ARCHIVED: 'is_archived',
  MESSAGE_NOT_FOUND: 'message_not_found',
  MESSAGE_EMPTY: 'no_text',
  MESSAGE_TOO_LONG: 'msg_too_long',
  USER_NOT_FOUND: 'user_not_found',
  UNKNOWN_EMOJI: 'invalid_name',
  CHANNEL_NAME_TAKEN: 'name_taken',
  INVALID_CHANNEL_NAME: 'invalid_name_specials',
  FILE_NOT_FOUND: 'file_not_found',
  FILE_TOO_LARGE: 'file_too_large',
  INVALID_SEARCH_QUERY: 'invalid_query',
  INVALID_CURSOR: 'invalid_cursor',
  BROADCAST_RESTRICTED: 'restricted_action',
  EDIT_WINDOW_CLOSED: 'edit_window_closed',
  DELETE_WINDOW_CLOSED: 'cant_delete_message',
  VALIDATION_FAILED: 'invalid_arguments',
  FORBIDDEN: 'restricted_action',
  ACCOUNT_DEACTIVATED: 'account_inactive',
};

/** Translates an error of our actions to Slack's error string, or undefined for one that is not a client error. */
export function slackErrorOf(error: unknown): string | undefined {
  if (error instanceof SlackApiError) return error.error;
  if (!(error instanceof AppError)) return undefined;
  return SLACK_ERRORS[error.code] ?? (error.status < 500 ? 'invalid_arguments' : undefined);
}
