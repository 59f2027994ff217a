/**
 * The open-loop delivery load generator. It sends messages at a fixed offered
 * rate, each carrying its scheduled send time, and records when every member
 * socket receives it. Latency runs from the scheduled time, not the actual
 * send, so a generator that falls behind shows up as latency rather than
 * hiding it.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { buildPayload, nowMs, readMarker } from './payload.js';
import { readCpuMs, readWriteSyscalls, sleep, startForeignCpuMeter } from './proc.js';
import { ACK_PREFIX, ERROR_PREFIX } from './socket-load.js';
import { LatencyHistogram, type LatencySummary } from './stats.js';
import type { MemberSocket } from './sockets.js';

/** Sends one message to a room; calls `done` once the server acknowledged it (or at once where there is no acknowledgement). */
export interface MessageSender {
  send(room: number, payload: string, done: (ok: boolean) => void): void;
  close(): void;
}

/** Posts messages over HTTP keep-alive, as a ChatterBox client does; the 201 response is the acknowledgement. */
export class ChatterBoxSender implements MessageSender {
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  readonly #url: URL;
  readonly #channelIds: readonly string[];
  readonly #tokens: readonly (readonly string[])[];
  #turn = 0;

  /** `tokens[room]` lists the bearer tokens of members of `channelIds[room]`; posts rotate through them. */
  constructor(baseUrl: string, channelIds: readonly string[], tokens: readonly (readonly string[])[]) {
    this.#url = new URL(baseUrl);
    this.#channelIds = channelIds;
    this.#tokens = tokens;
  }

