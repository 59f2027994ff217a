import { DeleteObjectCommand, GetObjectCommand, paginateListObjectsV2, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import type { Logger } from '../platform/logger.js';
import { assertBlobKey, BlobNotFoundError, type BlobEntry, type BlobStore } from './blob-store.js';

/** Connection settings of an S3-compatible bucket. */
export interface S3StoreOptions {
  bucket: string;
  region: string;
  /** Endpoint URL for MinIO and other S3-compatible servers; empty uses AWS. */
  endpoint: string;
  /** Empty uses the AWS default credential chain (environment, profile, instance role). */
  accessKeyId: string;
  secretAccessKey: string;
  /** Addresses the bucket in the path (`endpoint/bucket/key`), as MinIO and most self-hosted servers expect. */
  forcePathStyle: boolean;
}

/**
 * Size of one multipart upload part. S3 requires at least 5 MiB for every
 * part but the last. lib-storage documents that an upload buffers at most
 * queueSize × partSize bytes, so about 10 MiB per upload in progress.
 */
const UPLOAD_PART_BYTES = 5 * 1024 * 1024;
const UPLOAD_QUEUE_SIZE = 2;

/**
 * Blobs as objects in an S3 bucket. Writes stream through multipart uploads,
 * or one PUT for bodies smaller than a part, so a body is never held whole.
 * A failed write aborts its multipart upload.
 */
export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  private readonly bucket: string;

  constructor(
    options: S3StoreOptions,
    private readonly logger: Logger,
  ) {
    this.bucket = options.bucket;
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint !== '' && { endpoint: options.endpoint }),
      forcePathStyle: options.forcePathStyle,
      ...(options.accessKeyId !== '' && {
        credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      }),
      // Send checksums only where S3 requires them: several S3-compatible servers reject the
      // streaming checksum trailers that newer SDK versions add to every upload by default.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(key: string, body: Readable): Promise<void> {
    assertBlobKey(key);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body },
      partSize: UPLOAD_PART_BYTES,
      queueSize: UPLOAD_QUEUE_SIZE,
      leavePartsOnError: false,
    });
    let bodyError: Error | undefined;
    const recordBodyError = (error: Error) => {
      bodyError = error;
    };
    body.once('error', recordBodyError);
    try {
      await upload.done();
    } catch (error) {
      // Upload aborts its multipart upload on failure, and a failed abort replaces the
      // original error; the body's error is the one the caller needs.
      if (bodyError !== undefined && error !== bodyError) {
        this.logger.warn({ component: 'files', blobKey: key, err: error }, 'aborting a failed S3 multipart upload failed; a bucket lifecycle rule must remove its parts');
      }
      body.destroy();
      throw bodyError ?? error;
    } finally {
      body.off('error', recordBodyError);
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    assertBlobKey(key);
    try {
      const response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range !== undefined && { Range: `bytes=${range.start}-${range.end}` }),
        }),
      );
      // In Node the body is the HTTP response stream itself.
      return response.Body as Readable;
    } catch (error) {
      if (error instanceof S3ServiceException && (error.name === 'NoSuchKey' || error.$metadata.httpStatusCode === 404)) {
        throw new BlobNotFoundError(key);
      }
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async *list(prefix: string): AsyncIterable<BlobEntry> {
    const pages = paginateListObjectsV2({ client: this.client, pageSize: 1000 }, { Bucket: this.bucket, Prefix: prefix });
    for await (const page of pages) {
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          key: object.Key,
          modifiedAt: object.LastModified?.getTime() ?? 0,
          size: object.Size ?? 0,
        };
      }
    }
  }

  /** Closes the client's connection pool. */
  close(): void {
    this.client.destroy();
    this.logger.debug({ component: 'files', bucket: this.bucket }, 'S3 client closed');
  }
}
