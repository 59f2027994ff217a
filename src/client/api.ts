/**
 * A typed client of the ChatterBox HTTP API, with no dependency beyond
 * `fetch`. The smoke run, the tests and the web client share it.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly body: unknown;

  constructor(status: number, body: unknown) {
    const error = (body as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
    super(`${status} ${error?.code ?? 'UNKNOWN'}: ${error?.message ?? 'no error body'}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = error?.code ?? 'UNKNOWN';
    this.field = error?.field;
    this.body = body;
  }
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

export class ApiClient {
  readonly baseUrl: string;
  token: string | undefined;

  constructor(baseUrl: string, token?: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.token = token;
  }

  /**
   * Sends a request and returns status, headers and parsed body, whatever the status. A failed
   * connection rejects with fetch's TypeError, and an aborted `signal` with its reason.
   */
  async raw(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<RawResponse> {
    const init: RequestInit = { method, headers: { ...headers }, ...(signal !== undefined && { signal }) };
    const requestHeaders = init.headers as Record<string, string>;
    if (this.token !== undefined && requestHeaders.authorization === undefined) requestHeaders.authorization = `Bearer ${this.token}`;
    if (body instanceof Blob || body instanceof ArrayBuffer || body instanceof Uint8Array) {
      // Binary bodies, such as a file upload, go as they are; the caller sets their content-type.
      init.body = body as Blob;
    } else if (body !== undefined) {
      requestHeaders['content-type'] ??= 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }

    const response = await fetch(this.baseUrl + path, init);
    const text = await response.text();
    let parsed: unknown = undefined;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  /** Sends a request and returns the parsed body; a status of 400 or more throws ApiError. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.raw(method, path, body);
    if (response.status >= 400) throw new ApiError(response.status, response.body);
    return response.body as T;
  }

  /**
   * Uploads a file in one request (POST /api/conversations/{id}/files) and
   * returns the file object. It stays the uploader's until a message claims
   * it with file_ids. Large files may use the resumable tus route instead.
   */
  async uploadFile<T = Record<string, unknown>>(conversationId: string, name: string, body: Blob | ArrayBuffer | Uint8Array, mediaType: string): Promise<T> {
    const type = mediaType === '' ? 'application/octet-stream' : mediaType;
    const response = await this.raw('POST', `/api/conversations/${conversationId}/files?name=${encodeURIComponent(name)}`, body, { 'content-type': type });
    if (response.status >= 400) throw new ApiError(response.status, response.body);
    return response.body as T;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  patch<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  delete<T = unknown>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }
}
