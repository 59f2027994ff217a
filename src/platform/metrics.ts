import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';

/** Path of the Prometheus text endpoint. */
export const METRICS_PATH = '/metrics';

/** Prefix of every ChatterBox metric name, apart from prom-client's default process and Node.js metrics. */
const PREFIX = 'chatterbox_';

/** Bucket bounds in seconds, from 1 ms (an in-process delivery) to 10 s (a stalled Redis or database). */
const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Source of a counted database error: the HTTP error handler or the WebSocket gateway. */
export type DatabaseErrorSource = 'http' | 'realtime';

/** Role of a Redis connection of the event bus. */
export type RedisConnectionRole = 'publish' | 'subscribe';

/**
 * Prometheus metrics of one node. Each app instance owns its own registry,
 * not prom-client's global one, so several apps in one process (as in the
 * tests) keep separate counts.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly openConnections = new Gauge({
    name: `${PREFIX}websocket_connections`,
    help: 'Open WebSocket connections on this node.',
    registers: [this.registry],
  });

  readonly eventsFannedOut = new Counter({
    name: `${PREFIX}events_fanned_out_total`,
    help: 'Event frames sent to WebSocket connections, live or read from storage.',
    registers: [this.registry],
  });

  readonly deliveryLatency = new UnlabelledHistogram(
    `${PREFIX}event_delivery_latency_seconds`,
    'Time from the timestamp of a live event (taken when its transaction started) to its send on a socket.',
    LATENCY_BUCKETS_SECONDS,
    this.registry,
  );

  readonly httpRequestDuration = new Histogram<'method' | 'route' | 'status_class'>({
    name: `${PREFIX}http_request_duration_seconds`,
    help: 'HTTP request duration by method, route pattern and status class (2xx, 4xx, 5xx).',
    labelNames: ['method', 'route', 'status_class'],
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly databaseErrors = new Counter<'source'>({
    name: `${PREFIX}database_errors_total`,
    help: 'Unexpected errors returned as HTTP 500 (source "http") and failed storage reads in the WebSocket gateway (source "realtime").',
    labelNames: ['source'],
    registers: [this.registry],
  });

  readonly redisErrors = new Counter<'connection'>({
    name: `${PREFIX}redis_errors_total`,
    help: 'Errors reported by the Redis connections of the event bus.',
    labelNames: ['connection'],
    registers: [this.registry],
  });

  readonly redisReconnects = new Counter<'connection'>({
    name: `${PREFIX}redis_reconnects_total`,
    help: 'Reconnect attempts of the Redis connections of the event bus.',
    labelNames: ['connection'],
    registers: [this.registry],
  });

  constructor() {
    // NOTE: prom-client 15 starts an event loop delay monitor and a GC observer
    // per registry and never stops them, so each app built in a process keeps two small handles.
    collectDefaultMetrics({ register: this.registry });
  }

  /** Records one finished HTTP request. `route` is the route pattern, or undefined for a request that matched no route. */
  observeHttpRequest(method: string, route: string | undefined, statusCode: number, durationMs: number): void {
    const labels = { method, route: route ?? 'unmatched', status_class: `${Math.floor(statusCode / 100)}xx` };
    this.httpRequestDuration.observe(labels, durationMs / 1000);
  }

  /** Records one event frame sent to a socket; `atMs` is the event's timestamp for a live event, undefined for one read from storage. */
  recordFrameSent(atMs: number | undefined, nowMs: number): void {
    this.eventsFannedOut.inc();
    if (atMs !== undefined) this.deliveryLatency.observe((nowMs - atMs) / 1000);
  }
}

/** A sample of a histogram as prom-client's registry reads it. */
interface HistogramSample {
  metricName: string;
  labels: { le?: number | string };
  value: number;
}

/**
 * A histogram without labels whose observation costs a few array operations.
 * prom-client's Histogram builds and hashes a label set on every observation,
 * which took about 4% of the server's CPU at fan-out 100, where the delivery
 * latency is observed once per frame sent. The registry reads it as it reads
 * prom-client's own histograms, so the exposed text is the same.
 */
export class UnlabelledHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  // One count per bound, then one for values above the last bound.
  #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(name: string, help: string, bounds: readonly number[], registry: Registry) {
    this.name = name;
    this.help = help;
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
    // The registry reads only the name, get() and reset() of a metric, which this class has.
    registry.registerMetric(this as unknown as Metric);
  }

  /** Counts one observation. A value that is not finite is dropped, where prom-client would throw. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    let bucket = 0;
    while (bucket < this.#bounds.length && value > this.#bounds[bucket]!) bucket += 1;
    this.#counts[bucket]! += 1;
    this.#sum += value;
    this.#count += 1;
  }

  /** Returns the cumulative bucket counts, the sum and the count, in the form of prom-client's Histogram.get(). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: HistogramSample[] }> {
    const values: HistogramSample[] = [];
    let cumulative = 0;
    for (const [index, bound] of this.#bounds.entries()) {
      cumulative += this.#counts[index]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { le: bound }, value: cumulative });
    }
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.#count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.#sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.#count });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#counts = new Float64Array(this.#bounds.length + 1);
    this.#sum = 0;
    this.#count = 0;
  }
}
