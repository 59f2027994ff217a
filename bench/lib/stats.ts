/** Latency histogram with 0.01 ms buckets up to 60 s; larger values land in the last bucket. */
export class LatencyHistogram {
  static readonly BUCKET_MS = 0.01;
  static readonly MAX_MS = 60_000;
  readonly #counts = new Uint32Array(Math.ceil(LatencyHistogram.MAX_MS / LatencyHistogram.BUCKET_MS) + 1);
  count = 0;
  #sum = 0;
  #max = 0;

  record(ms: number): void {
    const value = ms < 0 ? 0 : ms;
    const bucket = Math.min(this.#counts.length - 1, Math.floor(value / LatencyHistogram.BUCKET_MS));
    this.#counts[bucket]! += 1;
    this.count += 1;
    this.#sum += value;
    if (value > this.#max) this.#max = value;
  }

  /** Returns the value at quantile q (0..1), as the upper edge of its bucket, in ms. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let bucket = 0; bucket < this.#counts.length; bucket += 1) {
      seen += this.#counts[bucket]!;
      if (seen >= rank) return Math.min(this.#max, (bucket + 1) * LatencyHistogram.BUCKET_MS);
    }
    return this.#max;
  }

  summary(): LatencySummary {
    return {
      samples: this.count,
      meanMs: this.count === 0 ? Number.NaN : this.#sum / this.count,
      p50Ms: this.quantile(0.5),
      p95Ms: this.quantile(0.95),
      p99Ms: this.quantile(0.99),
      maxMs: this.#max,
    };
  }
}

export interface LatencySummary {
  samples: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function median(values: readonly number[]): number {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const middle = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? finite[middle]! : (finite[middle - 1]! + finite[middle]!) / 2;
}

export function mean(values: readonly number[]): number {
  const finite = values.filter((value) => Number.isFinite(value));
  return finite.length === 0 ? Number.NaN : finite.reduce((sum, value) => sum + value, 0) / finite.length;
}

/** Formats a number for a table: 3 significant digits, thousands grouped. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(3)).toString();
}
