import { createCipheriv, createDecipheriv, randomBytes, type CipherGCM, type DecipherGCM } from 'node:crypto';
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { AppError } from '../platform/errors.js';
import type { Logger } from '../platform/logger.js';
import { BlobNotFoundError, type BlobStore } from './blob-store.js';
import { KEY_BYTES, type MasterKeyRing } from './keys.js';

/**
 * The staging area of resumable uploads, kept in the blob store itself so any
 * node can continue an upload that another node started. Layout per upload:
 *
 *   u/<uploadId>/key                      the upload's data key, wrapped by the master key (JSON)
 *   u/<uploadId>/p<offset>-<nonce>        one appended part: AES-256-GCM ciphertext, then its 16-byte tag
 *
 * The offset has 16 decimal digits so parts list in order. Every part has a
 * random nonce, so two parts written at the same offset never reuse a key
 * stream. Staging keeps only ciphertext; open() checks each part's tag as it
 * reaches the part's end, so a part altered in the store fails the read.
 */
const TAG_BYTES = 16;
const NONCE_BYTES = 12;
const OFFSET_DIGITS = 16;
const KEY_OBJECT = 'key';
const PART_PATTERN = /^p(\d{16})-([0-9a-f]{24})$/;
const UPLOAD_ID_PATTERN = /^[a-z0-9-]{1,64}$/i;
/** Upper bound on the size of the key object, which is about 120 bytes. */
const MAX_KEY_OBJECT_BYTES = 4096;

/** One stored part of an upload. */
interface StagedPart {
  key: string;
  offset: number;
  /** Plaintext bytes in the part. */
  length: number;
  nonce: Buffer;
}

/** The parts that make up an upload's contiguous bytes, and how many bytes of each repeat earlier ones. */
interface UploadLayout {
  chain: Array<{ part: StagedPart; skip: number }>;
  offset: number;
}

/** A staging area found by the sweep: its upload id and the time of its newest write. */
export interface StagedUpload {
  uploadId: string;
  modifiedAt: number;
}

/** Stores the bytes of resumable uploads, encrypted, until they are complete. */
export class UploadStaging {
  constructor(
    private readonly store: BlobStore,
    private readonly keys: MasterKeyRing,
    private readonly logger: Logger,
  ) {}

  /** Starts an empty upload with a new data key. */
  async create(uploadId: string): Promise<void> {
    assertUploadId(uploadId);
    const wrapped = this.keys.wrap(randomBytes(KEY_BYTES));
    await this.store.put(keyObjectName(uploadId), Readable.from([Buffer.from(JSON.stringify(wrapped))]));
  }

  /**
   * Appends the body at `offset` and returns the new offset. Rejects with
   * UPLOAD_OFFSET_MISMATCH, before reading the body, unless offset is the
   * stored offset, and with FILE_TOO_LARGE, keeping nothing of this body, once
   * the upload would pass maxBytes. When the body fails part way, such as on
   * a cut connection, the bytes received until then are kept and counted, so
   * the client can resume after them.
   */
  async append(uploadId: string, offset: number, body: Readable, maxBytes: number): Promise<number> {
    // The body can fail while the layout is read, before keepReceivedBytes listens, so this keeps that error handled.
    const ignoreEarlyError = () => undefined;
    body.on('error', ignoreEarlyError);
    try {
      return await this.appendPart(uploadId, offset, body, maxBytes);
    } finally {
      body.off('error', ignoreEarlyError);
    }
  }

  private async appendPart(uploadId: string, offset: number, body: Readable, maxBytes: number): Promise<number> {
    const layout = await this.layout(uploadId);
    if (offset !== layout.offset) {
      throw new AppError('UPLOAD_OFFSET_MISMATCH', `The upload is at offset ${layout.offset}, not ${offset}`, { field: 'offset', expected: layout.offset });
    }
    const dataKey = await this.readDataKey(uploadId);

    const nonce = randomBytes(NONCE_BYTES);
    const partKey = `u/${uploadId}/p${String(offset).padStart(OFFSET_DIGITS, '0')}-${nonce.toString('hex')}`;
    const sealer = new PartSealer(dataKey, nonce, maxBytes - offset, maxBytes);
    const cut = this.keepReceivedBytes(body, sealer, uploadId);
    try {
      await this.store.put(partKey, sealer);
    } catch (error) {
      throw sealer.limitError ?? error;
    } finally {
      cut.release();
    }

    if (sealer.plaintextBytes === 0) await this.store.delete(partKey);
    if (cut.error !== undefined) {
      this.logger.info({ component: 'files', uploadId, offset, keptBytes: sealer.plaintextBytes, err: cut.error }, 'upload body ended early; kept the bytes received');
    }
    return offset + sealer.plaintextBytes;
  }

