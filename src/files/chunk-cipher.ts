import { createCipheriv, createDecipheriv, createHash, type CipherGCM, type DecipherGCM, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AppError } from '../platform/errors.js';

/**
 * Layout of an encrypted blob, version 1:
 *
 *   header (16 bytes): "CBXF", version 1, three zero bytes, chunk size (u32 BE), four zero bytes
 *   chunk 0 .. chunk n-1: AES-256-GCM ciphertext of up to CHUNK_BYTES plaintext bytes, then its 16-byte tag
 *
 * Every chunk but the last contains exactly CHUNK_BYTES of plaintext; an empty
 * file has one empty chunk. The nonce is the chunk index, which is safe
 * because every file has its own random data key. The additional data of each
 * chunk is the header, the chunk index and a final-chunk flag, so a reader
 * detects a chunk moved to another place, a blob cut at a chunk boundary,
 * bytes appended after the final chunk, and a changed header.
 */
export const CHUNK_BYTES = 64 * 1024;
export const TAG_BYTES = 16;
export const HEADER_BYTES = 16;
const NONCE_BYTES = 12;
const SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES;
const FORMAT_VERSION = 1;

const HEADER = buildHeader();

/** An encrypted blob failed to authenticate: it was altered, truncated or extended. */
export class BlobIntegrityError extends Error {
  constructor(
    message: string,
    readonly blobKey: string,
  ) {
    super(message);
    this.name = 'BlobIntegrityError';
  }
}

/** Plan of one read: the chunks it covers, their place in the blob, and the plaintext bytes to keep. */
export interface ReadPlan {
  size: number;
  firstChunk: number;
  lastChunk: number;
  finalChunk: number;
  /** Byte range of the blob to fetch, inclusive; it starts at the header when the header is read. */
  blobStart: number;
  blobEnd: number;
  withHeader: boolean;
  /** Plaintext bytes to drop from the front of the first chunk. */
  skipFirst: number;
  /** Plaintext bytes to keep from the last chunk. */
  keepLast: number;
}

/** Returns the encrypted blob length of a plaintext of `size` bytes. */
export function sealedSize(size: number): number {
  return HEADER_BYTES + chunkCount(size) * TAG_BYTES + size;
}

/**
 * Plans a read of plaintext bytes start..end inclusive, or of the whole file.
 * A whole-file read also fetches and checks the header; a range read fetches
 * only its chunks.
 */
export function planRead(size: number, range: { start: number; end: number } | undefined): ReadPlan {
  const finalChunk = chunkCount(size) - 1;
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  const firstChunk = Math.floor(start / CHUNK_BYTES);
  const lastChunk = range === undefined ? finalChunk : Math.floor(end / CHUNK_BYTES);
  return {
    size,
    firstChunk,
    lastChunk,
    finalChunk,
    blobStart: range === undefined ? 0 : HEADER_BYTES + firstChunk * SEALED_CHUNK_BYTES,
    blobEnd: HEADER_BYTES + lastChunk * SEALED_CHUNK_BYTES + chunkPlainBytes(lastChunk, size) + TAG_BYTES - 1,
    withHeader: range === undefined,
    skipFirst: start - firstChunk * CHUNK_BYTES,
    keepLast: end - lastChunk * CHUNK_BYTES + 1,
  };
}

function chunkCount(size: number): number {
  return Math.max(1, Math.ceil(size / CHUNK_BYTES));
}

function chunkPlainBytes(index: number, size: number): number {
  return Math.min(CHUNK_BYTES, size - index * CHUNK_BYTES);
}

function buildHeader(): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write('CBXF', 0, 'ascii');
  header.writeUInt8(FORMAT_VERSION, 4);
  header.writeUInt32BE(CHUNK_BYTES, 8);
  return header;
}

function chunkNonce(index: number): Buffer {
  const nonce = Buffer.alloc(NONCE_BYTES);
  nonce.writeBigUInt64BE(BigInt(index), NONCE_BYTES - 8);
  return nonce;
}

function chunkAad(index: number, final: boolean): Buffer {
  const aad = Buffer.alloc(HEADER_BYTES + 9);
  HEADER.copy(aad, 0);
  aad.writeBigUInt64BE(BigInt(index), HEADER_BYTES);
  aad.writeUInt8(final ? 1 : 0, HEADER_BYTES + 8);
  return aad;
}

/**
 * Turns plaintext into the header and sealed chunks, hashing and counting the
 * plaintext. Incoming buffers are encrypted in place where they lie, without
 * copying them into chunk-sized buffers. The plaintext of one chunk waits, by
 * reference, until the next byte or the end arrives, because only then is it
 * known whether the chunk is the final one.
 */
export class ChunkSealer extends Transform {
  plaintextBytes = 0;
  limitError: AppError | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private nextChunk = 0;

