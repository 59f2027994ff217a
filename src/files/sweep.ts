import type { FilesConfig } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { Db } from '../storage/database.js';
import type { BlobStore } from './blob-store.js';
import { LocalBlobStore } from './local-store.js';
import type { UploadStaging } from './staging.js';

/** Keys looked up in the database per query. */
const SWEEP_BATCH = 500;

/** Counts of the objects and rows one sweep deleted, and its duration. */
export interface SweepResult {
  orphanBlobs: number;
  stagedUploads: number;
  expiredUploadRows: number;
  temporaryFiles: number;
  durationMs: number;
}

/**
 * Deletes what failed or abandoned uploads leave behind: file blobs that no
 * files row references, staging areas of uploads that expired or have no
 * uploads row, and, on local disk, unfinished temporary files. Anything
 * younger than the grace period is spared, so an upload whose row is not
 * written yet keeps its bytes. Several nodes may sweep the same store at once.
 *
 * TODO: parts of S3 multipart uploads left by a crashed node are not swept;
 * a bucket lifecycle rule that aborts incomplete multipart uploads must do it.
 */
export class FileSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly store: BlobStore,
    private readonly staging: UploadStaging,
    private readonly db: Db,
    private readonly config: Pick<FilesConfig, 'sweepIntervalMs' | 'orphanGraceMs'>,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Sweeps now in the background, then every sweepIntervalMs; does nothing when the interval is 0. */
  start(): void {
    if (this.config.sweepIntervalMs === 0 || this.timer !== undefined) return;
    this.runInBackground();
    this.timer = setInterval(() => this.runInBackground(), this.config.sweepIntervalMs);
    this.timer.unref();
  }

  /** Stops the schedule and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Runs one sweep and returns what it deleted. */
  async sweep(): Promise<SweepResult> {
    const started = this.now();
    const olderThan = started - this.config.orphanGraceMs;

    const orphanBlobs = await this.sweepBlobs(olderThan);
    const { stagedUploads, expiredUploadRows } = await this.sweepUploads(started, olderThan);
    const temporaryFiles = this.store instanceof LocalBlobStore ? await this.store.sweepTemporary(this.config.orphanGraceMs, started) : 0;

    const result = { orphanBlobs, stagedUploads, expiredUploadRows, temporaryFiles, durationMs: this.now() - started };
    this.logger.info({ component: 'files', ...result }, 'file sweep finished');
    return result;
  }

  private runInBackground(): void {
    // A sweep still running when the next one is due is not doubled.
    if (this.running !== undefined) return;
    this.running = this.sweep()
      .catch((error: unknown) => this.logger.error({ component: 'files', err: error }, 'file sweep failed'))
      .finally(() => {
        this.running = undefined;
      });
  }

  private async sweepBlobs(olderThan: number): Promise<number> {
    let deleted = 0;
    let batch: string[] = [];
    const flush = async () => {
      deleted += await this.deleteUnreferenced(batch);
      batch = [];
    };

    for await (const entry of this.store.list('f/')) {
      if (entry.modifiedAt > olderThan) continue;
      batch.push(entry.key);
      if (batch.length >= SWEEP_BATCH) await flush();
    }
    if (batch.length > 0) await flush();
    return deleted;
  }

  private async deleteUnreferenced(keys: string[]): Promise<number> {
    const rows = await this.db
      .selectFrom('files')
      .select(['blob_key', 'thumbnail_key'])
      .where((eb) => eb.or([eb('blob_key', 'in', keys), eb('thumbnail_key', 'in', keys)]))
      .execute();
    const referenced = new Set(rows.flatMap((row) => [row.blob_key, row.thumbnail_key]));

    let deleted = 0;
    for (const key of keys) {
      if (referenced.has(key)) continue;
      await this.store.delete(key);
      this.logger.info({ component: 'files', blobKey: key }, 'deleted an orphan blob');
      deleted += 1;
    }
    return deleted;
  }

  private async sweepUploads(now: number, olderThan: number): Promise<{ stagedUploads: number; expiredUploadRows: number }> {
    const expired = await this.db.selectFrom('uploads').select('id').where('expires_at', '<=', now).execute();
    for (const { id } of expired) await this.staging.discard(id);
    const expiredUploadRows =
      expired.length === 0
        ? 0
        : Number((await this.db.deleteFrom('uploads').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows);

    let stagedUploads = 0;
    const stale = (await this.staging.listUploads()).filter((upload) => upload.modifiedAt <= olderThan);
    for (let index = 0; index < stale.length; index += SWEEP_BATCH) {
      const ids = stale.slice(index, index + SWEEP_BATCH).map((upload) => upload.uploadId);
      const live = await this.db.selectFrom('uploads').select('id').where('id', 'in', ids).where('expires_at', '>', now).execute();
      const liveIds = new Set(live.map((row) => row.id));
      for (const id of ids) {
        if (liveIds.has(id)) continue;
        await this.staging.discard(id);
        this.logger.info({ component: 'files', uploadId: id }, 'deleted an abandoned staging area');
        stagedUploads += 1;
      }
    }
    return { stagedUploads, expiredUploadRows };
  }
}
