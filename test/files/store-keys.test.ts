import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { keyFilePath, masterKeyId, MasterKeyRing, openMasterKeyRing, readKeyFile, toMasterKey } from '../../src/files/keys.js';
import { rotateKeys } from '../../src/files/rotate.js';
import { UploadStaging } from '../../src/files/staging.js';
import { FileVault, type StoredBlob } from '../../src/files/vault.js';
import type { Config } from '../../src/platform/config.js';
import { createLogger, type Logger } from '../../src/platform/logger.js';
import type { Db } from '../../src/storage/database.js';
import { bytesOf, generatedBytes } from '../helpers/bytes.js';
import { startServer, type TestServer } from '../helpers/server.js';

const GIB = 1024 * 1024 * 1024;
const folders: string[] = [];
const servers: TestServer[] = [];

afterAll(async () => {
  for (const server of servers) await server.close();
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
});

function newFolder(): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-keys-'));
  folders.push(folder);
  return folder;
}

/** Creates a logger that keeps its JSON lines in memory, so tests can check what was logged. */
function capturingLogger(): { logger: Logger; lines: () => string } {
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { logger: createLogger('info', output), lines: () => Buffer.concat(chunks).toString('utf8') };
}

async function waitForLogs(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

async function startFileServer(overrides: Partial<Config['files']> = {}): Promise<TestServer> {
  const server = await startServer({ files: { sweepIntervalMs: 0, ...overrides } });
  servers.push(server);
  return server;
}

/** Inserts a files row for a stored blob, as the upload action does. */
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
      name: 'report.bin',
      mime_type: 'application/octet-stream',
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

async function readRow(db: Db, id: string) {
  return db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

function blobDigest(dataDir: string, blobKey: string): string {
  return createHash('sha256').update(fs.readFileSync(path.join(dataDir, 'files', ...blobKey.split('/')))).digest('hex');
}

describe('master keys', () => {
  test('generated key file has mode 0600', async () => {
    const dataDir = newFolder();
    const { logger, lines } = capturingLogger();

    const ring = openMasterKeyRing({ masterKey: '', previousMasterKeys: [], dataDir }, logger);
    await waitForLogs();

    const file = keyFilePath(dataDir);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const [stored] = readKeyFile(file);
    expect(stored?.id).toBe(ring.current.id);
    expect(lines()).toContain('generated a new file master key');
    expect(lines()).toContain(ring.current.id);
    expect(lines()).not.toContain(stored?.key.toString('base64'));
  });

  test('key file is reused on restart', async () => {
    const dataDir = newFolder();
    const { logger, lines } = capturingLogger();
    const first = openMasterKeyRing({ masterKey: '', previousMasterKeys: [], dataDir }, createLogger('silent'));

    const second = openMasterKeyRing({ masterKey: '', previousMasterKeys: [], dataDir }, logger);
    await waitForLogs();

    expect(second.current.id).toBe(first.current.id);
    expect(lines()).not.toContain('generated');
  });

  test('environment key wins over the key file', async () => {
    const dataDir = newFolder();
    const key = randomBytes(32);
    const { logger, lines } = capturingLogger();

    const ring = openMasterKeyRing({ masterKey: key.toString('base64'), previousMasterKeys: [], dataDir }, logger);
    await waitForLogs();

    expect(ring.current.id).toBe(masterKeyId(key));
    expect(fs.existsSync(keyFilePath(dataDir))).toBe(false);
    expect(lines()).not.toContain(key.toString('base64'));
  });

  test('previous keys unwrap but never wrap', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = new MasterKeyRing([toMasterKey(oldKey)]);
    const dataKey = randomBytes(32);
    const wrapped = before.wrap(dataKey);

    const after = new MasterKeyRing([toMasterKey(newKey), toMasterKey(oldKey)]);

    expect(after.unwrap(wrapped.wrappedKey, wrapped.masterKeyId).equals(dataKey)).toBe(true);
    expect(after.wrap(dataKey).masterKeyId).toBe(masterKeyId(newKey));
  });

  test('wrapped key bound to its key id', () => {
    const ring = new MasterKeyRing([toMasterKey(randomBytes(32))]);
    const wrapped = ring.wrap(randomBytes(32));
    const altered = Buffer.from(wrapped.wrappedKey, 'base64');
    altered.writeUInt8(altered.readUInt8(20) ^ 1, 20);

    expect(() => ring.unwrap(altered.toString('base64'), wrapped.masterKeyId)).toThrow(/does not authenticate/);
    expect(() => ring.unwrap(wrapped.wrappedKey, 'k0000000000000000')).toThrow(/not configured/);
  });

  test('derived secret follows the current key', () => {
    const key = toMasterKey(randomBytes(32));
    const ring = new MasterKeyRing([key]);
    const same = new MasterKeyRing([key]);
    const other = new MasterKeyRing([toMasterKey(randomBytes(32))]);

    expect(ring.deriveSecret('links')).toHaveLength(32);
    expect(ring.deriveSecret('links').equals(same.deriveSecret('links'))).toBe(true);
    expect(ring.deriveSecret('links').equals(ring.deriveSecret('other'))).toBe(false);
    expect(ring.deriveSecret('links').equals(other.deriveSecret('links'))).toBe(false);
    expect(ring.deriveSecret('links').equals(key.key)).toBe(false);
  });
});

describe('key rotation', () => {
  test('rotation re-wraps and old files read', async () => {
    const server = await startFileServer();
    const { ctx } = server.server;
    const db = ctx.storage.db;
    const oldId = ctx.files.keys.current.id;
    const plaintext = generatedBytes(300_000, 'rotate');
    const stored = await ctx.files.vault.write(Readable.from([plaintext]), { maxBytes: GIB });
    const thumbnail = await ctx.files.vault.write(Readable.from([Buffer.from('thumbnail bytes')]), { maxBytes: GIB });
    const fileId = await insertFile(db, stored, thumbnail);
    const uploadId = randomUUID();
    await ctx.files.staging.create(uploadId);
    await ctx.files.staging.append(uploadId, 0, Readable.from([Buffer.from('staged')]), GIB);
    const blobBefore = blobDigest(server.dataDir, stored.blobKey);

    const result = await rotateKeys({ config: ctx.config, db: ctx.storage.db, store: ctx.files.store, logger: createLogger('silent') });

    expect(result.masterKeyId).not.toBe(oldId);
    expect(result.rewrappedKeys).toBe(2);
    expect(result.rewrappedUploads).toBe(1);
    expect(result.failedKeys).toBe(0);
    expect(result.retiredKeys).toBe(1);
    const row = await readRow(db, fileId);
    expect(row.master_key_id).toBe(result.masterKeyId);
    expect(row.thumbnail_master_key_id).toBe(result.masterKeyId);
    expect(row.wrapped_key).not.toBe(stored.wrappedKey);
    expect(blobDigest(server.dataDir, stored.blobKey)).toBe(blobBefore);
    expect(readKeyFile(keyFilePath(server.dataDir)).map((key) => key.id)).toEqual([result.masterKeyId]);
    expect(fs.statSync(keyFilePath(server.dataDir)).mode & 0o777).toBe(0o600);

    // The running node notices the new key file: it reads the re-wrapped rows and wraps new files under the new key.
    expect((await bytesOf(await ctx.files.vault.read(row))).equals(plaintext)).toBe(true);
    const thumbnailFile = { blob_key: row.thumbnail_key as string, wrapped_key: row.thumbnail_wrapped_key, master_key_id: row.thumbnail_master_key_id, size: row.thumbnail_size as number };
    expect((await bytesOf(await ctx.files.vault.read(thumbnailFile))).toString()).toBe('thumbnail bytes');
    expect((await ctx.files.vault.write(Readable.from([Buffer.from('new')]), { maxBytes: GIB })).masterKeyId).toBe(result.masterKeyId);
    expect((await bytesOf(await ctx.files.staging.open(uploadId))).toString()).toBe('staged');

    // A node started afresh has only the new key and still reads everything.
    const fresh = openMasterKeyRing({ masterKey: '', previousMasterKeys: [], dataDir: server.dataDir }, createLogger('silent'));
    const freshVault = new FileVault(ctx.files.store, fresh, createLogger('silent'));
    expect((await bytesOf(await freshVault.read(row))).equals(plaintext)).toBe(true);
    expect((await bytesOf(await new UploadStaging(ctx.files.store, fresh, createLogger('silent')).open(uploadId))).toString()).toBe('staged');
  });

  test('rotation with environment keys', async () => {
    const oldKey = randomBytes(32).toString('base64');
    const newKey = randomBytes(32).toString('base64');
    const server = await startFileServer({ masterKey: oldKey });
    const { ctx } = server.server;
    const plaintext = generatedBytes(70_000, 'env-rotate');
    const fileId = await insertFile(ctx.storage.db, await ctx.files.vault.write(Readable.from([plaintext]), { maxBytes: GIB }));

    const config = { ...ctx.config, files: { ...ctx.config.files, masterKey: newKey, previousMasterKeys: [oldKey] } };
    const result = await rotateKeys({ config, db: ctx.storage.db, store: ctx.files.store, logger: createLogger('silent') });

    expect(result.masterKeyId).toBe(masterKeyId(Buffer.from(newKey, 'base64')));
    expect(result.rewrappedKeys).toBe(1);
    expect(result.retiredKeys).toBe(0);
    expect(fs.existsSync(keyFilePath(server.dataDir))).toBe(false);
    const row = await readRow(ctx.storage.db, fileId);
    const onlyNew = new MasterKeyRing([toMasterKey(Buffer.from(newKey, 'base64'))]);
    const vault = new FileVault(ctx.files.store, onlyNew, createLogger('silent'));
    expect((await bytesOf(await vault.read(row))).equals(plaintext)).toBe(true);

    // A second run finds nothing left to do.
    const again = await rotateKeys({ config, db: ctx.storage.db, store: ctx.files.store, logger: createLogger('silent') });
    expect(again.rewrappedKeys).toBe(0);
  });

  test('unknown master key is reported and kept', async () => {
    const server = await startFileServer();
    const { ctx } = server.server;
    const stranger = new FileVault(ctx.files.store, new MasterKeyRing([toMasterKey(randomBytes(32))]), createLogger('silent'));
    const lost = await stranger.write(Readable.from([Buffer.from('lost')]), { maxBytes: GIB });
    const fileId = await insertFile(ctx.storage.db, lost);

    const result = await rotateKeys({ config: ctx.config, db: ctx.storage.db, store: ctx.files.store, logger: createLogger('silent') });

    expect(result.failedKeys).toBe(1);
    const row = await readRow(ctx.storage.db, fileId);
    expect(row.master_key_id).toBe(lost.masterKeyId);
    expect(row.wrapped_key).toBe(lost.wrappedKey);
  });
});