  /** Returns the number of contiguous bytes stored; UPLOAD_NOT_FOUND for an unknown upload. */
  async offset(uploadId: string): Promise<number> {
    return (await this.layout(uploadId)).offset;
  }

  /**
   * Streams the upload's plaintext from byte 0 to its offset. The stream fails
   * if a part does not authenticate, which is noticed at the end of that part.
   */
  async open(uploadId: string): Promise<Readable> {
    const layout = await this.layout(uploadId);
    const dataKey = await this.readDataKey(uploadId);
    const store = this.store;

    async function* plaintext(): AsyncGenerator<Buffer> {
      for (const { part, skip } of layout.chain) {
        const source = await store.get(part.key);
        const opener = new PartOpener(dataKey, part, skip);
        // Leaving the loop early destroys the opener, and pipeline then destroys the source.
        yield* pipeline(source, opener, () => {}) as AsyncIterable<Buffer>;
      }
    }
    return Readable.from(plaintext(), { objectMode: false });
  }

  /** Deletes every part and the key of an upload; discarding an unknown upload succeeds. */
  async discard(uploadId: string): Promise<void> {
    assertUploadId(uploadId);
    for await (const entry of this.store.list(`u/${uploadId}/`)) await this.store.delete(entry.key);
  }

  /** Lists every staging area with the time of its newest object. Holds one entry per upload in memory. */
  async listUploads(): Promise<StagedUpload[]> {
    const newest = new Map<string, number>();
    for await (const entry of this.store.list('u/')) {
      const uploadId = entry.key.split('/')[1];
      if (uploadId === undefined) continue;
      newest.set(uploadId, Math.max(newest.get(uploadId) ?? 0, entry.modifiedAt));
    }
    return [...newest].map(([uploadId, modifiedAt]) => ({ uploadId, modifiedAt }));
  }

  /** Re-wraps the data key of every staged upload under the current master key; returns how many changed. */
  async rewrapKeys(): Promise<number> {
    let rewrapped = 0;
    for (const { uploadId } of await this.listUploads()) {
      const stored = await this.readKeyObject(uploadId).catch((error: unknown) => {
        if (error instanceof AppError && error.code === 'UPLOAD_NOT_FOUND') return undefined;
        throw error;
      });
      if (stored === undefined || stored.masterKeyId === this.keys.current.id) continue;
      const dataKey = this.keys.unwrap(stored.wrappedKey, stored.masterKeyId);
      await this.store.put(keyObjectName(uploadId), Readable.from([Buffer.from(JSON.stringify(this.keys.wrap(dataKey)))]));
      rewrapped += 1;
    }
    return rewrapped;
  }

  /**
   * Pipes body into sealer, but ends the sealer normally when the body fails
   * or closes before its end, so the bytes received so far are stored.
   */
  private keepReceivedBytes(body: Readable, sealer: PartSealer, uploadId: string): { error: Error | undefined; release(): void } {
    const state = {
      error: undefined as Error | undefined,
      release: () => {
        body.off('error', onError);
        body.off('close', onClose);
        body.unpipe(sealer);
      },
    };
    const finishEarly = () => {
      body.unpipe(sealer);
      if (!sealer.writableEnded) sealer.end();
    };
    const onError = (error: Error) => {
      state.error = error;
      finishEarly();
    };
    const onClose = () => {
      if (body.readableEnded) return;
      state.error ??= new Error(`The body of upload ${uploadId} closed before its end`);
      finishEarly();
    };

    // A body cut before this point has already emitted its events, so none would end the sealer.
    if (body.destroyed) {
      state.error = body.errored ?? new Error(`The body of upload ${uploadId} closed before it was read`);
      sealer.end();
      return state;
    }
    body.on('error', onError);
    body.on('close', onClose);
    body.pipe(sealer);
    return state;
  }

  private async layout(uploadId: string): Promise<UploadLayout> {
    assertUploadId(uploadId);
    let hasKey = false;
    const parts: StagedPart[] = [];
    for await (const entry of this.store.list(`u/${uploadId}/`)) {
      const name = entry.key.slice(`u/${uploadId}/`.length);
      if (name === KEY_OBJECT) hasKey = true;
      const match = PART_PATTERN.exec(name);
      if (match === null || entry.size < TAG_BYTES) continue;
      parts.push({ key: entry.key, offset: Number(match[1]), length: entry.size - TAG_BYTES, nonce: Buffer.from(match[2] as string, 'hex') });
    }
    if (!hasKey) throw new AppError('UPLOAD_NOT_FOUND', 'The upload does not exist or has ended');
    return arrangeParts(parts);
  }

  private async readDataKey(uploadId: string): Promise<Buffer> {
    const stored = await this.readKeyObject(uploadId);
    return this.keys.unwrap(stored.wrappedKey, stored.masterKeyId);
  }

