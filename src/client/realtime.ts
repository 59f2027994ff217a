/** The subset of the WebSocket interface the client uses; browsers' WebSocket and the `ws` package both have it. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export interface EventFrame {
  type: 'event';
  stream: string;
  seq: number;
  event: string;
  at: number;
  data: Record<string, unknown>;
}

export interface ReadyFrame {
  type: 'ready';
  connection_id: string;
  user_id: string;
  session_id: string;
  heartbeat_ms: number;
  streams: Record<string, number>;
  unavailable: string[];
}

export interface PresenceView {
  user_id: string;
  status: 'online' | 'away' | 'dnd' | 'offline';
  since: number;
  last_active_at: number | null;
  dnd_until: number | null;
}

/** Frames that are sent once to the sockets connected at that moment and never replayed (docs/realtime.md). */
export type SignalFrame =
  | { type: 'presence'; users: PresenceView[]; unavailable?: string[] }
  | { type: 'typing'; conversation_id: string; thread_root_id: string | null; user_id: string; active: boolean; expires_in_ms: number }
  | { type: 'notification'; notification: Record<string, unknown> & { id: string } };

/** Frames a client may send after ready, besides hello. */
export type ClientSignalFrame =
  | { type: 'presence.subscribe'; user_ids: string[] }
  | { type: 'presence.unsubscribe'; user_ids: string[] }
  | { type: 'activity' }
  | { type: 'typing'; conversation_id: string; thread_root_id?: string };

const SIGNAL_TYPES = new Set(['presence', 'typing', 'notification']);

export interface RealtimeOptions {
  /** Opens a new socket: with a bearer header in Node, with a fresh ticket in browsers. */
  connect: () => WebSocketLike | Promise<WebSocketLike>;
  onEvent?: (event: EventFrame) => void;
  onReady?: (ready: ReadyFrame) => void;
  /** A stream whose missed events are gone: reload its state over HTTP. */
  onResync?: (stream: string) => void;
  onClose?: (code: number, reason: string) => void;
  /** Presence, typing and notification frames. */
  onSignal?: (frame: SignalFrame) => void;
  /** Reconnects after a drop unless the server revoked the session; default true. */
  reconnect?: boolean;
  maxBackoffMs?: number;
  /**
   * Milliseconds between the client's pings; default: the server's `heartbeat_ms` from the ready
   * frame. 0 turns client pings off.
   */
  heartbeatMs?: number;
  /**
   * Milliseconds to wait for any frame after a ping before the connection counts as dead. The
   * default is the heartbeat interval, so a silently dropped connection is found within two intervals.
   */
  pongTimeoutMs?: number;
  /** Milliseconds from opening a socket to its ready frame before the attempt counts as failed; default 15,000. */
  connectTimeoutMs?: number;
}

const NO_RECONNECT_CODES = new Set([4001]);
const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
/** Reported to onClose for a connection the client gave up on; 1006 is the code for a connection lost without a close frame. */
const ABANDONED_CODE = 1006;

/**
 * A real-time client that remembers the last seq of every stream and, after
 * any drop, reconnects and resumes from there. Each event reaches `onEvent`
 * once, in order within its stream.
 */
export class RealtimeClient {
  readonly positions = new Map<string, number>();
  /** Events dropped because their seq was already seen; stays 0 unless the server repeats itself. */
  duplicates = 0;
  /** Events whose seq skipped ahead of the last one seen in their stream. */
  gaps = 0;
  connections = 0;
  /** Connections given up on because no pong, or no ready frame, arrived in time. */
  timeouts = 0;
  #socket: WebSocketLike | undefined;
  #pingId = 0;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #livenessTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #attempt = 0;
  #readyWaiters: Array<() => void> = [];
  #firstAttempt = false;
  /** True between the ready frame and the close of the socket it came on. */
  #ready = false;
  #rejectStart: ((error: Error) => void) | undefined;
  readonly #options: RealtimeOptions;

  constructor(options: RealtimeOptions) {
    this.#options = options;
  }

