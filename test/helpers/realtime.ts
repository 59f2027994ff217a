import WebSocket from 'ws';
import { RealtimeClient, type EventFrame, type WebSocketLike } from '../../src/client/realtime.js';
import type { TrackedMember } from './delivery-checker.js';

export interface Listener {
  client: RealtimeClient;
  events: EventFrame[];
  closes: Array<{ code: number; reason: string }>;
  /** Waits until the predicate is true of the events received so far. */
  waitFor(predicate: (events: EventFrame[]) => boolean, timeoutMs?: number): Promise<void>;
}

export interface ListenOptions {
  reconnect?: boolean;
  /** Client ping interval; the server's heartbeat when unset. */
  heartbeatMs?: number;
  /** Hooks of a DeliveryChecker member, called beside the listener's own. */
  member?: TrackedMember;
}

/** Opens a resuming real-time client that authenticates with a bearer header. */
export async function listen(wsUrl: string, token: string, options: ListenOptions = {}): Promise<Listener> {
  const events: EventFrame[] = [];
  const closes: Array<{ code: number; reason: string }> = [];
  const client = new RealtimeClient({
    connect: () => new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } }) as unknown as WebSocketLike,
    onEvent: (event) => {
      events.push(event);
      options.member?.onEvent(event);
    },
    onResync: (stream) => options.member?.onResync(stream),
    onClose: (code, reason) => closes.push({ code, reason }),
    reconnect: options.reconnect ?? true,
    maxBackoffMs: 200,
    ...(options.heartbeatMs !== undefined && { heartbeatMs: options.heartbeatMs }),
  });
  await client.start();
  return { client, events, closes, waitFor: (predicate, timeoutMs) => waitUntil(() => predicate(events), timeoutMs) };
}

/** Polls a condition every 10 ms; throws after the timeout with a message naming it. */
export async function waitUntil(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits a fixed time: used only to show that something does NOT arrive. */
export function settle(ms = 300): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
