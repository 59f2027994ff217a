import http from 'node:http';
import { LatencyHistogram, type LatencySummary } from './stats.js';

export interface HttpCall {
  method: 'GET' | 'POST';
  path: string;
  token: string;
  body?: string;
  /** Status that counts as success. */
  expectStatus: number;
}

export interface ClosedLoopResult {
  count: number;
  errors: number;
  perSecond: number;
  latency: LatencySummary;
  /** First unexpected status or error message, for the report. */
  firstError: string | undefined;
}

/**
 * Keeps `concurrency` requests in flight for `durationMs`, each worker sending
 * its next request when the previous one completes: a closed loop, which
 * measures maximum throughput rather than latency at a given rate.
 */
export async function runClosedLoop(baseUrl: string, concurrency: number, durationMs: number, nextCall: (index: number) => HttpCall): Promise<ClosedLoopResult> {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const histogram = new LatencyHistogram();
  let count = 0;
  let errors = 0;
  let issued = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + durationMs;

  function send(call: HttpCall): Promise<void> {
    return new Promise((resolve) => {
      const before = performance.now();
      const headers: Record<string, string | number> = { authorization: `Bearer ${call.token}` };
      if (call.body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(call.body);
      }
      const request = http.request({ agent, host: url.hostname, port: url.port, method: call.method, path: call.path, headers }, (response) => {
        response.resume();
        response.once('end', () => {
          if (response.statusCode === call.expectStatus) {
            count += 1;
            histogram.record(performance.now() - before);
          } else {
            errors += 1;
            firstError ??= `HTTP ${response.statusCode} from ${call.method} ${call.path}`;
          }
          resolve();
        });
      });
      request.once('error', (error) => {
        errors += 1;
        firstError ??= `${error.message} on ${call.method} ${call.path}`;
        resolve();
      });
      request.end(call.body);
    });
  }

  async function worker(): Promise<void> {
    while (performance.now() < deadline) {
      const index = issued;
      issued += 1;
      await send(nextCall(index));
    }
  }

  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  const elapsedS = (performance.now() - started) / 1000;
  agent.destroy();
  return { count, errors, perSecond: count / elapsedS, latency: histogram.summary(), firstError };
}
