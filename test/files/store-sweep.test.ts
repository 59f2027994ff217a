import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BlobStore } from '../../src/files/blob-store.js';
import { S3BlobStore } from '../../src/files/s3-store.js';
import { UploadStaging } from '../../src/files/staging.js';
import { FileSweeper } from '../../src/files/sweep.js';
import type { StoredBlob } from '../../src/files/vault.js';
import { createLogger } from '../../src/platform/logger.js';
import type { Db } from '../../src/storage/database.js';
import { bytesOf } from '../helpers/bytes.js';
import { startS3Server, type TestS3Server } from '../helpers/s3.js';
import { startServer, type TestServer } from '../helpers/server.js';

const GIB = 1024 * 1024 * 1024;
const HOUR = 3600 * 1000;
const logger = createLogger('silent');

let s3: TestS3Server;
const servers: TestServer[] = [];

beforeAll(async () => {
  s3 = await startS3Server('chatterbox-sweep');
});

afterAll(async () => {
  for (const server of servers) await server.close();
  await s3.close();
});

async function insertFile(db: Db, stored: StoredBlob, thumbnail?: StoredBlob): Promise<string> {
  const id = randomUUID();
  await db
    .insertInto('files')
    .values({
      id,
      team_id: randomUUID(),
      conversation_id: randomUUID(),
      message_id: null,
      uploader_id: randomUUID(),
      name: 'kept.txt',
      mime_type: 'text/plain',
      size: stored.size,
      sha256: stored.sha256,
      blob_key: stored.blobKey,
      wrapped_key: stored.wrappedKey,
      master_key_id: stored.masterKeyId,
      width: null,
      height: null,
      thumbnail_key: thumbnail?.blobKey ?? null,
      thumbnail_wrapped_key: thumbnail?.wrappedKey ?? null,
      thumbnail_master_key_id: thumbnail?.masterKeyId ?? null,
      thumbnail_size: thumbnail?.size ?? null,
      created_at: Date.now(),
      deleted_at: null,
    })
    .execute();
  return id;
}

async function insertUpload(db: Db, id: string, expiresAt: number): Promise<void> {
  await db
    .insertInto('uploads')
    .values({
      id,
      team_id: randomUUID(),
      conversation_id: randomUUID(),
      uploader_id: randomUUID(),
      name: 'big.iso',
      mime_type: 'application/octet-stream',
      size: 100,
      created_at: Date.now(),
      expires_at: expiresAt,
    })
    .execute();
}

async function exists(store: BlobStore, key: string): Promise<boolean> {
  for await (const entry of store.list(key)) if (entry.key === key) return true;
  return false;
}

async function stagingExists(store: BlobStore, uploadId: string): Promise<boolean> {
  for await (const _entry of store.list(`u/${uploadId}/`)) return true;
  return false;
}

const backends = [
  { name: 'local', s3: false },
  { name: 's3', s3: true },
];

