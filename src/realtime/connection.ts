import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Auth } from '../accounts/actions.js';
import { findConversation, isConversationMember } from '../conversations/queries.js';
import { findTeamMember } from '../teams/queries.js';
import type { AppContext } from '../platform/context.js';
import type { Logger } from '../platform/logger.js';
import { getStreamPositions, listEventsAfter, listEventsAfterEach } from '../storage/streams.js';
import { findSessionExpiry } from '../accounts/queries.js';
import type { EventListener } from './event-bus.js';
import { conversationStream, encodeEventFrame, teamStream, userStream, type StreamEvent, type StreamId } from './events.js';
import { listStartStreams } from './queries.js';
import { parseClientFrame, type HelloFrame, type PostFrame } from './frames.js';
import type { SharedStrings } from './shared-strings.js';
import { postMessage, type PostResult } from '../messages/actions.js';
import { redactDeletedMessages } from '../messages/replay.js';
import { AppError } from '../platform/errors.js';
import { RepeatThrottle } from '../platform/redis.js';
import { isStorageUnavailable, storageUnavailableError } from '../storage/unavailable.js';
import type { PresenceSession } from '../presence/session.js';
import type { PresenceFrame } from '../presence/frames.js';
import type { SignalListener } from './signals.js';
import type { WriteBatch } from './write-batch.js';

/** Close codes of the gateway; docs/realtime.md lists them. */
export const CLOSE = {
  goingAway: 1001,
  tryAgainLater: 1013,
  sessionRevoked: 4001,
  helloTimeout: 4002,
  slowConsumer: 4003,
  invalidFrame: 4400,
} as const;

/** Events of each stream in the first read when a socket starts, which reads all its streams at once. */
const FILL_PAGE_SIZE = 500;
/**
 * Events per later read of a stream that catches up. The page waits in memory
 * while the client reads, so it is smaller than the first one.
 */
const NEXT_PAGE_SIZE = 100;
/**
 * Live events a catching-up stream keeps in memory. Beyond it they are
 * dropped and read from storage later, where they are committed already.
 */
const MAX_PENDING_EVENTS = FILL_PAGE_SIZE;
/** Interval at which a paused catch-up checks whether the client has read its queued frames. */
const DRAIN_CHECK_MS = 10;
/**
 * Maximum wait for the bus to confirm a starting socket's subscriptions. Past
 * it the socket starts anyway, well within the 15 s that our client waits for
 * the ready frame, and reads storage again once the bus confirms them.
 */
const SUBSCRIPTION_WAIT_MS = 5000;
/** Limits the log lines about late subscriptions, which every socket of a node writes while its bus stalls. */
const lateSubscriptionLog = new RepeatThrottle();

interface StreamState {
  /** Highest seq sent to this socket; every lower one was sent exactly once. */
  delivered: number;
  /** True while stored events are being read; live events wait in `pending` meanwhile. */
  filling: boolean;
  pending: StreamEvent[];
  /** Set when storage must be read again after the fill in progress, because the bus may have lost events. */
  refill?: boolean;
  /** Team of a conversation stream, so leaving a team drops its conversations. */
  teamId?: string;
  /** True while the socket receives the stream's signals (typing, notifications): only once access is confirmed. */
  signals: boolean;
}

/**
 * One authenticated socket. It delivers each subscribed stream's events in
 * seq order, exactly once: a live event that skips ahead, a resume and a
 * new membership all go through the same fill from stored events.
 */
export class Connection {
  readonly id: string;
  readonly auth: Auth;
  readonly #socket: WebSocket;
  /** The TCP (or TLS) socket under `#socket`, which the write batch corks. */
  readonly #transport: Duplex;
  /** The node's batch that writes each socket's frames of one turn together. */
  readonly #writes: WriteBatch;
  readonly #ctx: AppContext;
  /** Client address at the upgrade, for per-address rate limits. */
  readonly #address: string;
  /** The socket's child logger, made on first use (see #log). */
  #logger: Logger | undefined;
  readonly #streams = new Map<StreamId, StreamState>();
  /** The node's copies of stream and team ids, which every socket keeps for each stream. */
  readonly #sharedStrings: SharedStrings;
  readonly #listener: EventListener;
  readonly #signalListener: SignalListener;
  /** Presence, activity and typing of this socket; set once it is ready. */
  #presence: PresenceSession | undefined;
  #state: 'awaiting-hello' | 'ready' | 'closed' = 'awaiting-hello';
  #helloTimer: NodeJS.Timeout | undefined;
  alive = true;

