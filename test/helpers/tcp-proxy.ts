import net from 'node:net';

/** Direction of bytes through the proxy: towards the target, or back to the client. */
export type Direction = 'upstream' | 'downstream';

/**
 * A TCP proxy on 127.0.0.1 in front of a real service, for fault tests. It
 * forwards bytes both ways and injects the faults of a real network on
 * request. These are added latency, resets, a connection cut in the middle of
 * a frame, a half-open connection that goes silent without closing, and a
 * target that refuses connections altogether.
 */
export interface TcpProxy {
  port: number;
  /** URL of the target with its host and port replaced by the proxy's. */
  url(targetUrl: string): string;
  /** Resets every connection and refuses new ones until restore(), as a crashed or restarting server would. */
  cut(): void;
  restore(): void;
  /** Delays every chunk in both directions by this many milliseconds, keeping their order; 0 ends the delay. */
  setLatency(ms: number): void;
  /** Resets every open connection at once (TCP RST to the client); new connections are accepted as usual. */
  reset(): void;
  /**
   * Forwards only the first half of the next chunk that travels in `direction` on any connection,
   * then resets that connection: the peer receives a truncated HTTP response or WebSocket frame.
   * Resolves once the cut happened.
   */
  cutMidFrame(direction: Direction): Promise<void>;
  /**
   * Stops forwarding on every connection open now, in both directions, without closing any of
   * them, as when a peer's machine or a NAT entry vanishes: neither side learns of it until its
   * own timeout. New connections are forwarded as usual.
   */
  halfOpen(): void;
  /** Connections open through the proxy now, half-open ones included. */
  openConnections(): number;
  close(): Promise<void>;
}

interface Link {
  client: net.Socket;
  upstream: net.Socket;
  silent: boolean;
  queues: Record<Direction, DelayQueue>;
}

/** Chunks waiting for their delay in one direction, written strictly in arrival order. */
interface DelayQueue {
  chunks: Array<{ dueAt: number; chunk: Buffer }>;
  timer: NodeJS.Timeout | undefined;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const links = new Set<Link>();
  let refusing = false;
  let latencyMs = 0;
  let pendingCut: { direction: Direction; done: () => void } | undefined;

  function drop(link: Link, reset: boolean): void {
    if (!links.delete(link)) return;
    for (const queue of Object.values(link.queues)) clearTimeout(queue.timer);
    if (reset) link.client.resetAndDestroy();
    else link.client.destroy();
    link.upstream.destroy();
  }

  function write(link: Link, direction: Direction, chunk: Buffer): void {
    const destination = direction === 'upstream' ? link.upstream : link.client;
    if (pendingCut?.direction === direction) {
      const cut = pendingCut;
      pendingCut = undefined;
      destination.write(chunk.subarray(0, Math.max(1, Math.floor(chunk.length / 2))), () => {
        drop(link, true);
        cut.done();
      });
      return;
    }
    destination.write(chunk);
  }

  function drain(link: Link, direction: Direction): void {
    const queue = link.queues[direction];
    queue.timer = undefined;
    while (queue.chunks.length > 0 && (queue.chunks[0] as { dueAt: number }).dueAt <= Date.now()) {
      const { chunk } = queue.chunks.shift() as { chunk: Buffer };
      if (!links.has(link) || link.silent) return;
      write(link, direction, chunk);
    }
    const next = queue.chunks[0];
    if (next !== undefined) queue.timer = setTimeout(() => drain(link, direction), Math.max(0, next.dueAt - Date.now()));
  }

  function forward(link: Link, direction: Direction, chunk: Buffer): void {
    if (link.silent) return;
    const queue = link.queues[direction];
    if (latencyMs === 0 && queue.chunks.length === 0) {
      write(link, direction, chunk);
      return;
    }
    queue.chunks.push({ dueAt: Date.now() + latencyMs, chunk });
    queue.timer ??= setTimeout(() => drain(link, direction), latencyMs);
  }

  const server = net.createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    const link: Link = {
      client,
      upstream,
      silent: false,
      queues: { upstream: { chunks: [], timer: undefined }, downstream: { chunks: [], timer: undefined } },
    };
    links.add(link);
    client.on('data', (chunk: Buffer) => forward(link, 'upstream', chunk));
    upstream.on('data', (chunk: Buffer) => forward(link, 'downstream', chunk));
    // A half-open link hides the close of either side from the other, as a vanished peer would.
    const onEnd = () => {
      if (!link.silent) drop(link, false);
    };
    client.on('error', onEnd).on('close', onEnd);
    upstream.on('error', onEnd).on('close', onEnd);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  function resetAll(): void {
    for (const link of [...links]) drop(link, true);
  }

  return {
    port,
    url: (targetUrl) => {
      const parsed = new URL(targetUrl);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    cut: () => {
      refusing = true;
      resetAll();
    },
    restore: () => {
      refusing = false;
    },
    setLatency: (ms) => {
      latencyMs = ms;
    },
    reset: resetAll,
    cutMidFrame: (direction) => new Promise<void>((resolve) => {
      pendingCut = { direction, done: resolve };
    }),
    halfOpen: () => {
      for (const link of links) {
        link.silent = true;
        for (const queue of Object.values(link.queues)) {
          clearTimeout(queue.timer);
          queue.chunks = [];
        }
      }
    },
    openConnections: () => links.size,
    close: async () => {
      refusing = true;
      for (const link of [...links]) {
        link.silent = false;
        drop(link, false);
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
