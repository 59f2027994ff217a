import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { enqueueJob } from '../jobs/queries.js';
import { PermanentJobError } from '../jobs/runner.js';
import type { Logger } from '../platform/logger.js';
import type { Tx } from '../storage/database.js';
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

/** Job kind that makes one file's thumbnail. */
export const THUMBNAIL_JOB = 'files.thumbnail';

interface ThumbnailPayload {
  fileId: string;
}

/** Attempts per thumbnail: a corrupt image fails at once, so retries only cover storage errors. */
const THUMBNAIL_MAX_ATTEMPTS = 3;

/** Returns true for files that get a thumbnail. */
export function wantsThumbnail(file: Pick<FileRow, 'mime_type' | 'size'>, maxInputBytes: number): boolean {
  return THUMBNAIL_TYPES.has(file.mime_type) && Number(file.size) > 0 && Number(file.size) <= maxInputBytes;
}

/**
 * Stores a thumbnail job for each small raster image, inside the transaction
 * that attaches the files to a message. So uploads that are never posted cost
 * nothing, and a node that stops before the work is done leaves it to another.
 */
export async function enqueueThumbnails(ctx: AppContext, tx: Tx, files: ReadonlyArray<Pick<FileRow, 'id' | 'mime_type' | 'size'>>, now: number): Promise<void> {
  for (const file of files) {
    if (!wantsThumbnail(file, ctx.config.files.thumbnailMaxInputBytes)) continue;
    await enqueueJob(tx, { kind: THUMBNAIL_JOB, payload: { fileId: file.id }, dedupeKey: `thumbnail:${file.id}`, maxAttempts: THUMBNAIL_MAX_ATTEMPTS }, now);
  }
}

/**
 * Registers the thumbnail job handler. Each node makes one thumbnail at a time,
 * so at most one image (at most CHATTERBOX_THUMBNAIL_MAX_BYTES, decoded to at
 * most 100 megapixels) is in memory at once, whatever the runner's concurrency.
 */
export function registerThumbnailJob(ctx: AppContext): void {
  let previous: Promise<unknown> = Promise.resolve();
  ctx.jobs.register<ThumbnailPayload>(THUMBNAIL_JOB, (job) => {
    const turn = previous.then(() => runThumbnailJob(ctx, job.payload.fileId, job.log));
    previous = turn.catch(() => undefined);
    return turn;
  });
}

async function runThumbnailJob(ctx: AppContext, fileId: string, log: Logger): Promise<void> {
  const started = Date.now();
  const recorded = await makeThumbnail(ctx, fileId);
  log.info({ component: 'files', fileId, recorded, durationMs: Date.now() - started }, 'thumbnail job finished');
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
  const { metadata, data } = await decodeImage(image, fileId);
  await input;

  const width = metadata.autoOrient?.width ?? metadata.width;
  const height = metadata.autoOrient?.height ?? metadata.height;
  if (width === undefined || height === undefined) throw new PermanentJobError(`image ${fileId} has no dimensions`);

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

/**
 * Decodes the image and renders the thumbnail. A corrupt or unsupported image
 * is expected input that no retry mends, so its error is permanent and the
 * file stays downloadable without a thumbnail.
 */
async function decodeImage(image: Sharp, fileId: string): Promise<{ metadata: Metadata; data: Buffer }> {
  try {
    const metadata = await image.metadata();
    const { data } = await image
      .autoOrient()
      .resize(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer({ resolveWithObject: true });
    return { metadata, data };
  } catch (error) {
    throw new PermanentJobError(`image ${fileId} could not be decoded`, { cause: error });
  }
}
