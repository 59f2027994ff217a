import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';

/**
 * Read access to a Slack export, unpacked or zipped. Paths are relative to
 * the export's root (the folder that contains users.json and channels.json) and
 * use "/" separators. A zip is read through its central directory, so only
 * the entry list stays in memory and each file is inflated when it is read.
 */
export interface ExportSource {
  /** Paths of every file in the export. */
  readonly paths: readonly string[];
  /** Reads a file as UTF-8 text, or returns undefined when it is absent. */
  readText(file: string): Promise<string | undefined>;
  /** Opens a file's bytes as a stream, or returns undefined when it is absent. */
  openStream(file: string): Promise<Readable | undefined>;
  /** Returns a file's size in bytes (a zip entry's declared uncompressed size), or undefined when it is absent. */
  sizeOf(file: string): Promise<number | undefined>;
  close(): Promise<void>;
}

/** Opens a folder or a .zip file; throws a plain Error naming the path when it is neither. */
export async function openExportSource(location: string): Promise<ExportSource> {
  const stat = await fs.promises.stat(location).catch(() => undefined);
  if (stat === undefined) throw new Error(`Slack export not found: ${location}`);
  if (stat.isDirectory()) return openFolder(location);
  return openZip(location);
}

/** Finds the export's root among nested folders: the shallowest folder holding users.json or channels.json. */
function rootPrefix(paths: readonly string[]): string {
  const markers = paths
    .filter((file) => /(^|\/)(users|channels)\.json$/.test(file))
    .map((file) => file.slice(0, file.lastIndexOf('/') + 1))
    .sort((a, b) => a.length - b.length);
  return markers[0] ?? '';
}

async function openFolder(folder: string): Promise<ExportSource> {
  const all = (await fs.promises.readdir(folder, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(folder, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'));
  const prefix = rootPrefix(all);
  const paths = all.filter((file) => file.startsWith(prefix)).map((file) => file.slice(prefix.length));
  const known = new Set(paths);
  const full = (file: string) => path.join(folder, ...(prefix + file).split('/'));

  return {
    paths,
    readText: async (file) => (known.has(file) ? fs.promises.readFile(full(file), 'utf8') : undefined),
    openStream: async (file) => (known.has(file) ? fs.createReadStream(full(file)) : undefined),
    sizeOf: async (file) => (known.has(file) ? (await fs.promises.stat(full(file))).size : undefined),
    close: async () => {},
  };
}

async function openZip(file: string): Promise<ExportSource> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false, decodeStrings: true }, (error, opened) => (error ? reject(error) : resolve(opened))),
  );
  const entries = await new Promise<Map<string, yauzl.Entry>>((resolve, reject) => {
    const found = new Map<string, yauzl.Entry>();
    zip.on('entry', (entry: yauzl.Entry) => {
      if (!entry.fileName.endsWith('/')) found.set(entry.fileName, entry);
      zip.readEntry();
    });
    zip.once('end', () => resolve(found));
    zip.once('error', reject);
    zip.readEntry();
  });
  const prefix = rootPrefix([...entries.keys()]);
  const byPath = new Map<string, yauzl.Entry>();
  for (const [name, entry] of entries) if (name.startsWith(prefix)) byPath.set(name.slice(prefix.length), entry);

  const openStream = (name: string) =>
    new Promise<Readable | undefined>((resolve, reject) => {
      const entry = byPath.get(name);
      if (entry === undefined) return resolve(undefined);
      zip.openReadStream(entry, (error, stream) => (error ? reject(error) : resolve(stream)));
    });

  return {
    paths: [...byPath.keys()],
    openStream,
    // yauzl checks the inflated bytes against this declared size and fails the read if they differ.
    sizeOf: async (name) => byPath.get(name)?.uncompressedSize,
    readText: async (name) => {
      const stream = await openStream(name);
      if (stream === undefined) return undefined;
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    close: async () => zip.close(),
  };
}
