import { randomBytes } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import type { Logger } from '../platform/logger.js';
import type { FileRow } from '../storage/schema.js';
import type { BlobStore } from './blob-store.js';
import { ChunkOpener, ChunkSealer, planRead } from './chunk-cipher.js';
import { KEY_BYTES, type MasterKeyRing } from './keys.js';

export { BlobIntegrityError, CHUNK_BYTES, HEADER_BYTES, sealedSize } from './chunk-cipher.js';

/** Result of FileVault.write: the blob key and the values that the files row records. */
export interface StoredBlob {
  blobKey: string;
  /** Plaintext length in bytes. */
  size: number;
  /** Hex SHA-256 of the plaintext. */
  sha256: string;
  wrappedKey: string | null;
  masterKeyId: string | null;
}

/** The columns of a files row that locate and decrypt its blob. */
export type VaultFile = Pick<FileRow, 'blob_key' | 'wrapped_key' | 'master_key_id' | 'size'>;

/**
 * Encrypts files into a blob store and decrypts them back, streaming both
 * ways. Memory per transfer is a few chunks, whatever the file size.
 */
export class FileVault {
  constructor(
    private readonly store: BlobStore,
    private readonly keys: MasterKeyRing,
    private readonly logger: Logger,
  ) {}

  /**
   * Streams plaintext into a new encrypted blob, hashing as it goes. Rejects
   * with AppError FILE_TOO_LARGE past maxBytes, or with the body's own error,
   * and then leaves no blob behind. On a rejection the body is left unread
   * but not destroyed, so an HTTP handler can still send its error response.
   */
  async write(body: Readable, options: { maxBytes: number }): Promise<StoredBlob> {
    const blobKey = newBlobKey();
    const dataKey = randomBytes(KEY_BYTES);
    const sealer = new ChunkSealer(dataKey, options.maxBytes);
    const forwardError = (error: Error) => sealer.destroy(error);

    // pipe, unlike pipeline, does not destroy the body when the sealer fails.
    body.on('error', forwardError);
    body.pipe(sealer);
    try {
      await this.store.put(blobKey, sealer);
    } catch (error) {
      await this.removeQuietly(blobKey);
      throw sealer.limitError ?? error;
    } finally {
      body.off('error', forwardError);
      body.unpipe(sealer);
    }

    return {
      blobKey,
      size: sealer.plaintextBytes,
      sha256: sealer.digest(),
      ...this.keys.wrap(dataKey),
    };
  }

  /**
   * Returns plaintext bytes start..end inclusive, or all of them. Fetches and
   * decrypts only the chunks the range covers. The stream fails with
   * BlobIntegrityError if the blob does not authenticate; bytes of a chunk are
   * never passed on before that chunk authenticated.
   */
  async read(file: VaultFile, range?: { start: number; end: number }): Promise<Readable> {
    const size = Number(file.size);
    if (range !== undefined && !(Number.isInteger(range.start) && Number.isInteger(range.end) && range.start >= 0 && range.start <= range.end && range.end < size)) {
      throw new RangeError(`Range ${range.start}-${range.end} is outside a file of ${size} bytes`);
    }
    if (file.wrapped_key === null || file.master_key_id === null) return this.store.get(file.blob_key, range);

    const dataKey = this.keys.unwrap(file.wrapped_key, file.master_key_id);
    const plan = planRead(size, range);
    const source = range === undefined ? await this.store.get(file.blob_key) : await this.store.get(file.blob_key, { start: plan.blobStart, end: plan.blobEnd });
    const opener = new ChunkOpener(dataKey, file.blob_key, plan);
    return pipeline(source, opener, (error) => {
      if (error !== undefined && error !== null && !isPrematureClose(error)) {
        this.logger.error({ component: 'files', blobKey: file.blob_key, err: error }, 'reading a file blob failed');
      }
    });
  }

  /** Deletes a blob; deleting a missing blob succeeds. */
  async remove(blobKey: string): Promise<void> {
    await this.store.delete(blobKey);
  }

  private async removeQuietly(blobKey: string): Promise<void> {
    try {
      await this.store.delete(blobKey);
    } catch (error) {
      // The orphan sweep deletes it later.
      this.logger.warn({ component: 'files', blobKey, err: error }, 'deleting a failed upload blob failed');
    }
  }
}

/** Creates a new random blob key under `f/`, fanned out by its first two hex digits. */
export function newBlobKey(): string {
  const name = randomBytes(16).toString('hex');
  return `f/${name.slice(0, 2)}/${name}`;
}

function isPrematureClose(error: Error): boolean {
  return (error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
}