  /**
   * Connects and resolves at the first ready frame. Rejects if that first
   * connection closes before ready (a refused upgrade, such as a revoked
   * token), so a caller is never left waiting on credentials that cannot work.
   */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#firstAttempt = true;
    const ready = new Promise<void>((resolve, reject) => {
      this.#readyWaiters.push(resolve);
      this.#rejectStart = reject;
    });
    await this.#open();
    return ready;
  }

  /** Resolves at the next ready frame, such as after a reconnect. */
  nextReady(): Promise<void> {
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    this.#clearTimers();
    this.#socket?.close(1000, 'client stopped');
  }

  /** Cuts the connection without a closing handshake, as a network failure would; the client reconnects. */
  drop(): void {
    const socket = this.#socket as unknown as { terminate?: () => void } | undefined;
    if (socket?.terminate) socket.terminate();
    else this.#socket?.close(4999, 'dropped by client');
  }

  /** Sends a presence, activity or typing frame; returns false when no socket is ready, since signals are not queued. */
  send(frame: ClientSignalFrame): boolean {
    if (!this.#ready || this.#socket?.readyState !== 1) return false;
    this.#socket.send(JSON.stringify(frame));
    return true;
  }

  get isOpen(): boolean {
    return this.#socket?.readyState === 1;
  }

  async #open(): Promise<void> {
    const socket = await this.#options.connect();
    this.#socket = socket;
    this.#ready = false;
    this.#clearTimers();
    // A connection can hang before ready (a half-open path, a node that stopped responding), and then no close event comes.
    this.#livenessTimer = setTimeout(() => this.#abandon(socket, 'no ready frame in time'), this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    socket.onopen = () => {
      this.connections += 1;
      socket.send(JSON.stringify({ type: 'hello', positions: Object.fromEntries(this.positions) }));
    };
    socket.onmessage = (message) => {
      if (this.#socket !== socket) return;
      this.#onFrame(String(message.data));
    };
    socket.onerror = () => {};
    socket.onclose = (event) => {
      if (this.#socket === socket) {
        this.#ready = false;
        this.#clearTimers();
      }
      this.#onClosed(socket, event.code, event.reason);
    };
  }

  #onClosed(socket: WebSocketLike, code: number, reason: string): void {
    this.#options.onClose?.(code, reason);
    if (this.#firstAttempt) {
      this.#firstAttempt = false;
      this.#readyWaiters = [];
      this.#rejectStart?.(new Error(`Connection closed before ready (code ${code})`));
      return;
    }
    if (this.#socket !== socket || this.#stopped || this.#options.reconnect === false) return;
    if (NO_RECONNECT_CODES.has(code)) return;
    this.#scheduleReconnect();
  }

  /**
   * Gives up on a connection that went silent: its close event may come only
   * after the operating system's TCP timeout (minutes), or never, so the
   * client stops listening to it and reconnects at once.
   */
  #abandon(socket: WebSocketLike, reason: string): void {
    if (this.#socket !== socket) return;
    this.#ready = false;
    this.#clearTimers();
    this.timeouts += 1;
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    const terminable = socket as unknown as { terminate?: () => void };
    if (terminable.terminate) terminable.terminate();
    else socket.close(4000, reason);
    this.#onClosed(socket, ABANDONED_CODE, reason);
  }

  /** Sends a ping every interval and abandons the connection when no frame at all arrives within the timeout after one. */
  #startHeartbeat(serverIntervalMs: number): void {
    this.#clearTimers();
    const intervalMs = this.#options.heartbeatMs ?? serverIntervalMs;
    if (!(intervalMs > 0)) return;
    const timeoutMs = this.#options.pongTimeoutMs ?? intervalMs;
    const socket = this.#socket as WebSocketLike;
    this.#heartbeatTimer = setInterval(() => {
      if (socket.readyState !== 1) return;
      this.#pingId += 1;
      socket.send(JSON.stringify({ type: 'ping', id: this.#pingId }));
      this.#livenessTimer ??= setTimeout(() => this.#abandon(socket, 'no pong in time'), timeoutMs);
    }, intervalMs);
  }

  #clearTimers(): void {
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#livenessTimer);
    this.#heartbeatTimer = undefined;
    this.#livenessTimer = undefined;
  }

  #scheduleReconnect(): void {
    const max = this.#options.maxBackoffMs ?? 5000;
    const delay = Math.min(max, 50 * 2 ** this.#attempt) * (0.5 + Math.random() / 2);
    this.#attempt += 1;
    setTimeout(() => {
      if (this.#stopped) return;
      this.#open().catch(() => this.#scheduleReconnect());
    }, delay);
  }

  #onFrame(text: string): void {
    const frame = JSON.parse(text) as { type: string } & Record<string, unknown>;
    // Any frame shows the connection is alive, not only the pong.
    if (this.#heartbeatTimer !== undefined) {
      clearTimeout(this.#livenessTimer);
      this.#livenessTimer = undefined;
    }
    switch (frame.type) {
      case 'ready': {
        const ready = frame as unknown as ReadyFrame;
        this.#startHeartbeat(ready.heartbeat_ms);
        this.#attempt = 0;
        this.#firstAttempt = false;
        this.#ready = true;
        for (const stream of ready.unavailable) this.positions.delete(stream);
        for (const [stream, head] of Object.entries(ready.streams)) {
          if (!this.positions.has(stream)) this.positions.set(stream, head);
        }
        this.#options.onReady?.(ready);
        const waiters = this.#readyWaiters;
        this.#readyWaiters = [];
        for (const resolve of waiters) resolve();
        break;
      }
      case 'event': {
        const event = frame as unknown as EventFrame;
        const last = this.positions.get(event.stream);
        if (last !== undefined && event.seq <= last) {
          this.duplicates += 1;
          return;
        }
        if (last !== undefined && event.seq !== last + 1) this.gaps += 1;
        this.positions.set(event.stream, event.seq);
        if (event.event === 'conversation.left') this.positions.delete(`c:${String(event.data.conversation_id)}`);
        this.#options.onEvent?.(event);
        break;
      }
      case 'resync':
        this.positions.set(String(frame.stream), Number(frame.seq));
        this.#options.onResync?.(String(frame.stream));
        break;
      default:
        if (SIGNAL_TYPES.has(frame.type)) this.#options.onSignal?.(frame as unknown as SignalFrame);
        break;
    }
  }
}
