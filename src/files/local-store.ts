import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertBlobKey, BlobNotFoundError, type BlobEntry, type BlobStore } from './blob-store.js';

/**
 * Folder of unfinished writes inside the store root. Keys cannot start with a
 * dot, so no key ever maps into it.
 */
const TEMPORARY_FOLDER = '.tmp';

/** Read buffer size; larger than the 64 KiB default so a download makes fewer system calls. */
const READ_BUFFER_BYTES = 256 * 1024;

/**
 * Bytes a write stream buffers before it signals backpressure. Encrypted uploads
 * arrive as many small pieces (a chunk, then its tag); a large buffer lets
 * the stream write them with one writev call instead of one call each.
 */
const WRITE_BUFFER_BYTES = 1024 * 1024;

/**
 * Blobs as files under a root folder, one file per key. A write goes to a
 * temporary file, is synced, and is renamed into place, so a key never
 * names a partly written file, even after a crash.
 */
export class LocalBlobStore implements BlobStore {
  private readonly temporaryFolder: string;

  constructor(readonly root: string) {
    this.temporaryFolder = path.join(root, TEMPORARY_FOLDER);
    fs.mkdirSync(this.temporaryFolder, { recursive: true, mode: 0o700 });
  }

  async put(key: string, body: Readable): Promise<void> {
    assertBlobKey(key);
    const target = this.pathOf(key);
    const temporary = path.join(this.temporaryFolder, `${randomBytes(12).toString('hex')}.part`);

    try {
      // flush: the stream calls fsync before it closes the file, and pipeline waits for the close.
      await pipeline(body, fs.createWriteStream(temporary, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: WRITE_BUFFER_BYTES }));
      await this.moveIntoPlace(temporary, target);
    } catch (error) {
      await fs.promises.rm(temporary, { force: true });
      throw error;
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    assertBlobKey(key);
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(this.pathOf(key), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(key);
      throw error;
    }
    return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: READ_BUFFER_BYTES });
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    const file = this.pathOf(key);
    await fs.promises.rm(file, { force: true });
    await this.removeEmptyFolders(path.dirname(file));
  }

  async *list(prefix: string): AsyncIterable<BlobEntry> {
    // Walk only the deepest folder the prefix names in full, then filter by the rest of it.
    const slash = prefix.lastIndexOf('/');
    const folder = slash < 0 ? '' : prefix.slice(0, slash);
    if (folder.split('/').some((segment) => segment === '..')) throw new Error(`Invalid blob prefix "${prefix}"`);
    for await (const entry of this.walk(folder)) {
      if (entry.key.startsWith(prefix)) yield entry;
    }
  }

  /** Deletes unfinished writes left by a crash, once older than `olderThanMs`; returns how many it deleted. */
  async sweepTemporary(olderThanMs: number, now = Date.now()): Promise<number> {
    let deleted = 0;
    for (const name of await fs.promises.readdir(this.temporaryFolder)) {
      const file = path.join(this.temporaryFolder, name);
      const stat = await fs.promises.stat(file).catch(() => undefined);
      if (stat === undefined || now - stat.mtimeMs < olderThanMs) continue;
      await fs.promises.rm(file, { force: true });
      deleted += 1;
    }
    return deleted;
  }

  private pathOf(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  /**
   * Renames the synced temporary file to its key and syncs the folder so the
   * rename survives a crash. A concurrent delete may remove the empty target
   * folder between mkdir and rename, so the pair is tried again once.
   */
  private async moveIntoPlace(temporary: string, target: string): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      await fs.promises.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      try {
        await fs.promises.rename(temporary, target);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 2) throw error;
      }
    }
    const folder = await fs.promises.open(path.dirname(target), 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
  }

  /** Removes a folder left empty by a delete, and its empty parents, up to the root. */
  private async removeEmptyFolders(folder: string): Promise<void> {
    let current = folder;
    while (current.startsWith(this.root + path.sep)) {
      try {
        await fs.promises.rmdir(current);
      } catch {
        // Not empty, already gone, or written to again: either way the walk stops here.
        return;
      }
      current = path.dirname(current);
    }
  }

  private async *walk(folder: string): AsyncGenerator<BlobEntry> {
    const absolute = folder === '' ? this.root : this.pathOf(folder);
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(absolute, { withFileTypes: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw error;
    }

    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const key = folder === '' ? entry.name : `${folder}/${entry.name}`;
      if (entry.isDirectory()) {
        yield* this.walk(key);
      } else if (entry.isFile()) {
        const stat = await fs.promises.stat(path.join(absolute, entry.name)).catch(() => undefined);
        if (stat !== undefined) yield { key, modifiedAt: stat.mtimeMs, size: stat.size };
      }
    }
  }
}
