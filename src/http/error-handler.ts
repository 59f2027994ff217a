import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../platform/errors.js';
import { isStorageUnavailable, storageUnavailableError } from '../storage/unavailable.js';

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/** Names the field of a schema failure: "text", "user_ids/2", or the missing or unknown property. */
function fieldOf(issue: ValidationIssue): string {
  const path = issue.instancePath.replace(/^\//, '');
  const extra = issue.params.missingProperty ?? issue.params.additionalProperty;
  if (typeof extra === 'string') return path === '' ? extra : `${path}/${extra}`;
  return path;
}

function describe(issue: ValidationIssue, field: string, part: string | undefined): string {
  const where = field === '' ? (part ?? 'body') : field;
  switch (issue.keyword) {
    case 'required':
      return `${where} is required`;
    case 'additionalProperties':
      return `${where} is not a known field`;
    case 'type':
      return `${where} must be of type ${String(issue.params.type)}`;
    case 'maxLength':
      return `${where} must be at most ${String(issue.params.limit)} characters`;
    case 'minLength':
      return `${where} must be at least ${String(issue.params.limit)} characters`;
    default:
      return `${where} ${issue.message ?? 'is invalid'}`;
  }
}

/** Converts any thrown error into the API's one error body. */
export function toAppError(error: FastifyError | Error, request: FastifyRequest): AppError {
  if (error instanceof AppError) return error;
  if (isStorageUnavailable(error)) return storageUnavailableError();

  const fastifyError = error as FastifyError & { validation?: ValidationIssue[]; validationContext?: string };
  if (fastifyError.validation && fastifyError.validation.length > 0) {
    const issue = fastifyError.validation[0] as ValidationIssue;
    const field = fieldOf(issue);
    return new AppError('VALIDATION_FAILED', describe(issue, field, fastifyError.validationContext), {
      field: field === '' ? (fastifyError.validationContext ?? 'body') : field,
    });
  }

  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('INVALID_JSON', 'The request body is not valid JSON', { field: 'body' });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE', 'The request body is too large', { field: 'body' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send JSON with Content-Type: application/json', { field: 'content-type' });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('VALIDATION_FAILED', 'Content-Length does not match the body', { field: 'content-length' });
  }
  if (error instanceof SyntaxError && fastifyError.statusCode === 400) {
    return new AppError('INVALID_JSON', 'The request body is not valid JSON', { field: 'body' });
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    request.log.info({ err: error }, 'client error without a code');
    return new AppError('VALIDATION_FAILED', 'The request is invalid', { field: 'body' });
  }
  return new AppError('INTERNAL', 'Internal server error');
}

/** Writes every HTTP error response, logging 4xx at info and 5xx at error with the stack. */
export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const appError = toAppError(error, request);
  if (appError.code === 'UNAVAILABLE') {
    request.log.warn({ err: error }, 'request failed: storage unavailable');
  } else if (appError.status >= 500) {
    request.log.error({ err: error }, 'request failed');
  } else {
    request.log.info({ code: appError.code, field: appError.details.field }, 'request rejected');
  }
  if (appError.details.retryAfterSeconds !== undefined) {
    void reply.header('retry-after', String(appError.details.retryAfterSeconds));
  }
  void reply.status(appError.status).send(appError.toBody());
}