describe.each(backends)('sweep on $name store', (backend) => {
  async function setUp() {
    const server = await startServer({ files: { sweepIntervalMs: 0, ...(backend.s3 && { store: 's3', s3: s3.s3 }) } });
    servers.push(server);
    const { ctx } = server.server;
    // The sweeper of the test runs with a clock that the test moves forward.
    let now = Date.now();
    const sweeper = new FileSweeper(ctx.files.store, ctx.files.staging, ctx.storage.db, { sweepIntervalMs: 0, orphanGraceMs: HOUR }, logger, () => now);
    return { ctx, sweeper, advance: (ms: number) => (now += ms), now: () => now };
  }

  test('sweep removes orphans and spares fresh ones', async () => {
    const { ctx, sweeper, advance } = await setUp();
    const { vault, store } = ctx.files;
    const write = (text: string) => vault.write(Readable.from([Buffer.from(text)]), { maxBytes: GIB });
    const kept = await write('referenced');
    const thumbnail = await write('thumbnail');
    await insertFile(ctx.storage.db, kept, thumbnail);
    const orphan = await write('orphan');

    const early = await sweeper.sweep();
    expect(early.orphanBlobs).toBe(0);
    expect(await exists(store, orphan.blobKey)).toBe(true);

    advance(HOUR + 60_000);
    const swept = await sweeper.sweep();

    expect(swept.orphanBlobs).toBe(1);
    expect(await exists(store, orphan.blobKey)).toBe(false);
    expect(await exists(store, kept.blobKey)).toBe(true);
    expect(await exists(store, thumbnail.blobKey)).toBe(true);
  });

  test('sweep removes abandoned staging', async () => {
    const { ctx, sweeper, advance, now } = await setUp();
    const staging: UploadStaging = ctx.files.staging;
    const db = ctx.storage.db;
    const live = randomUUID();
    const expired = randomUUID();
    const rowless = randomUUID();
    for (const id of [live, expired, rowless]) {
      await staging.create(id);
      await staging.append(id, 0, Readable.from([Buffer.from('part')]), GIB);
    }
    await insertUpload(db, live, now() + 24 * HOUR);
    await insertUpload(db, expired, now() + HOUR);

    const early = await sweeper.sweep();
    expect(early.stagedUploads + early.expiredUploadRows).toBe(0);
    expect(await stagingExists(ctx.files.store, rowless)).toBe(true);

    advance(HOUR + 60_000);
    const swept = await sweeper.sweep();

    expect(swept.expiredUploadRows).toBe(1);
    expect(swept.stagedUploads).toBe(1);
    expect(await stagingExists(ctx.files.store, live)).toBe(true);
    expect(await stagingExists(ctx.files.store, expired)).toBe(false);
    expect(await stagingExists(ctx.files.store, rowless)).toBe(false);
    const rows = await db.selectFrom('uploads').select('id').where('id', 'in', [live, expired]).execute();
    expect(rows.map((row) => row.id)).toEqual([live]);
  });
});

describe('sweep schedule', () => {
  test('sweep runs at start', async () => {
    const server = await startServer({ files: { sweepIntervalMs: HOUR, orphanGraceMs: 0 } });
    servers.push(server);
    const { ctx } = server.server;
    const orphan = await ctx.files.vault.write(Readable.from([Buffer.from('left behind')]), { maxBytes: GIB });
    await ctx.files.sweeper.stop();

    // A second node on the same data folder sweeps when it starts.
    const second = await startServer({ dataDir: server.dataDir, files: { sweepIntervalMs: HOUR, orphanGraceMs: 0 } });
    servers.push(second);
    await second.server.ctx.files.sweeper.stop();

    expect(await exists(second.server.ctx.files.store, orphan.blobKey)).toBe(false);
  });

  test('unfinished local writes are removed', async () => {
    const server = await startServer({ files: { sweepIntervalMs: 0 } });
    servers.push(server);
    const { ctx } = server.server;
    const leftover = path.join(server.dataDir, 'files', '.tmp', 'crashed.part');
    fs.writeFileSync(leftover, 'half a file');
    const old = new Date(Date.now() - 2 * HOUR);
    fs.utimesSync(leftover, old, old);
    const sweeper = new FileSweeper(ctx.files.store, ctx.files.staging, ctx.storage.db, { sweepIntervalMs: 0, orphanGraceMs: HOUR }, logger);

    const result = await sweeper.sweep();

    expect(result.temporaryFiles).toBe(1);
    expect(fs.existsSync(leftover)).toBe(false);
  });

  test('s3 store is selected by config', async () => {
    const server = await startServer({ files: { sweepIntervalMs: 0, store: 's3', s3: s3.s3 } });
    servers.push(server);
    const { files } = server.server.ctx;
    const stored = await files.vault.write(Readable.from([Buffer.from('through config')]), { maxBytes: GIB });
    const file = { blob_key: stored.blobKey, wrapped_key: stored.wrappedKey, master_key_id: stored.masterKeyId, size: stored.size };

    expect(files.store).toBeInstanceOf(S3BlobStore);
    expect((await bytesOf(await files.vault.read(file))).toString()).toBe('through config');
    expect(fs.existsSync(path.join(server.dataDir, 'files', 'f'))).toBe(false);
  });
});