  send(room: number, payload: string, done: (ok: boolean) => void): void {
    const tokens = this.#tokens[room]!;
    this.#turn += 1;
    const body = JSON.stringify({ text: payload });
    const request = http.request(
      {
        agent: this.#agent,
        host: this.#url.hostname,
        port: this.#url.port,
        method: 'POST',
        path: `/api/conversations/${this.#channelIds[room]}/messages`,
        headers: {
          authorization: `Bearer ${tokens[this.#turn % tokens.length]}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        response.resume();
        response.once('end', () => done(response.statusCode === 201));
      },
    );
    request.once('error', () => done(false));
    request.end(body);
  }

  close(): void {
    this.#agent.destroy();
  }
}

/**
 * Posts messages as `post` frames on one authenticated socket per room; the
 * `ack` frame, sent after the commit, is the acknowledgement. Each sender
 * socket belongs to a member, so it also receives its own room's events,
 * one delivery per message more than the raw sender's sockets.
 */
export class ChatterBoxSocketSender implements MessageSender {
  readonly #sockets: readonly WebSocket[];
  readonly #channelIds: readonly string[];
  readonly #pending = new Map<number, (ok: boolean) => void>();
  #nextId = 0;

  constructor(sockets: readonly WebSocket[], channelIds: readonly string[]) {
    this.#sockets = sockets;
    this.#channelIds = channelIds;
    for (const socket of sockets) {
      socket.on('message', (data: Buffer) => {
        // Only acknowledgements matter here; the room's events are skipped unparsed.
        const isAck = data.subarray(0, ACK_PREFIX.length).equals(ACK_PREFIX);
        if (!isAck && !data.subarray(0, ERROR_PREFIX.length).equals(ERROR_PREFIX)) return;
        const id = (JSON.parse(data.toString()) as { id?: number }).id;
        if (id === undefined) return;
        this.#pending.get(id)?.(isAck);
        this.#pending.delete(id);
      });
    }
  }

  send(room: number, payload: string, done: (ok: boolean) => void): void {
    this.#nextId += 1;
    this.#pending.set(this.#nextId, done);
    this.#sockets[room]!.send(JSON.stringify({ type: 'post', id: this.#nextId, conversation_id: this.#channelIds[room], text: payload }));
  }

  close(): void {
    for (const socket of this.#sockets) socket.close();
  }
}

/** Sends `<room>:<payload>` frames on one socket per room to the raw broadcast server. */
export class RawSender implements MessageSender {
  readonly #sockets: readonly WebSocket[];
  readonly #roomNames: readonly string[];

  constructor(sockets: readonly WebSocket[], roomNames: readonly string[]) {
    this.#sockets = sockets;
    this.#roomNames = roomNames;
  }

  send(room: number, payload: string, done: (ok: boolean) => void): void {
    this.#sockets[room % this.#sockets.length]!.send(`${this.#roomNames[room]}:${payload}`);
    done(true);
  }

  close(): void {
    for (const socket of this.#sockets) socket.close();
  }
}

/**
 * Maximum p99 delivery latency, in ms, of a sustained step. Latency counts
 * from each message's scheduled send time, so a standing backlog of B
 * deliveries at an offered rate R adds B / R seconds to every later delivery.
 * This bound therefore fails any step whose backlog stays above a quarter of a
 * second of offered load, however level it stays.
 */
export const MAX_SUSTAINED_P99_MS = 250;

export interface StepOptions {
  /** Offered deliveries per second; the message rate is this divided by the fan-out. */
  deliveriesPerSecond: number;
  durationMs: number;
  /** Maximum wait after the last send for outstanding deliveries. */
  drainTimeoutMs: number;
}

export interface StepResult {
  offeredDeliveriesPerSecond: number;
  messagesPerSecond: number;
  messagesSent: number;
  messagesAcked: number;
  sendErrors: number;
  expectedDeliveries: number;
  deliveries: number;
  duplicates: number;
  /** Deliveries that arrived during the step window, per second. */
  achievedDeliveriesPerSecond: number;
  latency: LatencySummary;
  /** Latency of the deliveries to `remoteMembers` alone, such as members on another node than the sender; undefined without them. */
  remoteLatency: LatencySummary | undefined;
  /** Server CPU time from the first send to the end of the drain, per delivery, in microseconds. */
  serverCpuUsPerDelivery: number;
  /** Server write system calls (socket and database file writes) over the same span, per delivery. */
  serverWritesPerDelivery: number;
  serverCpuFraction: number;
  generatorCpuFraction: number;
  /** CPU used by other processes on the machine during the step, as a fraction of one core. */
  foreignCpuFraction: number;
  /** Mean undelivered deliveries in the second and the last quarter of the step. */
  outstandingEarly: number;
  outstandingLate: number;
  /**
   * Maximum time a message waited in the generator past its scheduled send
   * time, in ms. Latency counts from the scheduled time, so a generator stall
   * adds to the step's latency and can fail it, never pass it. The lag shows
   * when the generator rather than the server set the pace.
   */
  generatorMaxLagMs: number;
  /**
   * True when every send was acknowledged, every offered delivery arrived once
   * within the drain, the undelivered count did not grow and the p99 latency
   * was at most MAX_SUSTAINED_P99_MS.
   */
  sustained: boolean;
  /** The first failed condition, or 'ok'. */
  reason: string;
}

/** Drives one server through load steps; members are opened once by the caller. */
export class DeliveryDriver {
  readonly #members: readonly MemberSocket[];
  readonly #sender: MessageSender;
  readonly #rooms: number;
  /** Member sockets of this process that receive each message. */
  readonly #receiversPerMessage: number;
  /** Deliveries a message counts for, including members held by other processes. */
  readonly #fanout: number;
  readonly #serverPids: readonly number[];
  readonly #helperPids: () => readonly number[];
  readonly #remoteMembers: ReadonlySet<MemberSocket> | undefined;
  #nextIndex = 0;
  #stepBase = 0;
  #stepCount = 0;
  #counts = new Uint16Array(0);
  #histogram = new LatencyHistogram();
  #remoteHistogram = new LatencyHistogram();
  #deliveries = 0;
  #deliveriesInWindow = 0;
  #windowOpen = false;
  #duplicates = 0;
  #window = { startMs: 0, endMs: 0 };

  /**
   * `serverPid` and `extraServerPids` are the server processes whose CPU counts
   * as server CPU, such as the nodes of a cluster. `helperPids` returns further
   * processes of the system under test (a database, Redis) that the step
   * leaves out of other processes' CPU without charging them to the server.
   */
  constructor(options: {
    members: readonly MemberSocket[];
    sender: MessageSender;
    rooms: number;
    receiversPerMessage: number;
    fanout: number;
    serverPid: number;
    extraServerPids?: readonly number[];
    helperPids?: () => readonly number[];
    remoteMembers?: ReadonlySet<MemberSocket>;
  }) {
    this.#members = options.members;
    this.#sender = options.sender;
    this.#rooms = options.rooms;
    this.#receiversPerMessage = options.receiversPerMessage;
    this.#fanout = options.fanout;
    this.#serverPids = [options.serverPid, ...(options.extraServerPids ?? [])];
    this.#helperPids = options.helperPids ?? (() => []);
    this.#remoteMembers = options.remoteMembers;
    for (const member of this.#members) {
      const remote = this.#remoteMembers?.has(member) === true;
      member.onFrame = (frame) => this.#onFrame(frame, remote);
    }
  }

  #onFrame(frame: Buffer, remote: boolean): void {
    // An ack carries the posted message too, but it acknowledges the author's post and is no delivery.
    if (frame.subarray(0, ACK_PREFIX.length).equals(ACK_PREFIX)) return;
    const marker = readMarker(frame);
    if (marker === undefined) return;
    const offset = marker.index - this.#stepBase;
    if (offset < 0 || offset >= this.#stepCount) return;
    const count = (this.#counts[offset] ?? 0) + 1;
    this.#counts[offset] = count;
    if (count > this.#receiversPerMessage) {
      this.#duplicates += 1;
      return;
    }
    this.#deliveries += 1;
    if (this.#windowOpen) this.#deliveriesInWindow += 1;
    const latencyMs = nowMs() - marker.sentAtMs;
    this.#histogram.record(latencyMs);
    if (remote) this.#remoteHistogram.record(latencyMs);
  }

  /** Runs one open-loop step and reports whether the load was sustained. */
  async runStep(options: StepOptions): Promise<StepResult> {
    const messagesPerSecond = options.deliveriesPerSecond / this.#fanout;
    const total = Math.max(1, Math.round((messagesPerSecond * options.durationMs) / 1000));
    this.#stepBase = this.#nextIndex;
    this.#nextIndex += total;
    this.#stepCount = total;
    this.#counts = new Uint16Array(total);
    this.#histogram = new LatencyHistogram();
    this.#remoteHistogram = new LatencyHistogram();
    this.#deliveries = 0;
    this.#deliveriesInWindow = 0;
    this.#duplicates = 0;

    let sent = 0;
    let acked = 0;
    let errors = 0;
    let inFlight = 0;
    let maxLagMs = 0;
    const samples: number[] = [];
    const done = (ok: boolean) => {
      inFlight -= 1;
      if (ok) acked += 1;
      else errors += 1;
    };

    const foreignMeter = startForeignCpuMeter([...this.#serverPids, ...this.#helperPids()]);
    const cpuBefore = this.#readServerCpuMs();
    const writesBefore = this.#readServerWrites();
    const generatorBefore = process.cpuUsage();
    const started = nowMs();
    const intervalMs = 1000 / messagesPerSecond;
    this.#windowOpen = true;
    let nextSample = started + 100;

    while (sent < total) {
      const now = nowMs();
      const due = Math.min(total, Math.floor((now - started) / intervalMs) + 1);
      if (due > sent) maxLagMs = Math.max(maxLagMs, now - (started + sent * intervalMs));
      while (sent < due) {
        const index = this.#stepBase + sent;
        const scheduledAt = started + sent * intervalMs;
        inFlight += 1;
        this.#sender.send(sent % this.#rooms, buildPayload(index, scheduledAt), done);
        sent += 1;
      }
      if (now >= nextSample) {
        samples.push(sent * this.#receiversPerMessage - this.#deliveries);
        nextSample += 100;
      }
      await sleep(sent < total ? Math.min(5, Math.max(0, started + sent * intervalMs - nowMs())) : 0);
    }
    const windowMs = nowMs() - started;
    this.#windowOpen = false;
    this.#window = { startMs: started, endMs: started + (total - 1) * intervalMs };
    const generatorUsage = process.cpuUsage(generatorBefore);

    const drainDeadline = nowMs() + options.drainTimeoutMs;
    while (nowMs() < drainDeadline && (inFlight > 0 || this.#deliveries < sent * this.#receiversPerMessage)) await sleep(10);
    // Server CPU runs to the end of the drain, so work queued during the window is charged to this step.
    const serverCpuMs = this.#readServerCpuMs() - cpuBefore;
    const serverWrites = this.#readServerWrites() - writesBefore;
    const busyMs = nowMs() - started;
    const foreignCpuFraction = foreignMeter();

    const expected = sent * this.#receiversPerMessage;
    const quarter = Math.floor(samples.length / 4);
    const outstandingEarly = meanOf(samples.slice(quarter, 2 * quarter));
    const outstandingLate = meanOf(samples.slice(3 * quarter));
    // 50 ms of offered deliveries is the slack that separates noise from a growing queue.
    const slack = (options.deliveriesPerSecond * this.#receiversPerMessage) / this.#fanout / 20;
    const queueGrew = quarter > 0 && outstandingLate > 2 * outstandingEarly + slack;
    // A backlog that builds early and then stays level passes the growth check, but it delays every later delivery, so the p99 bound fails it.
    const latency = this.#histogram.summary();

    let reason = 'ok';
    if (errors > 0) reason = `${errors} sends failed`;
    else if (inFlight > 0) reason = `${inFlight} sends unacknowledged after drain`;
    else if (this.#deliveries < expected) reason = `${expected - this.#deliveries} deliveries missing after drain`;
    else if (this.#duplicates > 0) reason = `${this.#duplicates} duplicate deliveries`;
    else if (queueGrew) reason = `queue grew from ${Math.round(outstandingEarly)} to ${Math.round(outstandingLate)} undelivered`;
    else if (latency.p99Ms > MAX_SUSTAINED_P99_MS) reason = `p99 latency ${Math.round(latency.p99Ms)} ms is above ${MAX_SUSTAINED_P99_MS} ms`;

    const deliveries = this.#deliveries;
    return {
      offeredDeliveriesPerSecond: options.deliveriesPerSecond,
      messagesPerSecond,
      messagesSent: sent,
      messagesAcked: acked,
      sendErrors: errors,
      expectedDeliveries: expected,
      deliveries,
      duplicates: this.#duplicates,
      achievedDeliveriesPerSecond: (this.#deliveriesInWindow * 1000) / windowMs,
      latency,
      remoteLatency: this.#remoteMembers === undefined ? undefined : this.#remoteHistogram.summary(),
      serverCpuUsPerDelivery: deliveries === 0 ? Number.NaN : (serverCpuMs * 1000 * this.#receiversPerMessage) / (deliveries * this.#fanout),
      serverWritesPerDelivery: deliveries === 0 ? Number.NaN : (serverWrites * this.#receiversPerMessage) / (deliveries * this.#fanout),
      serverCpuFraction: serverCpuMs / busyMs,
      generatorCpuFraction: (generatorUsage.user + generatorUsage.system) / 1000 / windowMs,
      foreignCpuFraction,
      outstandingEarly,
      outstandingLate,
      generatorMaxLagMs: maxLagMs,
      sustained: reason === 'ok',
      reason,
    };
  }

  #readServerCpuMs(): number {
    return this.#serverPids.reduce((sum, pid) => sum + readCpuMs(pid), 0);
  }

  #readServerWrites(): number {
    return this.#serverPids.reduce((sum, pid) => sum + readWriteSyscalls(pid), 0);
  }

  /** Scheduled send times of the last step's first and last message, in epoch ms. */
  get lastWindow(): { startMs: number; endMs: number } {
    return this.#window;
  }

  close(): void {
    this.#sender.close();
  }
}

function meanOf(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;
}