  constructor(
    id: string,
    socket: WebSocket,
    transport: Duplex,
    auth: Auth,
    address: string,
    ctx: AppContext,
    node: { sharedStrings: SharedStrings; writes: WriteBatch },
    onClose: (connection: Connection) => void,
  ) {
    this.id = id;
    const { sharedStrings, writes } = node;
    this.#transport = transport;
    this.#writes = writes;
    this.#sharedStrings = sharedStrings;
    this.#address = address;
    this.auth = auth;
    this.#socket = socket;
    this.#ctx = ctx;
    this.#listener = (event, frame) => this.#onLive(event, frame);
    this.#signalListener = (frame) => {
      if (this.#state === 'ready') this.#send(frame);
    };

    socket.on('message', (data, isBinary) => this.#onFrame(data.toString(), isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('close', (code) => {
      this.#teardown();
      this.#logLifecycle({ code }, 'socket closed');
      onClose(this);
    });
    socket.on('error', (error) => this.#log.info({ err: error }, 'socket error'));

    this.#helloTimer = setTimeout(() => this.close(CLOSE.helloTimeout, 'no hello frame received in time'), ctx.config.ws.helloTimeoutMs);
  }

  /**
   * Pings the socket; one that sent no pong for the previous ping is dropped as dead.
   * A socket whose session has expired is closed with 4001, at most one interval late,
   * because a session's expiry is fixed when it is created.
   */
  heartbeat(): void {
    if (Number(this.auth.session.expires_at) <= this.#ctx.now()) {
      this.#log.info('session expired; closing socket');
      this.close(CLOSE.sessionRevoked, 'session expired');
      return;
    }
    if (!this.alive) {
      this.#log.info('heartbeat missed; terminating socket');
      this.#socket.terminate();
      return;
    }
    this.alive = false;
    this.#socket.ping();
  }

  close(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#teardown();
    this.#socket.close(code, reason);
    // A peer that never completes the closing handshake is cut after a grace period.
    setTimeout(() => this.#socket.terminate(), 5000).unref();
  }

  /**
   * Reads the stored events of `streams` (default: every stream) after their
   * positions again, for when the bus may have lost live events (the Redis bus
   * after a reconnect). Events already sent are not sent again.
   */
  resyncFromStorage(streams: Iterable<StreamId> = this.#streams.keys()): void {
    if (this.#state !== 'ready') return;
    for (const stream of streams) {
      const state = this.#streams.get(stream);
      if (state === undefined) continue;
      if (state.filling) {
        state.refill = true;
        continue;
      }
      state.filling = true;
      this.#fill(stream).catch((error: unknown) => this.#failFill(stream, error));
    }
  }

  /** Re-reads the state after an await, which the narrowed type cannot see change. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #teardown(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#helloTimer);
    for (const [stream, state] of this.#streams) {
      this.#ctx.bus.unsubscribe(stream, this.#listener);
      if (state.signals) this.#ctx.signals.unsubscribe(stream, this.#signalListener);
      this.#releaseStrings(stream, state);
    }
    this.#streams.clear();
    this.#presence?.close();
  }

  /** Bytes queued on the socket that the client has not read yet. */
  get bufferedBytes(): number {
    return this.#socket.bufferedAmount;
  }

  /** Closes the socket as a slow consumer; the client reconnects and resumes from its positions. */
  dropAsSlowConsumer(reason: string): void {
    if (this.#state === 'closed') return;
    this.#log.warn({ bufferedBytes: this.#socket.bufferedAmount, reason }, 'slow consumer dropped');
    this.close(CLOSE.slowConsumer, 'slow consumer: reconnect and resume');
  }

  /** Sends a frame and returns whether it was queued on the socket. */
  #send(payload: string | Buffer): boolean {
    if (this.#state === 'closed') return false;
    // A reader that cannot keep up is dropped rather than buffered without bound; it resumes from its positions.
    if (this.#socket.bufferedAmount > this.#ctx.config.ws.maxBufferedBytes) {
      this.dropAsSlowConsumer('socket limit');
      return false;
    }
    this.#writes.hold(this.#transport);
    // Buffers are sent as text frames: they hold JSON already encoded as UTF-8.
    this.#socket.send(payload, { binary: false });
    this.#writes.limit(this.#transport);
    return true;
  }

  /**
   * Returns the socket's child logger, made on first use. pino serialises a
   * child's bindings when it is made, which took about 4% of the server's CPU
   * in a connect storm, and most sockets log only their lifecycle lines.
   */
  get #log(): Logger {
    this.#logger ??= this.#ctx.logger.child(this.#logBindings());
    return this.#logger;
  }

  /** Logs a line that every socket writes, with the child's bindings but without making the child. */
  #logLifecycle(fields: Record<string, unknown>, message: string): void {
    this.#ctx.logger.info({ ...this.#logBindings(), ...fields }, message);
  }

  /** Returns the fields that identify this socket in its log lines. */
  #logBindings(): { component: string; connectionId: string; userId: string } {
    return { component: 'realtime', connectionId: this.id, userId: this.auth.user.id };
  }

