/**
 * Files scenario: upload and download throughput of FileVault (AES-256-GCM
 * chunks, SHA-256, LocalBlobStore) against a plain fs-stream copy of the same
 * source file on the same disk, and the peak resident memory growth while a
 * large file moves through each. Every run is a fresh worker process
 * (bench/files-worker.ts) pinned like a server, so its memory is its own.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { WorkerResult } from './files-worker.js';
import { collectOutput, readRssBytes, SERVER_CORE, spawnNode, startForeignCpuMeter, waitForLine } from './lib/proc.js';
import { addRow, progress, recordForeignCpu, type RunSettings } from './lib/report.js';
import { makeDataDir } from './lib/servers.js';
import { formatNumber, mean } from './lib/stats.js';

const WORKER_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'files-worker.js');
const MB = 1_000_000;
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** Maximum growth of resident memory while a 1 GiB file is uploaded and downloaded. */
const MAX_RSS_GROWTH_BYTES = 64 * MIB;
/** The goal: encrypted transfers at least half as fast as the plain copy. */
const MIN_RATIO = 0.5;
/** Interval of the resident memory samples taken from /proc while a worker runs. */
const RSS_SAMPLE_MS = 20;

/** One file size of the throughput figures; small files are moved several times per run so a run lasts long enough to time. */
interface SizeCase {
  label: string;
  bytes: number;
  copies: number;
}

interface MeasuredRun {
  uploadMBps: number;
  downloadMBps: number;
  /** Process CPU time per MB moved, which other processes on the machine disturb less than throughput. */
  uploadCpuMsPerMB: number;
  downloadCpuMsPerMB: number;
  peakRssGrowthBytes: number;
}

