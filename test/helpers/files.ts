import { createCipheriv, createHash } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import type { TestUser } from './factories.js';

export interface FileBody {
  id: string;
  conversation_id: string;
  message_id: string | null;
  uploader_id: string;
  name: string;
  size: number;
  mime_type: string;
  sha256: string;
  width: number | null;
  height: number | null;
  url: string;
  thumbnail_url: string | null;
  created_at: string;
}

export interface Fetched {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** Parses a JSON response body, or returns undefined. */
export function json<T = Record<string, unknown>>(response: { body: Buffer }): T {
  return JSON.parse(response.body.toString('utf8')) as T;
}

/**
 * Returns a deterministic stream of `size` pseudo-random bytes: AES-256-CTR of zeros
 * under a key made from the seed. The same seed always gives the same bytes,
 * so a test can hash a 200 MB file without holding it.
 */
export function patternStream(size: number, seed = 'seed'): Readable {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const block = Buffer.alloc(256 * 1024);
  let remaining = size;
  return new Readable({
    read() {
      if (remaining === 0) {
        this.push(null);
        return;
      }
      const length = Math.min(block.length, remaining);
      remaining -= length;
      this.push(cipher.update(block.subarray(0, length)));
    },
  });
}

/** Returns the bytes of patternStream(size, seed) at once, for small files. */
export async function patternBytes(size: number, seed = 'seed'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of patternStream(size, seed)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Hex SHA-256 of patternStream(size, seed). */
export async function patternSha256(size: number, seed = 'seed'): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of patternStream(size, seed)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Sends a request and reads the whole response body. */
export async function fetchBytes(url: string, init: RequestInit & { token?: string } = {}): Promise<Fetched> {
  const headers = new Headers(init.headers);
  if (init.token !== undefined) headers.set('authorization', `Bearer ${init.token}`);
  const response = await fetch(url, { ...init, headers, ...(init.body instanceof ReadableStream && { duplex: 'half' }) } as RequestInit);
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

/** Sends a request and hashes the response body as it streams. */
export async function fetchSha256(url: string, token: string): Promise<{ status: number; sha256: string; bytes: number }> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { status: response.status, sha256: hash.digest('hex'), bytes };
}

/** Uploads bytes in one request through POST /api/conversations/{id}/files. */
export async function uploadOnce(
  baseUrl: string,
  user: TestUser,
  conversationId: string,
  body: Buffer | Readable,
  options: { name?: string; type?: string } = {},
): Promise<Fetched> {
  const name = encodeURIComponent(options.name ?? 'notes.txt');
  const headers: Record<string, string> = { 'content-type': options.type ?? 'text/plain' };
  const payload = Buffer.isBuffer(body) ? body : (Readable.toWeb(body) as ReadableStream);
  return fetchBytes(`${baseUrl}/api/conversations/${conversationId}/files?name=${name}`, { method: 'POST', token: user.token, headers, body: payload });
}

/** Uploads bytes in one request and returns the stored file, failing the test on any other status. */
export async function uploadFile(baseUrl: string, user: TestUser, conversationId: string, body: Buffer, options: { name?: string; type?: string } = {}): Promise<FileBody> {
  const response = await uploadOnce(baseUrl, user, conversationId, body, options);
  if (response.status !== 201) throw new Error(`upload answered ${response.status}: ${response.body.toString('utf8')}`);
  return json<FileBody>(response);
}

/** Builds a solid-colour PNG of the given size. */
export function buildPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 80, b: 40 } } }).png().toBuffer();
}

/** Encodes tus Upload-Metadata: comma-separated keys with base64 values. */
export function tusMetadata(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key} ${Buffer.from(value, 'utf8').toString('base64')}`)
    .join(',');
}

/** Creates a tus upload and returns the response; its Location names the upload. */
export function tusCreate(baseUrl: string, token: string, input: { conversationId: string; name: string; type?: string; size: number }): Promise<Fetched> {
  return fetchBytes(`${baseUrl}/api/uploads`, {
    method: 'POST',
    token,
    headers: {
      'tus-resumable': '1.0.0',
      'upload-length': String(input.size),
      'upload-metadata': tusMetadata({ conversation_id: input.conversationId, filename: input.name, filetype: input.type ?? 'application/octet-stream' }),
    },
  });
}

/** Sends one tus PATCH with the given bytes at an offset. */
export function tusPatch(baseUrl: string, token: string, uploadPath: string, offset: number, body: Buffer | Readable): Promise<Fetched> {
  const payload = Buffer.isBuffer(body) ? body : (Readable.toWeb(body) as ReadableStream);
  return fetchBytes(`${baseUrl}${uploadPath}`, {
    method: 'PATCH',
    token,
    headers: { 'tus-resumable': '1.0.0', 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
    body: payload,
  });
}

/** Reads a tus upload's offset with HEAD. */
export function tusHead(baseUrl: string, token: string, uploadPath: string): Promise<Fetched> {
  return fetchBytes(`${baseUrl}${uploadPath}`, { method: 'HEAD', token, headers: { 'tus-resumable': '1.0.0' } });
}

/**
 * Starts a tus PATCH that declares `declared` bytes, sends only `sent` of
 * them and then destroys the socket, as a dropped connection would.
 */
export async function tusPatchCut(baseUrl: string, token: string, uploadPath: string, offset: number, bytes: Buffer, sent: number): Promise<void> {
  const url = new URL(baseUrl + uploadPath);
  await new Promise<void>((resolve) => {
    const request = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${token}`,
        'tus-resumable': '1.0.0',
        'upload-offset': String(offset),
        'content-type': 'application/offset+octet-stream',
        'content-length': String(bytes.length),
      },
    });
    request.on('error', () => resolve());
    request.on('response', (response) => {
      response.resume();
      resolve();
    });
    request.write(bytes.subarray(0, sent), () => {
      // Gives the server time to receive and store the bytes before the connection drops.
      setTimeout(() => {
        request.destroy();
        resolve();
      }, 300);
    });
  });
}