  constructor(
    private readonly dataKey: Buffer,
    private readonly maxBytes: number,
  ) {
    super();
    this.push(HEADER);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.plaintextBytes += chunk.length;
    if (this.plaintextBytes > this.maxBytes) {
      this.limitError = new AppError('FILE_TOO_LARGE', `The file is larger than ${this.maxBytes} bytes`, { max: this.maxBytes });
      callback(this.limitError);
      return;
    }
    this.hash.update(chunk);

    let offset = 0;
    while (offset < chunk.length) {
      if (this.pendingBytes === CHUNK_BYTES) this.sealPending(false);
      const taken = Math.min(CHUNK_BYTES - this.pendingBytes, chunk.length - offset);
      this.pending.push(offset === 0 && taken === chunk.length ? chunk : chunk.subarray(offset, offset + taken));
      this.pendingBytes += taken;
      offset += taken;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.sealPending(true);
    callback();
  }

  /** Returns the hex SHA-256 of all plaintext; call once, after the stream ended. */
  digest(): string {
    return this.hash.digest('hex');
  }

  private sealPending(final: boolean): void {
    const index = this.nextChunk;
    this.nextChunk += 1;
    const cipher: CipherGCM = createCipheriv('aes-256-gcm', this.dataKey, chunkNonce(index));
    cipher.setAAD(chunkAad(index, final));
    for (const piece of this.pending) this.push(cipher.update(piece));
    cipher.final();
    this.push(cipher.getAuthTag());
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/**
 * Turns sealed chunks back into plaintext, keeping only the bytes of the
 * requested range. Ciphertext is decrypted piece by piece as it arrives; the
 * plaintext of a chunk is held back until the chunk's tag authenticates.
 */
export class ChunkOpener extends Transform {
  private header: Buffer[] = [];
  private headerBytes: number;
  private nextChunk: number;
  private decipher: DecipherGCM | undefined;
  private ciphertextLeft = 0;
  private plaintext: Buffer[] = [];
  private tag: Buffer[] = [];
  private tagBytes = 0;

  constructor(
    private readonly dataKey: Buffer,
    private readonly blobKey: string,
    private readonly plan: ReadPlan,
  ) {
    super();
    this.nextChunk = plan.firstChunk;
    this.headerBytes = plan.withHeader ? 0 : HEADER_BYTES;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(chunk);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.nextChunk <= this.plan.lastChunk || this.headerBytes < HEADER_BYTES) {
      callback(new BlobIntegrityError(`Blob ${this.blobKey} is shorter than its recorded size`, this.blobKey));
      return;
    }
    callback();
  }

  private consume(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.headerBytes < HEADER_BYTES) {
        offset += this.readHeader(chunk, offset);
        continue;
      }
      if (this.nextChunk > this.plan.lastChunk) {
        throw new BlobIntegrityError(`Blob ${this.blobKey} has bytes after its final chunk`, this.blobKey);
      }
      if (this.decipher === undefined) this.startChunk();

      if (this.ciphertextLeft > 0) {
        const taken = Math.min(this.ciphertextLeft, chunk.length - offset);
        const decrypted = (this.decipher as DecipherGCM).update(chunk.subarray(offset, offset + taken));
        if (decrypted.length > 0) this.plaintext.push(decrypted);
        this.ciphertextLeft -= taken;
        offset += taken;
        continue;
      }

      const taken = Math.min(TAG_BYTES - this.tagBytes, chunk.length - offset);
      this.tag.push(chunk.subarray(offset, offset + taken));
      this.tagBytes += taken;
      offset += taken;
      if (this.tagBytes === TAG_BYTES) this.finishChunk();
    }
  }

  private readHeader(chunk: Buffer, offset: number): number {
    const taken = Math.min(HEADER_BYTES - this.headerBytes, chunk.length - offset);
    this.header.push(chunk.subarray(offset, offset + taken));
    this.headerBytes += taken;
    if (this.headerBytes === HEADER_BYTES && !Buffer.concat(this.header).equals(HEADER)) {
      throw new BlobIntegrityError(`Blob ${this.blobKey} has an unknown header`, this.blobKey);
    }
    return taken;
  }

  private startChunk(): void {
    const index = this.nextChunk;
    this.decipher = createDecipheriv('aes-256-gcm', this.dataKey, chunkNonce(index));
    this.decipher.setAAD(chunkAad(index, index === this.plan.finalChunk));
    this.ciphertextLeft = chunkPlainBytes(index, this.plan.size);
  }

  private finishChunk(): void {
    const index = this.nextChunk;
    const decipher = this.decipher as DecipherGCM;
    decipher.setAuthTag(this.tag.length === 1 ? (this.tag[0] as Buffer) : Buffer.concat(this.tag));
    try {
      const rest = decipher.final();
      if (rest.length > 0) this.plaintext.push(rest);
    } catch {
      throw new BlobIntegrityError(`Chunk ${index} of blob ${this.blobKey} does not authenticate`, this.blobKey);
    }

    const start = index === this.plan.firstChunk ? this.plan.skipFirst : 0;
    const end = index === this.plan.lastChunk ? this.plan.keepLast : CHUNK_BYTES;
    this.pushSlice(start, end);

    this.decipher = undefined;
    this.plaintext = [];
    this.tag = [];
    this.tagBytes = 0;
    this.nextChunk += 1;
  }

  /** Passes on plaintext bytes start..end (exclusive) of the authenticated chunk. */
  private pushSlice(start: number, end: number): void {
    let position = 0;
    for (const piece of this.plaintext) {
      const from = Math.max(start - position, 0);
      const to = Math.min(end - position, piece.length);
      if (from < to) this.push(from === 0 && to === piece.length ? piece : piece.subarray(from, to));
      position += piece.length;
    }
  }
}
