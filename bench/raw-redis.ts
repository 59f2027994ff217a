/**
 * The raw Redis fan-out baseline: ioredis PUBLISH on one connection and
 * SUBSCRIBE on `subscribers` connections, each subscribed to every channel, as
 * each node of a cluster subscribes to the streams it serves. Messages are the
 * 1 KB benchmark payloads. It runs in its own process so it can be pinned like
 * a server, and prints one JSON line with its result.
 *
 *   raw-redis.js <redis url> <channel prefix> <channels> <subscribers> max <in flight> <ms>
 *     Publishes as fast as Redis acknowledges, with <in flight> PUBLISH commands outstanding.
 *   raw-redis.js <redis url> <channel prefix> <channels> <subscribers> rate <messages/s> <ms>
 *     Publishes at a fixed offered rate (open loop), as the delivery steps do.
 *
 * Redis CPU comes from INFO before the first publish and after the last
 * delivery (or the drain timeout), so it covers the deliveries too.
 */
import { Redis } from 'ioredis';
import { buildPayload, nowMs, readMarker } from './lib/payload.js';
import { sleep } from './lib/proc.js';
import { openRedis, readRedisUsage, USAGE_READ_COMMANDS } from './lib/redis-usage.js';
import { LatencyHistogram } from './lib/stats.js';

const DRAIN_TIMEOUT_MS = 3000;
const WARM_UP_MESSAGES = 200;

const [url, prefix, channelsArgument, subscribersArgument, mode, amountArgument, durationArgument] = process.argv.slice(2);
const channelCount = Number(channelsArgument);
const subscriberCount = Number(subscribersArgument);
const amount = Number(amountArgument);
const durationMs = Number(durationArgument);
if (url === undefined || prefix === undefined || (mode !== 'max' && mode !== 'rate') || ![channelCount, subscriberCount, amount, durationMs].every((value) => value > 0)) {
  console.error('usage: raw-redis.js <redis url> <channel prefix> <channels> <subscribers> max|rate <in flight | messages/s> <ms>');
  process.exit(2);
}

const channels = Array.from({ length: channelCount }, (_unused, index) => `${prefix}raw:${index}`);
const histogram = new LatencyHistogram();
let deliveries = 0;
let measuring = false;

async function openSubscriber(): Promise<Redis> {
  const subscriber = new Redis(url!, { maxRetriesPerRequest: 1 });
  subscriber.on('error', () => {});
  subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
    if (!measuring) return;
    deliveries += 1;
    const marker = readMarker(message);
    if (marker !== undefined) histogram.record(nowMs() - marker.sentAtMs);
  });
  await subscriber.subscribe(...channels);
  return subscriber;
}

/** Publishes with `inFlight` commands outstanding until `deadlineMs`; resolves once Redis acknowledged every one. */
async function publishClosedLoop(publisher: Redis, inFlight: number, deadlineMs: number): Promise<number> {
  let published = 0;
  async function worker(): Promise<void> {
    while (nowMs() < deadlineMs) {
      const index = published;
      published += 1;
      await publisher.publish(channels[index % channelCount]!, buildPayload(index, nowMs()));
    }
  }
  await Promise.all(Array.from({ length: inFlight }, () => worker()));
  return published;
}

/** Publishes at `perSecond` from a schedule, so latency counts from each message's scheduled time. */
async function publishOpenLoop(publisher: Redis, perSecond: number, totalMs: number): Promise<number> {
  const total = Math.max(1, Math.round((perSecond * totalMs) / 1000));
  const intervalMs = 1000 / perSecond;
  const started = nowMs();
  let sent = 0;
  const acknowledged: Array<Promise<unknown>> = [];
  while (sent < total) {
    const due = Math.min(total, Math.floor((nowMs() - started) / intervalMs) + 1);
    while (sent < due) {
      acknowledged.push(publisher.publish(channels[sent % channelCount]!, buildPayload(sent, started + sent * intervalMs)));
      sent += 1;
    }
    await sleep(sent < total ? Math.min(5, Math.max(0, started + sent * intervalMs - nowMs())) : 0);
  }
  await Promise.all(acknowledged);
  return sent;
}

async function main(): Promise<void> {
  const control = openRedis(url!);
  const publisher = openRedis(url!);
  const subscribers = await Promise.all(Array.from({ length: subscriberCount }, () => openSubscriber()));
  try {
    for (let index = 0; index < WARM_UP_MESSAGES; index += 1) await publisher.publish(channels[index % channelCount]!, buildPayload(index, nowMs()));
    await sleep(200);

    const before = await readRedisUsage(control);
    measuring = true;
    const started = nowMs();
    const published = mode === 'max' ? await publishClosedLoop(publisher, amount, started + durationMs) : await publishOpenLoop(publisher, amount, durationMs);
    const publishedMs = nowMs() - started;
    const expected = published * subscriberCount;
    const drainDeadline = nowMs() + DRAIN_TIMEOUT_MS;
    while (deliveries < expected && nowMs() < drainDeadline) await sleep(5);
    const elapsedMs = nowMs() - started;
    const after = await readRedisUsage(control);
    measuring = false;

    const redisCpuMs = after.cpuMs - before.cpuMs;
    const latency = histogram.summary();
    console.log(
      JSON.stringify({
        published,
        deliveries,
        missing: expected - deliveries,
        messagesPerSecond: (published * 1000) / publishedMs,
        deliveriesPerSecond: (deliveries * 1000) / elapsedMs,
        redisCpuMs,
        redisCpuUsPerDelivery: (redisCpuMs * 1000) / Math.max(1, deliveries),
        redisCpuFraction: redisCpuMs / elapsedMs,
        // Commands of other Redis clients meanwhile: everything but our PUBLISH commands and the second INFO read.
        otherCommands: after.commands - before.commands - published - USAGE_READ_COMMANDS,
        // CPU of this whole process since it started, so the caller can leave it out of other processes' CPU.
        clientCpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
        p50Ms: latency.p50Ms,
        p95Ms: latency.p95Ms,
        p99Ms: latency.p99Ms,
      }),
    );
  } finally {
    for (const connection of [control, publisher, ...subscribers]) connection.disconnect();
  }
}

main().catch((error: unknown) => {
  console.error('raw-redis failed:', error);
  process.exit(1);
});
