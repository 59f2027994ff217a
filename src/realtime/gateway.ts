import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import proxyAddr from '@fastify/proxy-addr';
import { WebSocketServer } from 'ws';
import { authenticateToken, redeemTicket, type Auth } from '../accounts/actions.js';
import { isAllowedOrigin, SESSION_COOKIE } from '../http/auth.js';
import type { AppContext } from '../platform/context.js';
import { newId } from '../platform/ids.js';
import { isStorageUnavailable } from '../storage/unavailable.js';
import { CLOSE, Connection } from './connection.js';
import { SharedStrings } from './shared-strings.js';
import { WriteBatch } from './write-batch.js';

export const REALTIME_PATH = '/api/realtime';

/**
 * The WebSocket gateway. It authenticates at the HTTP upgrade, before any
 * WebSocket exists: a bearer header for programs, a single-use ticket or the
 * session cookie for browsers. A request from an origin not allowed is
 * rejected before the upgrade, whatever credentials it carries.
 */
/** How often the node's total of queued socket bytes is checked against its budget. */
const BUFFER_CHECK_INTERVAL_MS = 250;

export class Gateway {
  readonly #ctx: AppContext;
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<Connection>();
  readonly #sharedStrings = new SharedStrings();
  readonly #writes = new WriteBatch();
  readonly #connectionsPerUser = new Map<string, number>();
  readonly #heartbeat: NodeJS.Timeout;
  readonly #bufferCheck: NodeJS.Timeout;

  constructor(ctx: AppContext, server: Server) {
    this.#ctx = ctx;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: ctx.config.ws.maxFrameBytes,
      perMessageDeflate: ctx.config.ws.compression,
    });
    server.on('upgrade', (request, socket, head) => {
      this.#onUpgrade(request, socket, head).catch((error: unknown) => {
        ctx.metrics.databaseErrors.inc({ source: 'realtime' });
        ctx.logger.error({ component: 'realtime', err: error }, 'upgrade failed');
        if (isStorageUnavailable(error)) rejectUpgrade(socket, 503, 'Service Unavailable');
        else rejectUpgrade(socket, 500, 'Internal Server Error');
      });
    });
    this.#heartbeat = setInterval(() => {
      for (const connection of this.#connections) connection.heartbeat();
    }, ctx.config.ws.heartbeatIntervalMs);
    this.#heartbeat.unref();
    this.#bufferCheck = setInterval(() => this.#enforceBufferBudget(), BUFFER_CHECK_INTERVAL_MS);
    this.#bufferCheck.unref();
    ctx.bus.onEventsMissed(() => this.resyncFromStorage());
  }

  /**
   * Keeps the bytes queued across all sockets under the node's budget by
   * dropping the most backed-up sockets first. The per-socket limit alone
   * lets many slow readers together hold far more memory than one may.
   */
  #enforceBufferBudget(): void {
    const budget = this.#ctx.config.ws.maxTotalBufferedBytes;
    let total = 0;
    const backedUp: Array<[Connection, number]> = [];
    for (const connection of this.#connections) {
      const bytes = connection.bufferedBytes;
      if (bytes === 0) continue;
      total += bytes;
      backedUp.push([connection, bytes]);
    }
    if (total <= budget) return;

    backedUp.sort((a, b) => b[1] - a[1]);
    for (const [connection, bytes] of backedUp) {
      if (total <= budget) break;
      connection.dropAsSlowConsumer('node budget');
      total -= bytes;
    }
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Distinct stream and team ids that the node's sockets share; zero once every socket has closed. */
  get sharedStringCount(): number {
    return this.#sharedStrings.size;
  }

  async #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== REALTIME_PATH) return rejectUpgrade(socket, 404, 'Not Found');

    const origin = request.headers.origin;
    if (origin !== undefined && !isAllowedOrigin(this.#ctx, origin, request.headers.host)) {
      this.#ctx.logger.info({ component: 'realtime', origin }, 'upgrade rejected: origin not allowed');
      return rejectUpgrade(socket, 403, 'Forbidden');
    }
    if (url.searchParams.has('token')) {
      // Long-lived tokens in URLs end up in proxy logs and browser history.
      return rejectUpgrade(socket, 400, 'Bad Request');
    }

    const auth = await this.#authenticate(request, url);
    if (auth === undefined) return rejectUpgrade(socket, 401, 'Unauthorized');
    const open = this.#connectionsPerUser.get(auth.user.id) ?? 0;
    if (open >= this.#ctx.config.ws.maxConnectionsPerUser) {
      this.#ctx.logger.info({ component: 'realtime', userId: auth.user.id, open }, 'upgrade rejected: too many sockets for one user');
      return rejectUpgrade(socket, 429, 'Too Many Requests');
    }

    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      const userId = auth.user.id;
      this.#connectionsPerUser.set(userId, (this.#connectionsPerUser.get(userId) ?? 0) + 1);
      const node = { sharedStrings: this.#sharedStrings, writes: this.#writes };
      const connection = new Connection(newId(), ws, socket, auth, this.#clientAddress(request), this.#ctx, node, (closed) => {
        this.#connections.delete(closed);
        this.#ctx.metrics.openConnections.dec();
        const remaining = (this.#connectionsPerUser.get(userId) ?? 1) - 1;
        if (remaining > 0) this.#connectionsPerUser.set(userId, remaining);
        else this.#connectionsPerUser.delete(userId);
      });
      this.#connections.add(connection);
      this.#ctx.metrics.openConnections.inc();
      this.#ctx.logger.info({ component: 'realtime', connectionId: connection.id, userId, sessionId: auth.session.id }, 'socket opened');
    });
  }

  /** Returns the client's address, read from X-Forwarded-For only when the socket's peer is a trusted proxy. */
  #clientAddress(request: IncomingMessage): string {
    const trusted = this.#ctx.config.trustedProxies;
    if (trusted.length === 0) return request.socket.remoteAddress ?? 'unknown';
    return proxyAddr(request, trusted);
  }

  async #authenticate(request: IncomingMessage, url: URL): Promise<Auth | undefined> {
    const header = request.headers.authorization;
    if (header !== undefined) {
      const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
      return token === undefined ? undefined : authenticateToken(this.#ctx, token);
    }
    const ticket = url.searchParams.get('ticket');
    if (ticket !== null) return redeemTicket(this.#ctx, ticket);

    const cookie = readCookie(request.headers.cookie, SESSION_COOKIE);
    // A cookie proves nothing about the page that sent it: it counts only with an Origin, checked above.
    if (cookie !== undefined && request.headers.origin !== undefined) return authenticateToken(this.#ctx, cookie);
    return undefined;
  }

  /**
   * Makes every socket read its streams from storage after its position,
   * because the bus may have lost events.
   * TODO: every socket reads every stream at once, so a node with many sockets
   * puts a burst of queries on the database after each Redis reconnect.
   */
  resyncFromStorage(): void {
    if (this.#connections.size === 0) return;
    this.#ctx.logger.info({ component: 'realtime', connections: this.#connections.size }, 'resyncing sockets from storage');
    for (const connection of this.#connections) connection.resyncFromStorage();
  }

  /** Tells every socket the server is going away; clients reconnect elsewhere and resume. */
  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    clearInterval(this.#bufferCheck);
    for (const connection of this.#connections) connection.close(CLOSE.goingAway, 'server shutting down');
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
  socket.destroy();
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}
