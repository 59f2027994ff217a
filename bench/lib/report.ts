import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_FOREIGN_CPU } from './proc.js';
import { formatNumber, mean, median } from './stats.js';

/** Sizes of a run: full runs for the record, smoke runs to show the code still works. */
export interface RunSettings {
  smoke: boolean;
  repeats: number;
  stepMs: number;
  drainTimeoutMs: number;
  /** Maximum wait between steps for the server to go idle. */
  idleTimeoutMs: number;
  /** Maximum wait for other processes to go quiet before a phase, or 0 to skip the wait. */
  quietTimeoutMs: number;
  /** Maximum wait for other processes to go quiet before a disturbed step is repeated, or 0 to never repeat one. */
  disturbedRetryWaitMs: number;
}

/**
 * Smoke runs skip every wait for a quiet machine and never repeat a disturbed
 * step, because their figures are not results and they must stay short.
 */
export function runSettings(smoke: boolean): RunSettings {
  return smoke
    ? { smoke, repeats: 1, stepMs: 400, drainTimeoutMs: 1000, idleTimeoutMs: 500, quietTimeoutMs: 0, disturbedRetryWaitMs: 0 }
    : { smoke, repeats: repeatsFromEnvironment(), stepMs: 3000, drainTimeoutMs: 3000, idleTimeoutMs: 10_000, quietTimeoutMs: 15_000, disturbedRetryWaitMs: 10_000 };
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

/** CPU that other processes used during each measured phase, as fractions of one core, by scenario. */
const foreignCpu = new Map<string, number[]>();

/** Records the CPU other processes used during one measured step or phase, for the summary. */
export function recordForeignCpu(scenario: string, fraction: number): void {
  const fractions = foreignCpu.get(scenario) ?? [];
  fractions.push(fraction);
  foreignCpu.set(scenario, fractions);
}

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

/** Prints every row as a Markdown table and writes the rows and the foreign CPU measurements as JSON under dist/bench-results/. */
export function printSummary(label: string): void {
  console.log('\n| figure | raw (per repeat) | ChatterBox (per repeat) | median ratio | goal | verdict |');
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) {
    const raw = row.raw.map(formatNumber).join(' / ');
    const chatterbox = row.chatterbox.map(formatNumber).join(' / ');
    console.log(`| ${row.figure} | ${raw} ${row.unit} | ${chatterbox} ${row.unit} | ${formatNumber(median(row.ratios))} | ${row.goal} | ${verdict(row.met)} |`);
  }
  printForeignCpu();
  const folder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench-results');
  fs.mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `${label}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ rows, foreignCpuByScenario: Object.fromEntries(foreignCpu) }, null, 2));
  console.log(`\nRows written to ${file}`);
}

/** Prints, per scenario, the mean, median and maximum CPU that other processes used during its measurements. */
function printForeignCpu(): void {
  if (foreignCpu.size === 0) return;
  console.log('\nCPU used by other processes during the measurements (% of one core):');
  for (const [scenario, fractions] of foreignCpu) {
    const disturbed = fractions.filter((fraction) => fraction > MAX_FOREIGN_CPU).length;
    const values = `mean ${formatNumber(100 * mean(fractions))}, median ${formatNumber(100 * median(fractions))}, max ${formatNumber(100 * Math.max(...fractions))}`;
    console.log(`  ${scenario}: ${values}; ${disturbed} of ${fractions.length} measurements above ${100 * MAX_FOREIGN_CPU}%`);
  }
}

/** Writes one progress line to stderr, so stdout keeps only results. */
export function progress(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
