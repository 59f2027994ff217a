import type { Readable } from 'node:stream';

/** An object in a blob store, as listed for the orphan sweep. */
export interface BlobEntry {
  key: string;
  /** Time of the last write, in milliseconds since the epoch. */
  modifiedAt: number;
  /** Stored length in bytes (ciphertext length for encrypted blobs). */
  size: number;
}

/**
 * Opaque byte storage for file contents. Keys are slash-separated ASCII
 * strings such as `f/ab/ab12...`; callers never see paths or buckets.
 * Implementations stream in both directions and never hold an object whole.
 */
export interface BlobStore {
  /** Stores the stream under key; resolves once the bytes are durable. A failed write leaves nothing under key. */
  put(key: string, body: Readable): Promise<void>;
  /** Bytes start..end inclusive, or the whole object. Rejects with BlobNotFoundError for a missing key. */
  get(key: string, range?: { start: number; end: number }): Promise<Readable>;
  /** Deletes the object; deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** Objects under a prefix, for sweeping orphans, in no particular order. */
  list(prefix: string): AsyncIterable<BlobEntry>;
}

/** Error of a get whose key names no object. */
export class BlobNotFoundError extends Error {
  readonly key: string;

  constructor(key: string) {
    super(`No blob stored under ${key}`);
    this.name = 'BlobNotFoundError';
    this.key = key;
  }
}

/** Keys are limited to characters that are safe both as S3 object names and as relative file paths. */
const KEY_PATTERN = /^[a-z0-9]+(?:[/._-][a-z0-9]+)*$/i;

/** Throws unless key is a relative, slash-separated name without `.` or `..` segments. */
export function assertBlobKey(key: string): void {
  if (key.length > 512 || !KEY_PATTERN.test(key) || key.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new Error(`Invalid blob key "${key}"`);
  }
}
