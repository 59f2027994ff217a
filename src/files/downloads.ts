import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import type { FileRow } from '../storage/schema.js';
import { contentDisposition, servingOf } from './names.js';
import type { VaultFile } from './vault.js';

/** The part of a representation of known size that a Range header requests (RFC 9110, section 14). */
export type RangeRequest = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

const BYTE_RANGE = /^(\d*)-(\d*)$/;

/**
 * Parses a Range header for a file of `size` bytes. A header that is absent,
 * malformed or in another unit is ignored, as RFC 9110 allows. A request for
 * several ranges gets the whole file, which spares a multipart body. A single
 * range that starts past the end is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'full' };
  const match = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (match === null) return { kind: 'full' };
  const specs = (match[1] as string).split(',').map((spec) => spec.trim());
  if (specs.length !== 1) return { kind: 'full' };

  const parts = BYTE_RANGE.exec(specs[0] as string);
  if (parts === null) return { kind: 'full' };
  const [, first = '', last = ''] = parts;
  if (first === '' && last === '') return { kind: 'full' };

  if (first === '') {
    // A suffix range: the last N bytes.
    const length = Number(last);
    if (!Number.isSafeInteger(length)) return { kind: 'full' };
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }

  const start = Number(first);
  const end = last === '' ? Number.MAX_SAFE_INTEGER : Number(last);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: Math.min(end, size - 1) };
}

/** Returns the strong entity tag of a file: its SHA-256, which changes with every byte. */
export function etagOf(sha256: string): string {
  return `"${sha256}"`;
}

function matchesAny(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed === etag || trimmed === `W/${etag}`;
  });
}

/** One part of a file to send: the file's content or its thumbnail. */
export interface Download {
  file: FileRow;
  blob: VaultFile;
  name: string;
  mediaType: string;
  sha256: string;
  forceAttachment: boolean;
}

/**
 * Sends a file's bytes, or the part a single Range requests, with headers
 * that keep active content inert: types off the inline allow list go out as
 * application/octet-stream attachments, `nosniff` stops browsers guessing
 * another type, and `Content-Security-Policy: sandbox` keeps a document opened
 * from the API origin from running scripts or reaching the session. The
 * caller has checked access. HEAD gets the same headers and no body.
 */
export async function sendDownload(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, download: Download): Promise<FastifyReply> {
  const size = Number(download.blob.size);
  const etag = etagOf(download.sha256);
  const serving = servingOf(download.mediaType, download.forceAttachment);

  if (matchesAny(request.headers['if-none-match'], etag)) {
    return reply.status(304).header('etag', etag).header('cache-control', 'private, no-cache').send();
  }

  const ifRange = request.headers['if-range'];
  const range = ifRange !== undefined && String(ifRange).trim() !== etag ? { kind: 'full' as const } : parseRange(request.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    void reply.header('content-range', `bytes */${size}`);
    throw new AppError('RANGE_NOT_SATISFIABLE', `The range is outside the file of ${size} bytes`, { field: 'range', size });
  }

  void reply
    .header('etag', etag)
    .header('accept-ranges', 'bytes')
    .header('cache-control', 'private, no-cache')
    .header('content-security-policy', "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'")
    .header('x-content-type-options', 'nosniff')
    .header('content-disposition', contentDisposition(serving.disposition, download.name))
    .header('content-type', serving.contentType)
    .header('last-modified', new Date(Number(download.file.created_at)).toUTCString());

  const partial = range.kind === 'partial';
  const length = partial ? range.end - range.start + 1 : size;
  void reply.status(partial ? 206 : 200).header('content-length', String(length));
  if (partial) void reply.header('content-range', `bytes ${range.start}-${range.end}/${size}`);
  if (request.method === 'HEAD' || length === 0) return reply.send();

  const body = await ctx.files.vault.read(download.blob, partial ? { start: range.start, end: range.end } : undefined);
  request.log.info({ fileId: download.file.id, start: partial ? range.start : 0, bytes: length }, 'file download started');
  return reply.send(body);
}
