import { ApiError, type ApiClient } from './api.js';

/** Fields of `POST /api/conversations/{id}/messages`. */
export interface PostMessageInput {
  text: string;
  /** Idempotency key; generated when missing, and the same on every attempt. */
  client_msg_id?: string;
  thread_root_id?: string;
  also_in_channel?: boolean;
  file_ids?: string[];
}

export interface PostRetryOptions {
  /** Attempts in all, the first included; default 6. */
  maxAttempts?: number;
  /** Delay before the first retry, doubled for each further one; default 200 ms. */
  baseDelayMs?: number;
  /** Upper bound of one delay, also of a server's Retry-After; default 5,000 ms. */
  maxDelayMs?: number;
  /** Time one attempt may take before it is aborted and counts as a network failure; default 10,000 ms. */
  attemptTimeoutMs?: number;
  /** Called before each retry with the attempt that failed (1 for the first) and the reason. */
  onRetry?: (attempt: number, reason: string) => void;
}

export interface PostResult<M> {
  message: M;
  /** False when the server already had a message with this client_msg_id, from an attempt whose response was lost. */
  created: boolean;
  clientMsgId: string;
  attempts: number;
}

/**
 * Status codes that mean the request may succeed later on this or another node: 503 from a node
 * whose database is down or that is shutting down, 502 and 504 from a load balancer whose node
 * went away.
 */
const RETRYABLE_STATUSES = new Set([502, 503, 504]);

/**
 * Posts a message and retries network failures, timeouts and retryable statuses with exponential
 * backoff and full jitter. Every attempt carries the same client_msg_id, so an attempt whose
 * response was lost but whose message was stored returns that message (200) instead of storing it
 * twice. Other statuses of 400 or more throw ApiError at once; after the last attempt the last
 * error is thrown.
 */
export async function postMessageWithRetry<M = Record<string, unknown>>(
  api: ApiClient,
  conversationId: string,
  input: PostMessageInput,
  options: PostRetryOptions = {},
): Promise<PostResult<M>> {
  const maxAttempts = options.maxAttempts ?? 6;
  const body = { ...input, client_msg_id: input.client_msg_id ?? crypto.randomUUID() };
  const path = `/api/conversations/${conversationId}/messages`;

  for (let attempt = 1; ; attempt += 1) {
    let failure: unknown;
    let retryAfterMs: number | undefined;
    try {
      const response = await api.raw('POST', path, body, {}, AbortSignal.timeout(options.attemptTimeoutMs ?? 10_000));
      if (response.status < 400) return { message: response.body as M, created: response.status === 201, clientMsgId: body.client_msg_id, attempts: attempt };
      failure = new ApiError(response.status, response.body);
      if (!RETRYABLE_STATUSES.has(response.status)) throw failure;
      retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    } catch (error) {
      if (error instanceof ApiError || !isNetworkFailure(error)) throw error;
      failure = error;
    }

    if (attempt >= maxAttempts) throw failure;
    options.onRetry?.(attempt, describeFailure(failure));
    await sleep(retryDelay(attempt, retryAfterMs, options));
  }
}

/** Full jitter: a uniform delay up to the exponential bound, so clients cut off together do not retry together. */
function retryDelay(attempt: number, retryAfterMs: number | undefined, options: PostRetryOptions): number {
  const maxDelayMs = options.maxDelayMs ?? 5000;
  const bound = Math.min(maxDelayMs, (options.baseDelayMs ?? 200) * 2 ** (attempt - 1));
  const jittered = Math.random() * bound;
  return retryAfterMs === undefined ? jittered : Math.min(maxDelayMs, Math.max(jittered, retryAfterMs));
}

/** fetch rejects with a TypeError when the connection fails, and with a TimeoutError or AbortError when aborted. */
function isNetworkFailure(error: unknown): boolean {
  if (error instanceof TypeError) return true;
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function describeFailure(error: unknown): string {
  if (error instanceof ApiError) return `${error.status} ${error.code}`;
  return (error as { name?: string }).name ?? 'network failure';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
