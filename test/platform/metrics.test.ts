import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Histogram, Registry } from 'prom-client';
import { UnlabelledHistogram } from '../../src/platform/metrics.js';
import { ApiClient } from '../../src/client/api.js';
import { expectError } from '../helpers/assertions.js';
import { buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { listen, type Listener } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

const MESSAGES_ROUTE = '/api/conversations/:conversationId/messages';

/** Fetches /metrics and checks that the response is in the Prometheus text format. */
async function scrape(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return response.text();
}

/**
 * Returns the value of the sample with this exact name whose labels include
 * every given label, or undefined if there is none.
 */
function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) return Number(match[3]);
  }
  return undefined;
}

/** Returns every label value of every sample in a scrape. */
function labelValues(text: string): string[] {
  return [...text.matchAll(/[a-zA-Z_][a-zA-Z0-9_]*="([^"]*)"/g)].map((match) => match[1] as string);
}

describe('metrics', () => {
  let server: TestServer;
  let alice: TestUser;
  let generalId: string;
  let listener: Listener;

  beforeAll(async () => {
    server = await startServer();
    alice = await buildUser(server.url, 'alice');
    generalId = (await buildTeam(alice)).generalId;
    listener = await listen(server.wsUrl, alice.token, { reconnect: false });
  });

  afterAll(async () => {
    listener?.client.stop();
    await server?.close();
  });

  test('realtime and HTTP metrics after a post', async () => {
    const before = await scrape(server.url);
    const fannedOutBefore = sampleValue(before, 'chatterbox_events_fanned_out_total') ?? 0;

    const posted = await alice.api.post<{ id: string }>(`/api/conversations/${generalId}/messages`, { text: 'hello metrics' });
    await listener.waitFor((events) => events.some((event) => event.event === 'message.posted'));
    const text = await scrape(server.url);

    expect(sampleValue(text, 'chatterbox_websocket_connections')).toBe(1);
    expect(sampleValue(text, 'chatterbox_events_fanned_out_total')).toBeGreaterThan(fannedOutBefore);
    expect(sampleValue(text, 'chatterbox_event_delivery_latency_seconds_count')).toBeGreaterThanOrEqual(1);
    const postDurations = sampleValue(text, 'chatterbox_http_request_duration_seconds_count', {
      method: 'POST',
      route: MESSAGES_ROUTE,
      status_class: '2xx',
    });
    expect(postDurations).toBe(1);

    const ids = [alice.id, alice.sessionId, generalId, posted.id];
    const labels = labelValues(text);
    for (const id of ids) expect(labels.filter((label) => label.includes(id))).toEqual([]);
  });

  test('unmatched route label', async () => {
    const response = await new ApiClient(server.url).raw('GET', '/api/no-such-route/12345');
    expect(response.status).toBe(404);
    const text = await scrape(server.url);

    expect(sampleValue(text, 'chatterbox_http_request_duration_seconds_count', { route: 'unmatched', status_class: '4xx' })).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain('no-such-route');
  });

  test('default Node.js metrics', async () => {
    const text = await scrape(server.url);

    expect(sampleValue(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sampleValue(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });

  test('two servers keep separate counts', async () => {
    const other = await startServer();
    try {
      const text = await scrape(other.url);

      expect(sampleValue(text, 'chatterbox_websocket_connections')).toBe(0);
      expect(sampleValue(text, 'chatterbox_events_fanned_out_total')).toBe(0);
      expect(sampleValue(text, 'chatterbox_event_delivery_latency_seconds_count')).toBe(0);
      expect(sampleValue(text, 'chatterbox_http_request_duration_seconds_count', { route: MESSAGES_ROUTE })).toBeUndefined();
    } finally {
      await other.close();
    }
    const first = await scrape(server.url);
    expect(sampleValue(first, 'chatterbox_websocket_connections')).toBe(1);
  });

  test('database error after storage closes', async () => {
    const broken = await startServer({ authCacheTtlMs: 0 });
    const bob = await buildUser(broken.url, 'bob');
    await broken.server.ctx.storage.close();
    try {
      const response = await bob.api.raw('GET', '/api/teams');
      expectError(response, 500, 'INTERNAL');
      const text = await scrape(broken.url);

      expect(sampleValue(text, 'chatterbox_database_errors_total', { source: 'http' })).toBe(1);
      expect(sampleValue(text, 'chatterbox_http_request_duration_seconds_count', { route: '/api/teams', status_class: '5xx' })).toBe(1);
    } finally {
      await broken.close().catch(() => undefined);
    }
  });

  test('endpoint off with metrics false', async () => {
    const off = await startServer({ metrics: false });
    try {
      const response = await new ApiClient(off.url).raw('GET', '/metrics');
      expectError(response, 404, 'ROUTE_NOT_FOUND');
    } finally {
      await off.close();
    }
  });
});

test('unlabelled histogram matches prom-client', async () => {
  const bounds = [0.001, 0.01, 0.1, 1];
  const referenceRegistry = new Registry();
  const reference = new Histogram({ name: 'latency_seconds', help: 'Latency.', buckets: bounds, registers: [referenceRegistry] });
  const ownRegistry = new Registry();
  const histogram = new UnlabelledHistogram('latency_seconds', 'Latency.', bounds, ownRegistry);
  expect(await ownRegistry.metrics()).toBe(await referenceRegistry.metrics());

  // Values on each bound, between bounds, above the last and at zero.
  for (const value of [0, 0.001, 0.0015, 0.01, 0.05, 0.1, 1, 2.5, 0.0004]) {
    reference.observe(value);
    histogram.observe(value);
  }
  expect(await ownRegistry.metrics()).toBe(await referenceRegistry.metrics());

  referenceRegistry.resetMetrics();
  ownRegistry.resetMetrics();
  reference.zero({});
  expect(await ownRegistry.metrics()).toBe(await referenceRegistry.metrics());
});
