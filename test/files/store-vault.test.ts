import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BlobNotFoundError, type BlobEntry, type BlobStore } from '../../src/files/blob-store.js';
import { MasterKeyRing, toMasterKey } from '../../src/files/keys.js';
import { LocalBlobStore } from '../../src/files/local-store.js';
import { S3BlobStore } from '../../src/files/s3-store.js';
import { BlobIntegrityError, CHUNK_BYTES, FileVault, HEADER_BYTES, sealedSize, type StoredBlob } from '../../src/files/vault.js';
import { AppError } from '../../src/platform/errors.js';
import { createLogger } from '../../src/platform/logger.js';
import { bytesOf, digestOf, generatedBytes, generatedDigest, generatedStream } from '../helpers/bytes.js';
import { startS3Server, type TestS3Server } from '../helpers/s3.js';

const logger = createLogger('silent');
const MB = 1024 * 1024;
const GIB = 1024 * MB;

/** A real store that records the byte ranges it was asked for. */
class RecordingStore implements BlobStore {
  gets: Array<{ key: string; range?: { start: number; end: number } }> = [];

  constructor(private readonly inner: BlobStore) {}

  put(key: string, body: Readable): Promise<void> {
    return this.inner.put(key, body);
  }

  get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    this.gets.push({ key, range });
    return this.inner.get(key, range);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  list(prefix: string): AsyncIterable<BlobEntry> {
    return this.inner.list(prefix);
  }
}

async function keysIn(store: BlobStore, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of store.list(prefix)) keys.push(entry.key);
  return keys;
}

function newRing(): MasterKeyRing {
  return new MasterKeyRing([toMasterKey(randomBytes(32))]);
}

function asFile(stored: StoredBlob) {
  return { blob_key: stored.blobKey, wrapped_key: stored.wrappedKey, master_key_id: stored.masterKeyId, size: stored.size };
}

let s3: TestS3Server;
const folders: string[] = [];

beforeAll(async () => {
  s3 = await startS3Server();
});

afterAll(async () => {
  await s3.close();
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
});

function localStore(): LocalBlobStore {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-vault-'));
  folders.push(folder);
  return new LocalBlobStore(path.join(folder, 'files'));
}

const backends: Array<{ name: string; open: () => BlobStore }> = [
  { name: 'local', open: localStore },
  { name: 's3', open: () => new S3BlobStore(s3.s3, logger) },
];