/** Runs the files scenario and adds its rows to the report. */
export async function runFiles(settings: RunSettings): Promise<void> {
  const folder = makeDataDir('files');
  try {
    const cases: SizeCase[] = settings.smoke
      ? [
          { label: '5 MB', bytes: 5 * MB, copies: 4 },
          { label: '20 MB', bytes: 20 * MB, copies: 1 },
        ]
      : [
          { label: '5 MB', bytes: 5 * MB, copies: 20 },
          { label: '200 MB', bytes: 200 * MB, copies: 1 },
        ];
    for (const sizeCase of cases) await measureThroughput(settings, folder, sizeCase);
    await measureMemory(folder, settings.smoke ? 64 * MIB : GIB);
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

async function measureThroughput(settings: RunSettings, folder: string, sizeCase: SizeCase): Promise<void> {
  const source = path.join(folder, `source-${sizeCase.bytes}`);
  await writeSource(source, sizeCase.bytes);

  const runs: Array<{ before: MeasuredRun; measured: MeasuredRun; after: MeasuredRun }> = [];
  for (let repeat = 1; repeat <= settings.repeats; repeat += 1) {
    progress(`files ${sizeCase.label} repeat ${repeat}: raw, vault, raw`);
    const before = await runWorker('raw', source, sizeCase.copies, folder);
    const measured = await runWorker('vault', source, sizeCase.copies, folder);
    const after = await runWorker('raw', source, sizeCase.copies, folder);
    runs.push({ before, measured, after });
  }
  fs.rmSync(source, { force: true });

  const name = `${sizeCase.label} file${sizeCase.copies > 1 ? ` (x${sizeCase.copies} per run)` : ''}`;
  for (const direction of ['upload', 'download'] as const) {
    const rate = `${direction}MBps` as const;
    const ratios = runs.map((run) => run.measured[rate] / mean([run.before[rate], run.after[rate]]));
    addRow({
      figure: `${direction} ${name}`,
      unit: 'MB/s',
      goal: `>= ${MIN_RATIO * 100}% of plain copy`,
      raw: runs.flatMap((run) => [run.before[rate], run.after[rate]]),
      chatterbox: runs.map((run) => run.measured[rate]),
      ratios,
      met: settings.smoke ? undefined : ratios.every((ratio) => ratio >= MIN_RATIO),
    });
  }
  for (const direction of ['upload', 'download'] as const) {
    const cost = `${direction}CpuMsPerMB` as const;
    addRow({
      figure: `${direction} CPU per MB, ${name}`,
      unit: 'ms',
      goal: 'recorded only',
      raw: runs.flatMap((run) => [run.before[cost], run.after[cost]]),
      chatterbox: runs.map((run) => run.measured[cost]),
      ratios: runs.map((run) => run.measured[cost] / mean([run.before[cost], run.after[cost]])),
      met: undefined,
    });
  }
}

async function measureMemory(folder: string, bytes: number): Promise<void> {
  const source = path.join(folder, `source-memory-${bytes}`);
  await writeSource(source, bytes);
  progress(`files memory: moving ${formatNumber(bytes / MIB)} MiB, raw then vault`);
  const raw = await runWorker('raw', source, 1, folder);
  const vault = await runWorker('vault', source, 1, folder);
  fs.rmSync(source, { force: true });

  addRow({
    figure: `peak RSS growth, upload + download of ${formatNumber(bytes / MIB)} MiB`,
    unit: 'MiB',
    goal: `< ${MAX_RSS_GROWTH_BYTES / MIB} MiB`,
    raw: [raw.peakRssGrowthBytes / MIB],
    chatterbox: [vault.peakRssGrowthBytes / MIB],
    ratios: [vault.peakRssGrowthBytes / Math.max(raw.peakRssGrowthBytes, 1)],
    met: vault.peakRssGrowthBytes < MAX_RSS_GROWTH_BYTES,
    note: `also ${formatNumber(vault.uploadMBps)} MB/s up and ${formatNumber(vault.downloadMBps)} MB/s down through the vault`,
  });
}

/** Starts a worker, samples its resident memory from /proc from `ready` to its result, and returns what it measured. */
async function runWorker(kind: 'raw' | 'vault', source: string, copies: number, folder: string): Promise<MeasuredRun> {
  const workFolder = fs.mkdtempSync(path.join(folder, `${kind}-`));
  const child = spawnNode(SERVER_CORE, ['--expose-gc', WORKER_ENTRY, kind, source, String(copies), workFolder], {}, 'pipe');
  const pid = child.pid as number;
  try {
    const output = collectOutput(child);
    await waitForLine(child, 'ready', 60_000);
    const baseline = readRssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, readRssBytes(pid));
      } catch {
        // The worker exited between two samples.
      }
    }, RSS_SAMPLE_MS);
    const foreign = startForeignCpuMeter([pid]);
    child.stdin?.write('go\n');

    const line = await waitForLine(child, 'result ', 600_000);
    clearInterval(sampler);
    recordForeignCpu('files', foreign());
    child.stdin?.write('exit\n');
    await output;
    const result = JSON.parse(line.slice('result '.length)) as WorkerResult;
    const movedBytes = result.bytesPerCopy * result.copies;
    return {
      uploadMBps: movedBytes / MB / (result.uploadMs / 1000),
      downloadMBps: movedBytes / MB / (result.downloadMs / 1000),
      uploadCpuMsPerMB: result.uploadCpuMs / (movedBytes / MB),
      downloadCpuMsPerMB: result.downloadCpuMs / (movedBytes / MB),
      peakRssGrowthBytes: peak - baseline,
    };
  } finally {
    fs.rmSync(workFolder, { recursive: true, force: true });
  }
}

/** Writes `bytes` pseudo-random bytes (AES-256-CTR over zeros), which neither side can compress or deduplicate. */
async function writeSource(file: string, bytes: number): Promise<void> {
  const cipher = createCipheriv('aes-256-ctr', randomBytes(32), Buffer.alloc(16));
  const zeros = Buffer.alloc(MIB);
  let remaining = bytes;
  const generated = new Readable({
    read() {
      if (remaining === 0) {
        this.push(null);
        return;
      }
      const length = Math.min(MIB, remaining);
      remaining -= length;
      this.push(cipher.update(zeros.subarray(0, length)));
    },
  });
  await pipeline(generated, fs.createWriteStream(file, { flush: true }));
}
