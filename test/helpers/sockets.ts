import WebSocket from 'ws';
import { waitUntil } from './realtime.js';

export interface Frame {
  type: string;
  [key: string]: unknown;
}

/** A raw WebSocket that records every frame it receives, parsed as JSON. */
export interface FrameSocket {
  ws: WebSocket;
  frames: Frame[];
  closed: Promise<{ code: number; reason: string }>;
  send(frame: unknown): void;
  /** Waits for a frame matching the predicate among those received so far or later, and returns the first match. */
  waitForFrame(predicate: (frame: Frame) => boolean, timeoutMs?: number, what?: string): Promise<Frame>;
  /** Frames of one type received so far. */
  framesOf(type: string): Frame[];
  close(): Promise<void>;
}

/** Opens a socket authenticated by bearer token, sends hello and waits for ready. */
export async function openReadySocket(wsUrl: string, token: string): Promise<FrameSocket> {
  const socket = await openFrameSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
  socket.send({ type: 'hello', positions: {} });
  await socket.waitForFrame((frame) => frame.type === 'ready', 5000, 'the ready frame');
  return socket;
}

/** Opens a WebSocket and records its frames; rejects if the upgrade fails. */
export async function openFrameSocket(wsUrl: string, options: WebSocket.ClientOptions = {}): Promise<FrameSocket> {
  const ws = new WebSocket(wsUrl, options);
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    frames,
    closed,
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    waitForFrame: async (predicate, timeoutMs = 5000, what = 'a matching frame') => {
      await waitUntil(() => frames.some(predicate), timeoutMs, what);
      return frames.find(predicate) as Frame;
    },
    framesOf: (type) => frames.filter((frame) => frame.type === type),
    close: async () => {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close();
      await closed;
    },
  };
}