  #sendError(code: string, message: string, field?: string, id?: string | number, details: Record<string, unknown> = {}): void {
    const error = { code, message, ...(field !== undefined && { field }), ...details };
    this.#send(JSON.stringify({ type: 'error', ...(id !== undefined && { id }), error }));
  }

  /**
   * Posts a message for the socket's user through the same action as the HTTP
   * route, with the same checks and rate limits, and acknowledges it after the
   * commit. The socket is closed when its session is revoked, so its
   * credentials are live for as long as it can post.
   */
  #post(frame: PostFrame): void {
    if (this.#state !== 'ready') {
      this.#sendError('VALIDATION_FAILED', 'Send hello before posting', 'type', frame.id);
      return;
    }
    this.#ctx.presence.presence.activity(this.auth.user.id, this.id);
    postMessage(this.#ctx, this.auth, frame.conversation_id, frame.body, this.#address).then(
      (result) => this.#send(ackFrame(frame.id, result)),
      (error: unknown) => {
        const appError =
          error instanceof AppError ? error : isStorageUnavailable(error) ? storageUnavailableError() : new AppError('INTERNAL', 'Internal server error');
        if (appError.status >= 500) this.#log.error({ err: error }, 'posting over the socket failed');
        this.#send(JSON.stringify({ type: 'error', id: frame.id, error: appError.toBody().error }));
      },
    );
  }

  #onFrame(text: string, isBinary: boolean): void {
    const parsed = parseClientFrame(text, isBinary);
    if ('error' in parsed) {
      this.#sendError(parsed.error.code, parsed.error.message, parsed.error.field, parsed.error.id);
      if (this.#state === 'awaiting-hello') this.close(CLOSE.invalidFrame, 'invalid hello frame');
      return;
    }

    const frame = parsed.frame;
    if (frame.type === 'ping') {
      this.#send(JSON.stringify({ type: 'pong', ...(frame.id !== undefined && { id: frame.id }) }));
      return;
    }
    if (frame.type === 'post') {
      this.#post(frame);
      return;
    }
    if (frame.type !== 'hello') {
      this.#onPresenceFrame(frame);
      return;
    }
    if (this.#state !== 'awaiting-hello') {
      this.#sendError('VALIDATION_FAILED', 'hello was already received on this connection', 'type');
      return;
    }
    clearTimeout(this.#helloTimer);
    this.#state = 'ready';
    this.#start(frame).catch((error: unknown) => {
      this.#ctx.metrics.databaseErrors.inc({ source: 'realtime' });
      this.#log.error({ err: error }, 'starting the connection failed');
      this.#closeAfterFailure(error);
    });
  }

  #onPresenceFrame(frame: PresenceFrame): void {
    const presence = this.#presence;
    if (this.#state !== 'ready' || presence === undefined) {
      this.#sendError('VALIDATION_FAILED', `Send hello before ${frame.type}`, 'type', frame.id);
      return;
    }
    presence.handle(frame).catch((error: unknown) => {
      this.#ctx.metrics.databaseErrors.inc({ source: 'realtime' });
      this.#log.error({ err: error, frameType: frame.type }, 'handling a presence frame failed');
      this.#sendError('INTERNAL', 'Internal server error', undefined, frame.id);
    });
  }

  /**
   * Subscribes every stream the user may read, then reports each stream's head.
   *
   * Invariant: a stream's head is read only after the bus has confirmed its
   * subscription. An event above that head was committed after the read, so it
   * was published after the subscription went live, and #onLive buffers it
   * until the stream's fill sends it. The fill drops buffered events at or
   * below the position it reached, so each event is sent once, in seq order.
   * A stream that starts at its head therefore needs no storage read here.
   */
  async #start(hello: HelloFrame): Promise<void> {
    const userId = this.auth.user.id;
    const db = this.#ctx.storage.db;

    // The user's own stream is live before the memberships are read. A
    // membership change committed after that read arrives on it above its head
    // (team.left, conversation.joined...) and is applied when it is delivered.
    const ownStream = userStream(userId);
    this.#subscribe(ownStream);
    await this.#whenLive([ownStream]);
    if (this.#isClosed()) return;
    const listed = await listStartStreams(db, userId, ownStream);

    // A session revoked before the own stream's head was read has its
    // session.revoked event at or below that head, so it would never be delivered.
    const expiresAt = await findSessionExpiry(db, this.auth.session.id);
    if (this.#isClosed()) return;
    if (expiresAt === undefined || expiresAt <= this.#ctx.now()) {
      this.close(CLOSE.sessionRevoked, 'session revoked');
      return;
    }

    const others: StreamId[] = [];
    for (const { stream, teamId } of listed.streams) {
      this.#subscribe(stream, teamId);
      others.push(stream);
    }
    await this.#whenLive(others);
    if (this.#isClosed()) return;
    const positions = await getStreamPositions(db, others);
    if (this.#isClosed()) return;
    if (listed.ownPosition !== undefined) positions.set(ownStream, listed.ownPosition);
    const streams = [ownStream, ...others];

    const heads: Record<StreamId, number> = {};
    const toRead: StreamId[] = [];
    const atHead: StreamId[] = [];
    const resync: StreamId[] = [];
    for (const stream of streams) {
      const head = positions.get(stream)?.lastSeq ?? 0;
      const oldest = positions.get(stream)?.minSeq ?? 1;
      const known = hello.positions[stream];
      const state = this.#streams.get(stream);
      if (state === undefined) continue;

      heads[stream] = head;
      if (known === undefined) {
        state.delivered = head;
      } else if (known > head || known < oldest - 1) {
        // The client's position is past what exists, or older events were removed by retention.
        state.delivered = head;
        resync.push(stream);
      } else {
        state.delivered = known;
      }
      if (state.delivered < head) toRead.push(stream);
      else atHead.push(stream);
    }

    const unavailable = Object.keys(hello.positions).filter((stream) => !this.#streams.has(stream));
    this.#send(
      JSON.stringify({
        type: 'ready',
        connection_id: this.id,
        user_id: userId,
        session_id: this.auth.session.id,
        heartbeat_ms: this.#ctx.config.ws.heartbeatIntervalMs,
        streams: heads,
        unavailable,
      }),
    );
    for (const stream of resync) this.#send(JSON.stringify({ type: 'resync', stream, seq: heads[stream] }));
    this.#openPresence();
    this.#logLifecycle({ streams: streams.length, replaying: toRead.length, resync: resync.length }, 'socket ready');
    await Promise.all([this.#fillAll(toRead), ...atHead.map((stream) => this.#fill(stream, []))]);
  }

  /**
   * Waits until the bus has confirmed the subscriptions of `streams`, for at
   * most SUBSCRIPTION_WAIT_MS. Past that the start goes on, and the streams
   * read storage again once the bus confirms them, so an event published
   * before the confirmation still reaches the socket.
   */
  async #whenLive(streams: readonly StreamId[]): Promise<void> {
    const confirmed = this.#ctx.bus.whenSubscribed(streams);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<true>((resolve) => {
      timer = setTimeout(() => resolve(true), SUBSCRIPTION_WAIT_MS);
    });
    const late = await Promise.race([confirmed.then(() => false), timedOut]);
    clearTimeout(timer);
    if (!late) return;

    const notLogged = lateSubscriptionLog.take();
    if (notLogged !== undefined) {
      this.#log.warn({ streams: streams.length, waitedMs: SUBSCRIPTION_WAIT_MS, notLogged }, 'bus has not confirmed the subscriptions in time; starting without them');
    }
    void confirmed.then(() => this.resyncFromStorage(streams));
  }

  /**
   * Opens the socket's presence session. Its callbacks live as long as the
   * socket, so they are created here. V8 gives all closures of a function one
   * shared context, so closures made in #start would keep alive every local
   * of #start that any of its closures uses, about 2 KiB per socket.
   */
  #openPresence(): void {
    this.#presence = this.#ctx.presence.openSession({
      id: this.id,
      userId: this.auth.user.id,
      send: (payload) => void this.#send(payload),
      sendError: (code, message, field, id, details) => this.#sendError(code, message, field, id, details),
      receives: (stream) => this.#streams.get(stream)?.signals === true,
    });
  }

  /** Sends the stored events after each stream's position, reading the first pages of all of them at once. */
  async #fillAll(toFill: readonly StreamId[]): Promise<void> {
    if (toFill.length === 0) return;
    const states = new Map(toFill.map((stream) => [stream, this.#streams.get(stream)]));
    const firstPages = await this.#readFirstPages(toFill);
    // A stream left or joined again during the read is filled by the code that joined it.
    const unchanged = toFill.filter((stream) => this.#streams.get(stream) === states.get(stream));
    await Promise.all(unchanged.map((stream) => this.#fill(stream, firstPages.get(stream))));
  }

  /**
   * Reads the first page of stored events of every stream in one query, where a socket would
   * otherwise send one query per stream as it starts. The deleted-message check runs once too.
   */
  async #readFirstPages(streams: readonly StreamId[]): Promise<Map<StreamId, StreamEvent[]>> {
    const positions = new Map<StreamId, number>();
    for (const stream of streams) {
      const state = this.#streams.get(stream);
      if (state === undefined) continue;
      // A refill requested from now on may not be covered by this read, so #fill reads again.
      state.refill = false;
      positions.set(stream, state.delivered);
    }
    const pages = await listEventsAfterEach(this.#ctx.storage.db, positions, FILL_PAGE_SIZE);

    const redacted = await redactDeletedMessages(this.#ctx.storage.db, [...pages.values()].flat());
    const byStream = new Map<StreamId, StreamEvent[]>([...pages.keys()].map((stream) => [stream, []]));
    for (const event of redacted) byStream.get(event.stream)!.push(event);
    return byStream;
  }

  /**
   * Starts listening to a stream in buffering mode; the caller sets `delivered` and fills.
   * Its signals start at once only when `accessChecked`, because they cannot be held back like events.
   */
  #subscribe(stream: StreamId, teamId?: string, accessChecked = true): StreamState {
    const existing = this.#streams.get(stream);
    if (existing !== undefined) return existing;
    const key = this.#sharedStrings.acquire(stream);
    const team = teamId === undefined ? undefined : this.#sharedStrings.acquire(teamId);
    // Every field is set here, so V8 keeps them inside the object rather than in a separate property array.
    const state: StreamState = { delivered: 0, filling: true, pending: [], refill: false, teamId: team, signals: false };
    this.#streams.set(key, state);
    this.#ctx.bus.subscribe(key, this.#listener);
    if (accessChecked) this.#listenToSignals(key, state);
    return state;
  }

  #releaseStrings(stream: StreamId, state: StreamState): void {
    this.#sharedStrings.release(stream);
    if (state.teamId !== undefined) this.#sharedStrings.release(state.teamId);
  }

  #listenToSignals(stream: StreamId, state: StreamState): void {
    if (state.signals || !carriesSignals(stream)) return;
    state.signals = true;
    this.#ctx.signals.subscribe(stream, this.#signalListener);
  }

  #unsubscribe(stream: StreamId): void {
    const state = this.#streams.get(stream);
    if (state === undefined) return;
    this.#streams.delete(stream);
    this.#ctx.bus.unsubscribe(stream, this.#listener);
    if (state.signals) this.#ctx.signals.unsubscribe(stream, this.#signalListener);
    this.#releaseStrings(stream, state);
  }

  #onLive(event: StreamEvent, frame: Buffer): void {
    const state = this.#streams.get(event.stream);
    if (state === undefined || this.#state !== 'ready') return;

    if (state.filling) {
      if (state.pending.length < MAX_PENDING_EVENTS) {
        state.pending.push(event);
      } else {
        state.pending = [];
        state.refill = true;
      }
    } else if (event.seq === state.delivered + 1) {
      this.#deliver(event, frame, true);
    } else if (event.seq > state.delivered + 1) {
      // A gap: an earlier commit's event has not arrived yet. Storage has it.
      state.filling = true;
      state.pending.push(event);
      this.#fill(event.stream).catch((error: unknown) => this.#failFill(event.stream, error));
    }
  }

  /**
   * Reads the stored events after `delivered` and sends them in order, then
   * drains the live events buffered meanwhile. Repeats while a gap remains.
   * `firstPage`, when given, was read already from `delivered` on. Once the
   * socket has more than its pause threshold unsent, the fill waits until the
   * client has read most of it. So a client catching up on a long backlog is
   * not closed as a slow consumer.
   */
  async #fill(stream: StreamId, firstPage?: StreamEvent[]): Promise<void> {
    let state = this.#streams.get(stream);
    let prefetched = firstPage;
    while (state !== undefined && this.#state === 'ready') {
      let stored: StreamEvent[];
      let limit = FILL_PAGE_SIZE;
      if (prefetched !== undefined) {
        stored = prefetched;
        prefetched = undefined;
      } else {
        // This read covers any refill requested before it.
        state.refill = false;
        limit = NEXT_PAGE_SIZE;
        stored = await redactDeletedMessages(this.#ctx.storage.db, await listEventsAfter(this.#ctx.storage.db, stream, state.delivered, limit));
      }
      if (this.#streams.get(stream) !== state) return;

      const first = stored[0];
      if (first !== undefined && first.seq > state.delivered + 1) {
        this.#send(JSON.stringify({ type: 'resync', stream, seq: first.seq - 1 }));
        state.delivered = first.seq - 1;
      }
      for (const event of stored) {
        if (this.#socket.bufferedAmount > this.#fillPauseBytes()) await this.#waitForDrain();
        if (this.#streams.get(stream) !== state) return;
        if (event.seq === state.delivered + 1) this.#deliver(event, encodeEventFrame(event));
      }
      if (stored.length === limit) continue;

      state.pending.sort((a, b) => a.seq - b.seq);
      const pending = state.pending;
      state.pending = [];
      let gap = false;
      for (const event of pending) {
        if (this.#streams.get(stream) !== state) return;
        if (event.seq <= state.delivered) continue;
        if (event.seq > state.delivered + 1) {
          gap = true;
          state.pending.push(event);
          continue;
        }
        this.#deliver(event, encodeEventFrame(event));
      }
      if (!gap && !state.refill) {
        state.filling = false;
        return;
      }
      state = this.#streams.get(stream);
    }
  }

  /** Unsent bytes above which a catch-up pauses: half the socket's limit, which closes the socket past it. */
  #fillPauseBytes(): number {
    return this.#ctx.config.ws.maxBufferedBytes / 2;
  }

  /** Waits until the client has read all but a quarter of the pause threshold, or the socket has closed. */
  async #waitForDrain(): Promise<void> {
    const resumeBytes = this.#fillPauseBytes() / 4;
    while (this.#state === 'ready' && this.#socket.bufferedAmount > resumeBytes) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_CHECK_MS));
    }
  }

  #failFill(stream: StreamId, error: unknown): void {
    this.#ctx.metrics.databaseErrors.inc({ source: 'realtime' });
    this.#log.error({ err: error, stream }, 'reading stored events failed; closing so the client resumes');
    this.#closeAfterFailure(error);
  }

  /** Closes after a failed read: 1013 asks the client to come back later when the database is unreachable. */
  #closeAfterFailure(error: unknown): void {
    if (isStorageUnavailable(error)) this.close(CLOSE.tryAgainLater, 'database unavailable');
    else this.close(1011, 'internal error');
  }

  /**
   * Sends one event and applies what it changes about this socket's own subscriptions.
   * Only `live` events, sent straight from the bus, count towards the delivery latency.
   */
  #deliver(event: StreamEvent, frame: Buffer, live = false): void {
    const state = this.#streams.get(event.stream);
    if (state === undefined) return;
    state.delivered = event.seq;
    if (this.#send(frame)) this.#ctx.metrics.recordFrameSent(live ? event.at : undefined, Date.now());

    const userId = this.auth.user.id;
    // Checking the prefix first avoids building the own stream's id for conversation events, the most frequent kind.
    if (event.stream.startsWith('u:') && event.stream === userStream(userId)) {
      this.#applyOwnEvent(event);
    } else if ((event.type === 'member.left' || event.type === 'team.member_left') && event.data.user_id === userId) {
      this.#revoke(event.stream);
    }
    this.#presence?.onEvent(event);
  }

  #applyOwnEvent(event: StreamEvent): void {
    const data = event.data;
    switch (event.type) {
      case 'session.revoked':
        if ((data.session_ids as string[]).includes(this.auth.session.id)) this.close(CLOSE.sessionRevoked, 'session revoked');
        break;
      case 'team.joined':
        this.#follow(teamStream((data.team as { id: string }).id), Number(data.seq) - 1);
        break;
      case 'team.left':
        this.#revoke(teamStream(data.team_id as string));
        // Collected first: revoking re-adds a stream to the map while access is read again.
        for (const stream of [...this.#streams].filter(([, state]) => state.teamId === data.team_id).map(([id]) => id)) {
          this.#revoke(stream);
        }
        break;
      case 'conversation.joined': {
        const conversation = data.conversation as { id: string; team_id: string };
        this.#follow(conversationStream(conversation.id), Number(data.seq) - 1, conversation.team_id);
        break;
      }
      case 'conversation.left':
        this.#revoke(conversationStream(data.conversation_id as string));
        break;
    }
  }

  /**
   * Stops a stream at an event that ended the user's access: nothing after it
   * is sent. The event may be a replayed one from before the user came back,
   * so access is read again, and a stream the user may still read continues
   * from the same position.
   */
  #revoke(stream: StreamId): void {
    const state = this.#streams.get(stream);
    if (state === undefined) return;
    this.#unsubscribe(stream);
    this.#follow(stream, state.delivered, state.teamId);
  }

  /**
   * Subscribes to a newly visible stream from a known position. The join
   * event may be a replayed one whose access has ended since, so access is
   * checked now; live events buffer meanwhile. The fill reads storage once the
   * bus has confirmed the subscription, so no event passes between the two.
   */
  #follow(stream: StreamId, afterSeq: number, teamId?: string): void {
    if (this.#streams.has(stream)) return;
    const state = this.#subscribe(stream, teamId, false);
    state.delivered = afterSeq;
    Promise.all([this.#mayRead(stream), this.#ctx.bus.whenSubscribed([stream])])
      .then(async ([allowed]) => {
        if (this.#streams.get(stream) !== state) return;
        if (!allowed) {
          this.#unsubscribe(stream);
          return;
        }
        this.#listenToSignals(stream, state);
        await this.#fill(stream);
      })
      .catch((error: unknown) => this.#failFill(stream, error));
  }

  /** Checks in storage that the user may read a team or conversation stream now. */
  async #mayRead(stream: StreamId): Promise<boolean> {
    const db = this.#ctx.storage.db;
    const userId = this.auth.user.id;
    const id = stream.slice(2);
    if (stream.startsWith('t:')) return (await findTeamMember(db, id, userId)) !== undefined;

    const conversation = await findConversation(db, id);
    if (conversation === undefined) return false;
    const [inTeam, inConversation] = await Promise.all([
      findTeamMember(db, conversation.team_id, userId),
      isConversationMember(db, id, userId),
    ]);
    return inTeam !== undefined && inConversation;
  }
}

/** Conversation streams carry typing signals and the user's own stream carries notifications; team streams carry none. */
function carriesSignals(stream: StreamId): boolean {
  return !stream.startsWith('t:');
}

/** Encodes the ack of a post around the message's JSON, which a new post shares with its event. */
function ackFrame(id: string | number, result: PostResult): string {
  return `{"type":"ack","id":${JSON.stringify(id)},"created":${result.created},"message":${result.json}}`;
}