  private async readKeyObject(uploadId: string): Promise<{ wrappedKey: string; masterKeyId: string }> {
    let source: Readable;
    try {
      source = await this.store.get(keyObjectName(uploadId));
    } catch (error) {
      if (error instanceof BlobNotFoundError) throw new AppError('UPLOAD_NOT_FOUND', 'The upload does not exist or has ended');
      throw error;
    }

    const buffers: Buffer[] = [];
    let length = 0;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      length += chunk.length;
      if (length > MAX_KEY_OBJECT_BYTES) {
        source.destroy();
        throw new Error(`The key object of upload ${uploadId} is larger than ${MAX_KEY_OBJECT_BYTES} bytes`);
      }
      buffers.push(chunk);
    }
    const parsed = JSON.parse(Buffer.concat(buffers).toString('utf8')) as { wrappedKey?: unknown; masterKeyId?: unknown };
    if (typeof parsed.wrappedKey !== 'string' || typeof parsed.masterKeyId !== 'string') {
      throw new Error(`The key object of upload ${uploadId} is malformed`);
    }
    return { wrappedKey: parsed.wrappedKey, masterKeyId: parsed.masterKeyId };
  }
}

/**
 * Picks the parts that cover the upload from byte 0 without a gap. Parts may
 * overlap when a client sent the same bytes twice, such as after a timeout
 * whose request still completed; the repeated bytes are skipped.
 */
function arrangeParts(parts: StagedPart[]): UploadLayout {
  parts.sort((a, b) => a.offset - b.offset || b.length - a.length);
  const chain: UploadLayout['chain'] = [];
  let end = 0;
  for (const part of parts) {
    if (part.offset > end) break;
    if (part.offset + part.length <= end) continue;
    chain.push({ part, skip: end - part.offset });
    end = part.offset + part.length;
  }
  return { chain, offset: end };
}

function keyObjectName(uploadId: string): string {
  return `u/${uploadId}/${KEY_OBJECT}`;
}

function assertUploadId(uploadId: string): void {
  if (!UPLOAD_ID_PATTERN.test(uploadId)) throw new AppError('UPLOAD_NOT_FOUND', 'The upload does not exist or has ended');
}

/**
 * Encrypts one part, counting plaintext bytes against the bytes the upload may still take.
 * NOTE: AES-GCM allows at most about 64 GiB under one nonce, so one append must stay below
 * that; with CHATTERBOX_MAX_FILE_BYTES at its 1 GiB default it always does.
 */
class PartSealer extends Transform {
  plaintextBytes = 0;
  limitError: AppError | undefined;
  private readonly cipher: CipherGCM;

  constructor(
    dataKey: Buffer,
    nonce: Buffer,
    private readonly remainingBytes: number,
    private readonly maxBytes: number,
  ) {
    super();
    this.cipher = createCipheriv('aes-256-gcm', dataKey, nonce);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.plaintextBytes += chunk.length;
    if (this.plaintextBytes > this.remainingBytes) {
      this.limitError = new AppError('FILE_TOO_LARGE', `The file is larger than ${this.maxBytes} bytes`, { max: this.maxBytes });
      callback(this.limitError);
      return;
    }
    callback(null, this.cipher.update(chunk));
  }

  override _flush(callback: TransformCallback): void {
    this.cipher.final();
    callback(null, this.cipher.getAuthTag());
  }
}

/** Decrypts one part, holding back its last 16 bytes as the tag, and drops the first `skip` plaintext bytes. */
class PartOpener extends Transform {
  private readonly decipher: DecipherGCM;
  private held = Buffer.alloc(0);
  private toSkip: number;

  constructor(
    dataKey: Buffer,
    private readonly part: StagedPart,
    skip: number,
  ) {
    super();
    this.decipher = createDecipheriv('aes-256-gcm', dataKey, part.nonce);
    this.toSkip = skip;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const joined = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    const cut = Math.max(0, joined.length - TAG_BYTES);
    this.held = Buffer.from(joined.subarray(cut));
    this.pushPlaintext(this.decipher.update(joined.subarray(0, cut)));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.held.length !== TAG_BYTES) {
      callback(new Error(`Staged part ${this.part.key} is shorter than its tag`));
      return;
    }
    this.decipher.setAuthTag(this.held);
    try {
      this.pushPlaintext(this.decipher.final());
    } catch {
      callback(new Error(`Staged part ${this.part.key} does not authenticate`));
      return;
    }
    callback();
  }

  private pushPlaintext(plaintext: Buffer): void {
    if (this.toSkip >= plaintext.length) {
      this.toSkip -= plaintext.length;
      return;
    }
    this.push(this.toSkip === 0 ? plaintext : plaintext.subarray(this.toSkip));
    this.toSkip = 0;
  }
}
