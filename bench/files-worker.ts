/**
 * One measured run of the files benchmark, in its own process so its resident
 * memory can be read from outside:
 *
 *   node dist/bench/files-worker.js <raw|vault> <source file> <copies> <work folder>
 *
 * Uploads the source file `copies` times, then downloads every copy into a
 * sink that drops the bytes. `raw` copies with fs streams and syncs each
 * written file before closing it, as the local blob store does. `vault` goes
 * through FileVault on a LocalBlobStore in the work folder. Prints `ready` once warmed
 * up, waits for a line on stdin, runs, prints `result <json>`, and exits after
 * the next line on stdin, so the parent can read its CPU time first.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MasterKeyRing, toMasterKey } from '../src/files/keys.js';
import { LocalBlobStore } from '../src/files/local-store.js';
import { FileVault, type VaultFile } from '../src/files/vault.js';
import { createLogger } from '../src/platform/logger.js';

/** Read and write buffers of the raw copy: the same as LocalBlobStore uses. */
const READ_BUFFER_BYTES = 256 * 1024;
const WRITE_BUFFER_BYTES = 1024 * 1024;

/** Timings of one run, printed as JSON. */
export interface WorkerResult {
  uploadMs: number;
  downloadMs: number;
  /** CPU time of the whole process (all threads) during each phase. */
  uploadCpuMs: number;
  downloadCpuMs: number;
  bytesPerCopy: number;
  copies: number;
}

interface Mover {
  upload(source: string, index: number): Promise<void>;
  download(index: number): Promise<void>;
}

function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

function rawMover(folder: string): Mover {
  const target = (index: number) => path.join(folder, `copy-${index}`);
  return {
    upload: (source, index) =>
      pipeline(fs.createReadStream(source, { highWaterMark: READ_BUFFER_BYTES }), fs.createWriteStream(target(index), { flags: 'wx', mode: 0o600, flush: true, highWaterMark: WRITE_BUFFER_BYTES })),
    download: (index) => pipeline(fs.createReadStream(target(index), { highWaterMark: READ_BUFFER_BYTES }), discard()),
  };
}

function vaultMover(folder: string): Mover {
  const vault = new FileVault(new LocalBlobStore(folder), new MasterKeyRing([toMasterKey(randomBytes(32))]), createLogger('warn'));
  const files: VaultFile[] = [];
  return {
    upload: async (source, index) => {
      const stored = await vault.write(fs.createReadStream(source, { highWaterMark: READ_BUFFER_BYTES }), { maxBytes: Number.MAX_SAFE_INTEGER });
      files[index] = { blob_key: stored.blobKey, wrapped_key: stored.wrappedKey, master_key_id: stored.masterKeyId, size: stored.size };
    },
    download: async (index) => {
      const file = files[index];
      if (file === undefined) throw new Error(`Copy ${index} was never uploaded`);
      await pipeline(await vault.read(file), discard());
    },
  };
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

async function main(): Promise<void> {
  const [kind, source, copiesText, folder] = process.argv.slice(2);
  if ((kind !== 'raw' && kind !== 'vault') || source === undefined || copiesText === undefined || folder === undefined) {
    console.error('Usage: node dist/bench/files-worker.js <raw|vault> <source file> <copies> <work folder>');
    process.exit(2);
  }
  const copies = Number(copiesText);
  const mover = kind === 'raw' ? rawMover(path.join(folder, 'raw')) : vaultMover(path.join(folder, 'vault'));
  fs.mkdirSync(path.join(folder, 'raw'), { recursive: true });

  // Warm up the code paths on a small file, so the baseline memory includes loaded code.
  const warmup = path.join(folder, 'warmup');
  await pipeline(Readable.from([randomBytes(256 * 1024)]), fs.createWriteStream(warmup));
  await mover.upload(warmup, copies);
  await mover.download(copies);
  globalThis.gc?.();

  const lines = readline.createInterface({ input: process.stdin });
  const nextLine = () => new Promise<void>((resolve) => lines.once('line', () => resolve()));
  console.log('ready');
  await nextLine();

  let started = performance.now();
  let cpu = process.cpuUsage();
  for (let index = 0; index < copies; index += 1) await mover.upload(source, index);
  const uploadMs = performance.now() - started;
  const uploadCpuMs = cpuMs(process.cpuUsage(cpu));

  started = performance.now();
  cpu = process.cpuUsage();
  for (let index = 0; index < copies; index += 1) await mover.download(index);
  const downloadMs = performance.now() - started;
  const downloadCpuMs = cpuMs(process.cpuUsage(cpu));

  const result: WorkerResult = { uploadMs, downloadMs, uploadCpuMs, downloadCpuMs, bytesPerCopy: fs.statSync(source).size, copies };
  console.log(`result ${JSON.stringify(result)}`);
  await nextLine();
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error('files worker failed:', error);
  process.exit(1);
});