describe.each(backends)('vault on $name store', ({ open }) => {
  test.each([
    ['empty', 0],
    ['one byte', 1],
    ['5 MB', 5 * MB],
    ['200 MB', 200 * MB],
  ])('round trip %s', { timeout: 180_000 }, async (_name, size) => {
    const store = open();
    const vault = new FileVault(store, newRing(), logger);
    const expected = await generatedDigest(size, `round-trip-${size}`);

    const stored = await vault.write(generatedStream(size, `round-trip-${size}`), { maxBytes: GIB });

    expect(stored.size).toBe(size);
    expect(stored.sha256).toBe(expected.sha256);
    expect(stored.wrappedKey).not.toBeNull();
    const read = await digestOf(await vault.read(asFile(stored)));
    expect(read).toEqual(expected);
    const [entry] = await collect(store.list(stored.blobKey));
    expect(entry?.size).toBe(sealedSize(size));
    await vault.remove(stored.blobKey);
    expect(await keysIn(store, stored.blobKey)).toEqual([]);
  });

  test('ranges at chunk boundaries', async () => {
    const recording = new RecordingStore(open());
    const vault = new FileVault(recording, newRing(), logger);
    const size = 3 * CHUNK_BYTES + 100;
    const plaintext = generatedBytes(size, 'ranges');
    const file = asFile(await vault.write(Readable.from([plaintext]), { maxBytes: GIB }));

    const cases: Array<[string, number, number, number]> = [
      // name, start, end, chunks the read must fetch
      ['first byte', 0, 0, 1],
      ['last byte', size - 1, size - 1, 1],
      ['last byte of first chunk', CHUNK_BYTES - 1, CHUNK_BYTES - 1, 1],
      ['across two chunks', CHUNK_BYTES - 1, CHUNK_BYTES, 2],
      ['one whole chunk', CHUNK_BYTES, 2 * CHUNK_BYTES - 1, 1],
      ['last partial chunk', 3 * CHUNK_BYTES, size - 1, 1],
      ['middle to end', CHUNK_BYTES + 7, size - 1, 3],
      ['whole file', 0, size - 1, 4],
    ];
    for (const [name, start, end, chunks] of cases) {
      recording.gets = [];
      const bytes = await bytesOf(await vault.read(file, { start, end }));
      expect(bytes.equals(plaintext.subarray(start, end + 1)), name).toBe(true);
      const fetched = recording.gets[0]?.range;
      expect(fetched, name).toBeDefined();
      const fetchedBytes = (fetched?.end ?? 0) - (fetched?.start ?? 0) + 1;
      expect(fetchedBytes, name).toBeLessThanOrEqual(chunks * (CHUNK_BYTES + 16));
      expect(fetchedBytes, name).toBeGreaterThan((chunks - 1) * (CHUNK_BYTES + 16));
    }
  });

  test('size a multiple of the chunk', async () => {
    const vault = new FileVault(open(), newRing(), logger);
    const size = 2 * CHUNK_BYTES;
    const plaintext = generatedBytes(size, 'multiple');
    const file = asFile(await vault.write(Readable.from([plaintext]), { maxBytes: GIB }));

    expect((await bytesOf(await vault.read(file))).equals(plaintext)).toBe(true);
    expect((await bytesOf(await vault.read(file, { start: size - 1, end: size - 1 }))).equals(plaintext.subarray(size - 1))).toBe(true);
    expect((await bytesOf(await vault.read(file, { start: CHUNK_BYTES, end: size - 1 }))).equals(plaintext.subarray(CHUNK_BYTES))).toBe(true);
  });

  test('range outside the file', async () => {
    const vault = new FileVault(open(), newRing(), logger);
    const file = asFile(await vault.write(Readable.from([Buffer.from('hello')]), { maxBytes: GIB }));

    await expect(vault.read(file, { start: 0, end: 5 })).rejects.toThrow(RangeError);
    await expect(vault.read(file, { start: 3, end: 2 })).rejects.toThrow(RangeError);
    await expect(vault.read(file, { start: -1, end: 2 })).rejects.toThrow(RangeError);
  });

  test('past maxBytes leaves no blob', async () => {
    const store = open();
    const vault = new FileVault(store, newRing(), logger);
    const before = await keysIn(store, 'f/');

    const error = await vault.write(generatedStream(6 * MB, 'too-large'), { maxBytes: 5 * MB }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('FILE_TOO_LARGE');
    expect((error as AppError).details.max).toBe(5 * MB);
    expect(await keysIn(store, 'f/')).toEqual(before);
  });

  test('exactly maxBytes is accepted', async () => {
    const vault = new FileVault(open(), newRing(), logger);
    const stored = await vault.write(generatedStream(1000, 'exact'), { maxBytes: 1000 });
    expect(stored.size).toBe(1000);
  });

  test('failing body leaves no blob', async () => {
    const store = open();
    const vault = new FileVault(store, newRing(), logger);
    const before = await keysIn(store, 'f/');
    const body = new Readable({ read() {} });
    body.push(generatedBytes(6 * MB, 'failing'));
    setTimeout(() => body.destroy(new Error('connection reset')), 50);

    await expect(vault.write(body, { maxBytes: GIB })).rejects.toThrow('connection reset');
    expect(await keysIn(store, 'f/')).toEqual(before);
  });

  test('missing blob', async () => {
    const vault = new FileVault(open(), newRing(), logger);
    const stored = await vault.write(Readable.from([Buffer.from('gone soon')]), { maxBytes: GIB });
    await vault.remove(stored.blobKey);

    await expect(vault.read(asFile(stored))).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(vault.remove(stored.blobKey)).resolves.toBeUndefined();
  });

  test('altered blob fails to decrypt', async () => {
    const store = open();
    const vault = new FileVault(store, newRing(), logger);
    const plaintext = generatedBytes(2 * CHUNK_BYTES + 10, 'altered');
    const stored = await vault.write(Readable.from([plaintext]), { maxBytes: GIB });
    const blob = await bytesOf(await store.get(stored.blobKey));
    const position = HEADER_BYTES + CHUNK_BYTES + 40;
    blob.writeUInt8(blob.readUInt8(position) ^ 1, position);
    await store.put(stored.blobKey, Readable.from([blob]));

    await expect(bytesOf(await vault.read(asFile(stored)))).rejects.toBeInstanceOf(BlobIntegrityError);
    await expect(bytesOf(await vault.read(asFile(stored), { start: CHUNK_BYTES, end: CHUNK_BYTES }))).rejects.toBeInstanceOf(BlobIntegrityError);
    // The first chunk is intact, so a range inside it still reads.
    expect((await bytesOf(await vault.read(asFile(stored), { start: 0, end: 9 }))).equals(plaintext.subarray(0, 10))).toBe(true);
  });
});

describe('vault blob format', () => {
  async function writeLocal(size: number, seed: string) {
    const store = localStore();
    const vault = new FileVault(store, newRing(), logger);
    const plaintext = generatedBytes(size, seed);
    const stored = await vault.write(Readable.from([plaintext]), { maxBytes: GIB });
    return { store, vault, plaintext, stored, file: path.join(store.root, ...stored.blobKey.split('/')) };
  }

  test('stored blob is not the plaintext', async () => {
    const text = Buffer.from('the quarterly numbers are confidential '.repeat(5000));
    const store = localStore();
    const vault = new FileVault(store, newRing(), logger);
    const stored = await vault.write(Readable.from([text]), { maxBytes: GIB });
    const onDisk = fs.readFileSync(path.join(store.root, ...stored.blobKey.split('/')));

    expect(onDisk.length).toBe(sealedSize(text.length));
    expect(onDisk.includes(Buffer.from('quarterly'))).toBe(false);
    expect(onDisk.includes(text.subarray(0, 16))).toBe(false);
  });

  test('blob cut at a chunk boundary fails', async () => {
    const { vault, stored, file } = await writeLocal(2 * CHUNK_BYTES + 10, 'cut');
    fs.truncateSync(file, HEADER_BYTES + CHUNK_BYTES + 16);

    await expect(bytesOf(await vault.read(asFile(stored)))).rejects.toBeInstanceOf(BlobIntegrityError);
  });

  test('blob cut and relabelled smaller fails', async () => {
    // Cutting the blob and the recorded size together still fails, because the new last chunk lacks the final flag.
    const { vault, stored, file } = await writeLocal(2 * CHUNK_BYTES, 'relabel');
    fs.truncateSync(file, HEADER_BYTES + CHUNK_BYTES + 16);

    await expect(bytesOf(await vault.read({ ...asFile(stored), size: CHUNK_BYTES }))).rejects.toBeInstanceOf(BlobIntegrityError);
  });

  test('swapped chunks fail', async () => {
    const { vault, stored, file } = await writeLocal(3 * CHUNK_BYTES, 'swap');
    const blob = fs.readFileSync(file);
    const sealed = CHUNK_BYTES + 16;
    const first = Buffer.from(blob.subarray(HEADER_BYTES, HEADER_BYTES + sealed));
    blob.copy(blob, HEADER_BYTES, HEADER_BYTES + sealed, HEADER_BYTES + 2 * sealed);
    first.copy(blob, HEADER_BYTES + sealed);
    fs.writeFileSync(file, blob);

    await expect(bytesOf(await vault.read(asFile(stored)))).rejects.toBeInstanceOf(BlobIntegrityError);
    await expect(bytesOf(await vault.read(asFile(stored), { start: 0, end: 0 }))).rejects.toBeInstanceOf(BlobIntegrityError);
  });

  test('bytes appended after the final chunk fail', async () => {
    const { vault, stored, file } = await writeLocal(100, 'extended');
    fs.appendFileSync(file, Buffer.alloc(32));

    await expect(bytesOf(await vault.read(asFile(stored)))).rejects.toBeInstanceOf(BlobIntegrityError);
  });

  test('altered header fails', async () => {
    const { vault, stored, file } = await writeLocal(100, 'header');
    const blob = fs.readFileSync(file);
    blob[4] = 2;
    fs.writeFileSync(file, blob);

    await expect(bytesOf(await vault.read(asFile(stored)))).rejects.toBeInstanceOf(BlobIntegrityError);
  });

  test('wrong master key fails', async () => {
    const { store, stored } = await writeLocal(100, 'wrong-key');
    const other = new FileVault(store, newRing(), logger);

    await expect(other.read(asFile(stored))).rejects.toThrow(/not configured/);
  });

  test('two writes of the same bytes differ', async () => {
    const store = localStore();
    const vault = new FileVault(store, newRing(), logger);
    const plaintext = generatedBytes(1000, 'twice');
    const first = await vault.write(Readable.from([plaintext]), { maxBytes: GIB });
    const second = await vault.write(Readable.from([plaintext]), { maxBytes: GIB });

    expect(first.sha256).toBe(second.sha256);
    expect(first.blobKey).not.toBe(second.blobKey);
    const firstBlob = await bytesOf(await store.get(first.blobKey));
    const secondBlob = await bytesOf(await store.get(second.blobKey));
    expect(firstBlob.subarray(HEADER_BYTES).equals(secondBlob.subarray(HEADER_BYTES))).toBe(false);
  });

  test('unencrypted rows read as stored', async () => {
    const store = localStore();
    const vault = new FileVault(store, newRing(), logger);
    await store.put('f/00/plain', Readable.from([Buffer.from('plain bytes')]));
    const file = { blob_key: 'f/00/plain', wrapped_key: null, master_key_id: null, size: 11 };

    expect((await bytesOf(await vault.read(file))).toString()).toBe('plain bytes');
    expect((await bytesOf(await vault.read(file, { start: 6, end: 10 }))).toString()).toBe('bytes');
  });
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}
