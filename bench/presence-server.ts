/**
 * The server of the presence fan-out benchmark. It runs ChatterBox's own
 * presence code (MemoryPresence and PresenceFanout from src/presence) behind
 * a plain `ws` server, with no storage and no authentication. The figures are
 * then the cost of deciding who receives a change and of sending it.
 *
 * MODE selects how changes reach sockets:
 * - `subscribed`: ChatterBox's fan-out, to the sockets that watch the changed user, batched per socket.
 * - `broadcast-batched`: every change to every socket, collected into one frame per batch interval.
 * - `broadcast`: every change to every socket at once, one frame per change.
 *
 * A member socket's first frame is `{"user":"<id>","watch":["<id>",...]}`;
 * the server answers `{"ok":true}`. A control socket's first frame is
 * `{"control":"start","rate":R,"durationMs":D}`: the server then toggles the
 * manual away status of R users per second, in the order of
 * bench/lib/presence-order.ts, for D ms, and answers
 * `{"done":true,...counters}` two batch intervals later.
 *
 * Every mode skips a frame for a socket whose unsent data exceeds 64 KiB and
 * counts it, so a socket that cannot keep up costs bounded memory.
 *
 * Environment: PORT, MODE, BATCH_MS. Prints "ready <port>" once listening.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { buildConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { PresenceFanout } from '../src/presence/fanout.js';
import { MemoryPresence } from '../src/presence/memory-presence.js';
import type { PresenceStore } from '../src/presence/presence.js';
import { DEFAULT_SETTINGS, type AvailabilitySettings, type PresenceView } from '../src/presence/status.js';
import { changeOrder } from './lib/presence-order.js';

const MAX_BUFFERED_BYTES = 64 * 1024;
const TICK_MS = 10;

type Mode = 'subscribed' | 'broadcast-batched' | 'broadcast';
const port = Number(process.env.PORT);
const mode = process.env.MODE as Mode;
const batchMs = Number(process.env.BATCH_MS ?? 500);
if (!Number.isInteger(port) || port <= 0 || !['subscribed', 'broadcast-batched', 'broadcast'].includes(mode)) {
  console.error('PORT must be a positive integer and MODE one of subscribed, broadcast-batched, broadcast');
  process.exit(2);
}

const counters = { framesSent: 0, bytesSent: 0, framesSkipped: 0, changes: 0 };
const settings = new Map<string, AvailabilitySettings>();
const store: PresenceStore = {
  load: async (userIds) => new Map(userIds.map((userId) => [userId, { settings: settings.get(userId) ?? DEFAULT_SETTINGS, lastActiveAt: null }])),
  saveLastActive: async () => {},
};
const config = buildConfig({ presence: { idleTimeoutMs: 3600_000, offlineGraceMs: 0, batchIntervalMs: batchMs } }).presence;
const presence = new MemoryPresence(config, store, createLogger('silent'));
const fanout = new PresenceFanout(presence, batchMs);
const members = new Set<WebSocket>();
const knownUsers = new Set<string>();

function send(socket: WebSocket, frame: string | Buffer): void {
  if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
    counters.framesSkipped += 1;
    return;
  }
  socket.send(frame, { binary: false });
  counters.framesSent += 1;
  counters.bytesSent += typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
}

// The broadcast modes pass on only the changes made after the control start: passing on the
// connects of 10,000 members to every socket would cost them minutes before the run begins.
let started = false;

if (mode === 'broadcast') {
  presence.onChange((views) => {
    if (!started) return;
    for (const view of views) {
      const frame = Buffer.from(JSON.stringify({ type: 'presence', users: [view] }));
      for (const member of members) send(member, frame);
    }
  });
} else if (mode === 'broadcast-batched') {
  let pending: PresenceView[] = [];
  let timer: NodeJS.Timeout | undefined;
  presence.onChange((views) => {
    if (!started) return;
    pending.push(...views);
    timer ??= setTimeout(() => {
      timer = undefined;
      const frame = Buffer.from(JSON.stringify({ type: 'presence', users: pending }));
      pending = [];
      for (const member of members) send(member, frame);
    }, batchMs);
  });
}

let connectionCount = 0;
const server = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
server.on('connection', (socket) => {
  socket.on('error', () => socket.terminate());
  socket.once('message', (data: Buffer) => {
    const first = JSON.parse(data.toString()) as { user?: string; watch?: string[]; control?: string; rate?: number; durationMs?: number };
    if (first.control === 'start') {
      void runChanges(socket, first.rate ?? 0, first.durationMs ?? 0);
      return;
    }
    const userId = String(first.user);
    knownUsers.add(userId);
    connectionCount += 1;
    const connectionId = `c${connectionCount}`;
    presence.connect(userId, connectionId);
    if (mode === 'subscribed') {
      const watch = fanout.open({ send: (frame) => send(socket, frame) });
      fanout.add(watch, first.watch ?? []);
      socket.on('close', () => fanout.close(watch));
    } else {
      members.add(socket);
      socket.on('close', () => members.delete(socket));
    }
    socket.on('close', () => presence.disconnect(userId, connectionId));
    socket.send(JSON.stringify({ ok: true }));
  });
});

/** Toggles `rate` users per second in the order of changeOrder for `durationMs`, then reports the counters. */
async function runChanges(control: WebSocket, rate: number, durationMs: number): Promise<void> {
  const order = changeOrder(knownUsers.size);
  const userIds = order.map((index) => `u${index}`);
  for (const key of Object.keys(counters) as Array<keyof typeof counters>) counters[key] = 0;
  started = true;
  const startedAt = performance.now();
  let next = 0;
  let owed = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - startedAt;
      owed = (rate * Math.min(elapsed, durationMs)) / 1000 - counters.changes;
      for (; owed >= 1; owed -= 1) {
        const userId = userIds[next % userIds.length]!;
        next += 1;
        const current = settings.get(userId) ?? DEFAULT_SETTINGS;
        settings.set(userId, { ...current, manualStatus: current.manualStatus === 'away' ? null : 'away' });
        counters.changes += 1;
        void presence.reload(userId);
      }
      if (elapsed >= durationMs) {
        clearInterval(tick);
        resolve();
      }
    }, TICK_MS);
  });
  const changeMs = performance.now() - startedAt;
  setTimeout(() => control.send(JSON.stringify({ done: true, changeMs, ...counters })), 2 * batchMs + 100);
}

server.on('listening', () => console.log(`ready ${port}`));
process.on('SIGTERM', () => {
  void presence.close();
  server.close(() => process.exit(0));
});
