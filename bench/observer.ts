/**
 * An independent client process that checks the load generator: it holds some
 * of a room's member sockets on the raw server and measures what they receive
 * with its own code path and its own clock reads.
 *
 *   observer.js <ws url> <room,room,...>
 *
 * Opens one socket per listed room, prints "ready" once all have joined, then
 * for each stdin line "report <start ms> <end ms>" prints one JSON line with
 * the deliveries of messages scheduled in that window. Exits when stdin closes.
 */
import readline from 'node:readline';
import { nowMs, readMarker } from './lib/payload.js';
import { openMany, openRawMember } from './lib/sockets.js';

interface Received {
  sentAtMs: number;
  latencyMs: number;
}

const [wsUrl, roomList] = process.argv.slice(2);
if (wsUrl === undefined || roomList === undefined) {
  console.error('usage: observer.js <ws url> <room,room,...>');
  process.exit(2);
}
const rooms = roomList.split(',');
const received: Received[] = [];

const members = await openMany(rooms.length, 50, (index) => openRawMember(wsUrl, [rooms[index]!]));
for (const member of members) {
  member.onFrame = (frame) => {
    const marker = readMarker(frame);
    if (marker !== undefined) received.push({ sentAtMs: marker.sentAtMs, latencyMs: nowMs() - marker.sentAtMs });
  };
}
console.log('ready');

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => {
  const [command, start, end] = line.trim().split(' ');
  if (command !== 'report') return;
  const startMs = Number(start);
  const endMs = Number(end);
  const latencies = received
    .filter((entry) => entry.sentAtMs >= startMs && entry.sentAtMs <= endMs)
    .map((entry) => entry.latencyMs)
    .sort((a, b) => a - b);
  received.length = 0;
  console.log(
    JSON.stringify({
      connections: members.length,
      deliveries: latencies.length,
      deliveriesPerConnectionPerSecond: (latencies.length * 1000) / members.length / Math.max(1, endMs - startMs),
      p50Ms: quantile(latencies, 0.5),
      p95Ms: quantile(latencies, 0.95),
      p99Ms: quantile(latencies, 0.99),
    }),
  );
});
input.on('close', () => {
  for (const member of members) member.socket.terminate();
  process.exit(0);
});
