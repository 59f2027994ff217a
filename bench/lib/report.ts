import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatNumber, median } from './stats.js';

/** Sizes of a run: full runs for the record, smoke runs to show the code still works. */
export interface RunSettings {
  smoke: boolean;
  repeats: number;
  stepMs: number;
  drainTimeoutMs: number;
  /** Maximum wait between steps for the server to go idle. */
  idleTimeoutMs: number;
}

export function runSettings(smoke: boolean): RunSettings {
  return smoke
    ? { smoke, repeats: 1, stepMs: 500, drainTimeoutMs: 1000, idleTimeoutMs: 1000 }
    : { smoke, repeats: repeatsFromEnvironment(), stepMs: 3000, drainTimeoutMs: 3000, idleTimeoutMs: 10_000 };
}

/** Repeats of raw, ChatterBox, raw per figure: 3 unless BENCH_REPEATS sets another positive integer. */
function repeatsFromEnvironment(): number {
  const raw = process.env.BENCH_REPEATS;
  if (raw === undefined || raw === '') return 3;
  const repeats = Number(raw);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`BENCH_REPEATS must be a positive integer, got "${raw}"`);
  return repeats;
}

/** One figure of the results table: absolute values for each repeat and the median ratio. */
export interface FigureRow {
  figure: string;
  unit: string;
  goal: string;
  raw: number[];
  chatterbox: number[];
  ratios: number[];
  /** True, false, or undefined where the run cannot judge the goal. */
  met: boolean | undefined;
  note?: string;
}

const rows: FigureRow[] = [];

export function addRow(row: FigureRow): void {
  rows.push(row);
  console.log(`\n${row.figure}: goal ${row.goal}`);
  console.log(`  raw        ${row.raw.map(formatNumber).join(' / ')} ${row.unit}`);
  console.log(`  chatterbox ${row.chatterbox.map(formatNumber).join(' / ')} ${row.unit}`);
  console.log(`  ratio      ${row.ratios.map(formatNumber).join(' / ')} (median ${formatNumber(median(row.ratios))})  ${verdict(row.met)}`);
  if (row.note !== undefined) console.log(`  note: ${row.note}`);
}

function verdict(met: boolean | undefined): string {
  if (met === undefined) return 'not judged';
  return met ? 'goal met' : 'goal MISSED';
}

/** Prints every row as a Markdown table and writes the rows as JSON under dist/bench-results/. */
export function printSummary(label: string): void {
  console.log('\n| figure | raw (per repeat) | ChatterBox (per repeat) | median ratio | goal | verdict |');
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) {
    const raw = row.raw.map(formatNumber).join(' / ');
    const chatterbox = row.chatterbox.map(formatNumber).join(' / ');
    console.log(`| ${row.figure} | ${raw} ${row.unit} | ${chatterbox} ${row.unit} | ${formatNumber(median(row.ratios))} | ${row.goal} | ${verdict(row.met)} |`);
  }
  const folder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench-results');
  fs.mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `${label}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(rows, null, 2));
  console.log(`\nRows written to ${file}`);
}

/** Writes one progress line to stderr, so stdout keeps only results. */
export function progress(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
