import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import sharp from 'sharp';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { conversationStream } from '../realtime/events.js';
import type { FileRow } from '../storage/schema.js';
import { removeBlobs } from './actions.js';
import { presentFile } from './present.js';
import { findFile, recordThumbnail } from './queries.js';

/** Largest side of a thumbnail in pixels; smaller images keep their size. */
export const THUMBNAIL_MAX_SIDE = 400;

/**
 * Raster formats that get a thumbnail. SVG is left out on purpose: rendering
 * it would run an XML parser and renderer over untrusted input for little gain.
 */
const THUMBNAIL_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif', 'image/tiff']);

/**
 * Decoded pixels one image may have (about 100 megapixels), so a small file
 * that decompresses to a huge bitmap (a decompression bomb) is rejected.
 */
const MAX_INPUT_PIXELS = 100_000_000;

const queues = new WeakMap<AppContext, ThumbnailQueue>();

/** Returns the thumbnail queue of a node, creating it on first use. */
export function thumbnailQueueOf(ctx: AppContext): ThumbnailQueue {
  let queue = queues.get(ctx);
  if (queue === undefined) {
    queue = new ThumbnailQueue(ctx);
    queues.set(ctx, queue);
  }
  return queue;
}

/** Returns true for files that the queue makes a thumbnail for. */
export function wantsThumbnail(file: Pick<FileRow, 'mime_type' | 'size'>, maxInputBytes: number): boolean {
  return THUMBNAIL_TYPES.has(file.mime_type) && Number(file.size) > 0 && Number(file.size) <= maxInputBytes;
}

/**
 * Makes thumbnails in the background, one at a time, so at most one image
 * (at most CHATTERBOX_THUMBNAIL_MAX_BYTES, decoded to at most 100 megapixels)
 * is in memory at once. Files are queued when a message claims them, so
 * uploads that are never posted cost nothing. A finished thumbnail is stored
 * through the vault like any file, and the conversation receives a `file.updated` event.
 * TODO: the queue lives in memory, so files still queued when the process stops get no thumbnail.
 */
export class ThumbnailQueue {
  private readonly pending: string[] = [];
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly ctx: AppContext) {}

  /** Queues a file; files that are not small raster images are skipped. */
  enqueue(file: Pick<FileRow, 'id' | 'mime_type' | 'size'>): void {
    if (this.closed || !wantsThumbnail(file, this.ctx.config.files.thumbnailMaxInputBytes)) return;
    this.pending.push(file.id);
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  enqueueAll(files: ReadonlyArray<Pick<FileRow, 'id' | 'mime_type' | 'size'>>): void {
    for (const file of files) this.enqueue(file);
  }

  /** Resolves once every queued thumbnail is made or has failed; for tests and shutdown. */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Stops taking work and waits for the thumbnail in progress. */
  async close(): Promise<void> {
    this.closed = true;
    this.pending.length = 0;
    await this.idle();
  }

  private async drain(): Promise<void> {
    for (let fileId = this.pending.shift(); fileId !== undefined; fileId = this.pending.shift()) {
      const started = Date.now();
      try {
        const recorded = await makeThumbnail(this.ctx, fileId);
        this.ctx.logger.info({ component: 'files', fileId, recorded, durationMs: Date.now() - started }, 'thumbnail job finished');
      } catch (error) {
        // A corrupt or unsupported image is expected input; the file stays downloadable without a thumbnail.
        this.ctx.logger.info({ component: 'files', fileId, err: error }, 'thumbnail could not be made');
      }
    }
  }
}

/**
 * Reads the image, decodes it with sharp, writes a WebP thumbnail and records
 * it with the image's dimensions. Returns false when the file was deleted
 * before the thumbnail was recorded.
 */
export async function makeThumbnail(ctx: AppContext, fileId: string): Promise<boolean> {
  const file = await findFile(ctx.storage.db, fileId);
  if (file === undefined) return false;

  const image = sharp({ limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error', sequentialRead: true });
  const source = await ctx.files.vault.read(file);
  // sharp collects a stream input before decoding; the queue's input size limit bounds that buffer.
  const input = pipeline(source, image);
  // A failed read also fails metadata() below, which reports it; this keeps the rejection handled.
  input.catch(() => undefined);
  const metadata = await image.metadata();
  const { data } = await image
    .autoOrient()
    .resize(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 80 })
    .toBuffer({ resolveWithObject: true });
  await input;

  const width = metadata.autoOrient?.width ?? metadata.width;
  const height = metadata.autoOrient?.height ?? metadata.height;
  if (width === undefined || height === undefined) throw new Error('sharp found no image dimensions');

  const stored = await ctx.files.vault.write(Readable.from([data]), { maxBytes: data.length });
  const updated = await commitWithEvents(ctx, async (tx, events) => {
    const row = await recordThumbnail(tx, fileId, {
      width,
      height,
      thumbnail_key: stored.blobKey,
      thumbnail_wrapped_key: stored.wrappedKey,
      thumbnail_master_key_id: stored.masterKeyId,
      thumbnail_size: stored.size,
    });
    if (row?.message_id != null) {
      await events.append(conversationStream(row.conversation_id), 'file.updated', { file: presentFile(row) });
    }
    return row;
  });

  if (updated === undefined) {
    await removeBlobs(ctx, [{ blobKey: stored.blobKey, thumbnailKey: null }]);
    return false;
  }
  return true;
}
