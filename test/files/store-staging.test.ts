import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BlobStore } from '../../src/files/blob-store.js';
import { MasterKeyRing, toMasterKey } from '../../src/files/keys.js';
import { LocalBlobStore } from '../../src/files/local-store.js';
import { S3BlobStore } from '../../src/files/s3-store.js';
import { UploadStaging } from '../../src/files/staging.js';
import { FileVault } from '../../src/files/vault.js';
import { AppError } from '../../src/platform/errors.js';
import { createLogger } from '../../src/platform/logger.js';
import { bytesOf, digestOf, generatedBytes, generatedStream } from '../helpers/bytes.js';
import { startS3Server, type TestS3Server } from '../helpers/s3.js';

const logger = createLogger('silent');
const MB = 1024 * 1024;
const GIB = 1024 * MB;

let s3: TestS3Server;
const folders: string[] = [];

beforeAll(async () => {
  s3 = await startS3Server('chatterbox-staging');
});

afterAll(async () => {
  await s3.close();
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
});

function localStore(): LocalBlobStore {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-staging-'));
  folders.push(folder);
  return new LocalBlobStore(path.join(folder, 'files'));
}

const backends: Array<{ name: string; open: () => BlobStore }> = [
  { name: 'local', open: localStore },
  { name: 's3', open: () => new S3BlobStore(s3.s3, logger) },
];

function newStaging(store: BlobStore): UploadStaging {
  return new UploadStaging(store, new MasterKeyRing([toMasterKey(randomBytes(32))]), logger);
}

/** Creates a body that sends `bytes` and fails once they are read, as a request does when its connection is cut. */
function cutBody(bytes: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (sent) {
        setImmediate(() => this.destroy(new Error('aborted')));
        return;
      }
      sent = true;
      this.push(bytes);
    },
  });
}

async function keysUnder(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of store.list(prefix)) keys.push(entry.key);
  return keys.sort();
}

async function errorOf(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe.each(backends)('staging on $name store', ({ open }) => {
  test('appends in uneven parts', async () => {
    const staging = newStaging(open());
    const id = randomUUID();
    const plaintext = generatedBytes(5 * MB + 3, 'uneven');
    await staging.create(id);
    expect(await staging.offset(id)).toBe(0);

    let offset = 0;
    for (const length of [1, 65_535, 2 * MB, 3 * MB - 65_536 + 3]) {
      offset = await staging.append(id, offset, Readable.from([plaintext.subarray(offset, offset + length)]), GIB);
    }

    expect(offset).toBe(plaintext.length);
    expect(await staging.offset(id)).toBe(plaintext.length);
    expect((await bytesOf(await staging.open(id))).equals(plaintext)).toBe(true);
  });

  test('resumes after a cut body', async () => {
    const staging = newStaging(open());
    const id = randomUUID();
    const plaintext = generatedBytes(3 * MB, 'cut');
    await staging.create(id);

    const kept = await staging.append(id, 0, cutBody(plaintext.subarray(0, MB + 17)), GIB);
    expect(kept).toBe(MB + 17);
    expect(await staging.offset(id)).toBe(MB + 17);

    const end = await staging.append(id, kept, Readable.from([plaintext.subarray(kept)]), GIB);
    expect(end).toBe(plaintext.length);
    expect((await bytesOf(await staging.open(id))).equals(plaintext)).toBe(true);
  });

  test('body cut before reading keeps nothing', async () => {
    const staging = newStaging(open());
    const id = randomUUID();
    await staging.create(id);
    const body = new Readable({ read() {} });
    body.destroy(new Error('aborted'));

    const kept = await staging.append(id, 0, body, GIB);

    expect(kept).toBe(0);
    expect(await staging.offset(id)).toBe(0);
  });

  test('wrong offset stores nothing', async () => {
    const store = open();
    const staging = newStaging(store);
    const id = randomUUID();
    await staging.create(id);
    await staging.append(id, 0, Readable.from([Buffer.from('hello')]), GIB);
    const body = Readable.from([Buffer.from('world')]);

    const error = await errorOf(staging.append(id, 3, body, GIB));

    expect(error.code).toBe('UPLOAD_OFFSET_MISMATCH');
    expect(error.details.expected).toBe(5);
    expect(body.readableFlowing).toBeNull();
    expect(await keysUnder(store, `u/${id}/p`)).toHaveLength(1);
    expect((await bytesOf(await staging.open(id))).toString()).toBe('hello');
  });

  test('past maxBytes keeps nothing of the part', async () => {
    const staging = newStaging(open());
    const id = randomUUID();
    await staging.create(id);
    await staging.append(id, 0, Readable.from([Buffer.alloc(600)]), 1000);

    const error = await errorOf(staging.append(id, 600, Readable.from([Buffer.alloc(401)]), 1000));

    expect(error.code).toBe('FILE_TOO_LARGE');
    expect(error.details.max).toBe(1000);
    expect(await staging.offset(id)).toBe(600);
    expect(await staging.append(id, 600, Readable.from([Buffer.alloc(400)]), 1000)).toBe(1000);
  });

  test('unknown upload', async () => {
    const staging = newStaging(open());
    const id = randomUUID();

    expect((await errorOf(staging.offset(id))).code).toBe('UPLOAD_NOT_FOUND');
    expect((await errorOf(staging.append(id, 0, Readable.from([Buffer.from('x')]), GIB))).code).toBe('UPLOAD_NOT_FOUND');
    expect((await errorOf(staging.open(id))).code).toBe('UPLOAD_NOT_FOUND');
    expect((await errorOf(staging.offset('../f/00'))).code).toBe('UPLOAD_NOT_FOUND');
  });

  test('discard deletes every part', async () => {
    const store = open();
    const staging = newStaging(store);
    const id = randomUUID();
    await staging.create(id);
    await staging.append(id, 0, Readable.from([Buffer.alloc(100)]), GIB);
    await staging.append(id, 100, Readable.from([Buffer.alloc(100)]), GIB);

    await staging.discard(id);

    expect(await keysUnder(store, `u/${id}/`)).toEqual([]);
    expect((await errorOf(staging.offset(id))).code).toBe('UPLOAD_NOT_FOUND');
    await expect(staging.discard(id)).resolves.toBeUndefined();
  });

  test('open feeds the vault', async () => {
    const store = open();
    const keys = new MasterKeyRing([toMasterKey(randomBytes(32))]);
    const staging = new UploadStaging(store, keys, logger);
    const vault = new FileVault(store, keys, logger);
    const id = randomUUID();
    const plaintext = generatedBytes(2 * MB + 1, 'to-vault');
    await staging.create(id);
    await staging.append(id, 0, Readable.from([plaintext.subarray(0, MB)]), GIB);
    await staging.append(id, MB, Readable.from([plaintext.subarray(MB)]), GIB);

    const stored = await vault.write(await staging.open(id), { maxBytes: GIB });

    const file = { blob_key: stored.blobKey, wrapped_key: stored.wrappedKey, master_key_id: stored.masterKeyId, size: stored.size };
    expect(stored.size).toBe(plaintext.length);
    expect(await digestOf(await vault.read(file))).toEqual(await digestOf(Readable.from([plaintext])));
  });
});

describe('staging format', () => {
  test('parts are not plaintext', async () => {
    const store = localStore();
    const staging = newStaging(store);
    const id = randomUUID();
    const text = Buffer.from('staged secret text '.repeat(1000));
    await staging.create(id);
    await staging.append(id, 0, Readable.from([text]), GIB);

    const [part] = await keysUnder(store, `u/${id}/p`);
    const onDisk = fs.readFileSync(path.join(store.root, ...(part as string).split('/')));
    expect(onDisk.length).toBe(text.length + 16);
    expect(onDisk.includes(Buffer.from('secret'))).toBe(false);
  });

  test('altered part fails open', async () => {
    const store = localStore();
    const staging = newStaging(store);
    const id = randomUUID();
    await staging.create(id);
    await staging.append(id, 0, Readable.from([Buffer.alloc(1000)]), GIB);
    const [part] = await keysUnder(store, `u/${id}/p`);
    const file = path.join(store.root, ...(part as string).split('/'));
    const bytes = fs.readFileSync(file);
    bytes.writeUInt8(bytes.readUInt8(10) ^ 1, 10);
    fs.writeFileSync(file, bytes);

    await expect(bytesOf(await staging.open(id))).rejects.toThrow(/does not authenticate/);
  });

  test('overlapping parts skip repeated bytes', async () => {
    // Two requests at the same offset, as from a client that retried while its first request
    // still ran: both pass the offset check before either part is stored.
    const store = localStore();
    const staging = newStaging(store);
    const id = randomUUID();
    const plaintext = generatedBytes(3000, 'overlap');
    await staging.create(id);
    await staging.append(id, 0, Readable.from([plaintext.subarray(0, 1000)]), GIB);

    const [first, second] = await Promise.all([
      staging.append(id, 1000, delayedBody(plaintext.subarray(1000, 2000), 50), GIB),
      staging.append(id, 1000, delayedBody(plaintext.subarray(1000, 2500), 50), GIB),
    ]);
    expect([first, second]).toEqual([2000, 2500]);
    expect(await keysUnder(store, `u/${id}/p`)).toHaveLength(3);
    expect(await staging.offset(id)).toBe(2500);

    await staging.append(id, 2500, Readable.from([plaintext.subarray(2500)]), GIB);

    expect((await bytesOf(await staging.open(id))).equals(plaintext)).toBe(true);
  });

  test('cut request keeps received bytes', async () => {
    const store = localStore();
    const staging = newStaging(store);
    const id = randomUUID();
    await staging.create(id);
    const appended = new Promise<number>((resolve, reject) => {
      const server = http.createServer((request, response) => {
        staging.append(id, 0, request, GIB).then(resolve, reject);
        response.on('close', () => server.close());
      });
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.write(`PATCH /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${10 * MB}\r\n\r\n`);
          socket.write(generatedBytes(MB, 'request'), () => setTimeout(() => socket.destroy(), 100));
        });
      });
    });

    const offset = await appended;

    expect(offset).toBe(MB);
    expect((await bytesOf(await staging.open(id))).equals(generatedBytes(MB, 'request'))).toBe(true);
  });

  test('upload of 200 MB streams through', { timeout: 180_000 }, async () => {
    const staging = newStaging(localStore());
    const id = randomUUID();
    await staging.create(id);
    const expected = await digestOf(generatedStream(200 * MB, 'large-upload'));

    const offset = await staging.append(id, 0, generatedStream(200 * MB, 'large-upload'), GIB);

    expect(offset).toBe(200 * MB);
    expect(await digestOf(await staging.open(id))).toEqual(expected);
  });
});

/** Creates a body that sends its bytes only after a delay. */
function delayedBody(bytes: Buffer, delayMs: number): Readable {
  const body = new Readable({ read() {} });
  setTimeout(() => {
    body.push(bytes);
    body.push(null);
  }, delayMs);
  return body;
}
