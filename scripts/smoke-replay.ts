import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { ApiClient } from '../src/client/api.js';
import { RealtimeClient, type EventFrame, type WebSocketLike } from '../src/client/realtime.js';
import { applyEvent, loadState, type ClientState } from '../src/client/state.js';
import { checkDeliveries, checkHistory, diffStates, type DeliveryRecord, type ExpectedMessage, type ReplayExpectation } from './replay-checks.js';
import { isThreadReply, loadSlackExportSample, unescapeSlackText, type SlackExportSample, type SlackMessage } from './slack-export-sample.js';

export interface ReplayOptions {
  /** Number of messages replayed, taken from the start of the sample. Default: all. */
  messageLimit?: number;
  /** Number of messages edited after the replay. Default: 10. */
  edits?: number;
  /** Number of messages deleted after the replay, starting with a thread root that has replies. Default: 5. */
  deletes?: number;
  /** Maximum wait for every socket to receive the events of a phase, in ms. Default: 20,000. */
  deliveryTimeoutMs?: number;
  /** Receives one progress line per phase. Default: none. */
  log?: (line: string) => void;
}

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface ReplayResult {
  counts: {
    users: number;
    channels: number;
    messages: number;
    replies: number;
    edits: number;
    deletes: number;
    /** message.posted events received, summed over every member's socket. */
    deliveries: number;
    editDeliveries: number;
    deleteDeliveries: number;
  };
  /** From the start of each POST to the arrival of its message.posted on each member's socket, in ms. */
  latencyMs: LatencySummary;
  /** Time from the start of the first POST to the response of the last, in seconds. */
  postSeconds: number;
  messagesPerSecond: number;
  /** message.posted deliveries per second, from the first POST to the last delivery. */
  deliveriesPerSecond: number;
  /** Names of the checks that ran. */
  checks: string[];
  /** One line per failed check; empty when every check passed. */
  failures: string[];
}

/** Shared by every account the replay registers; only ever sent to the server under test. */
const REPLAY_PASSWORD = 'replay-password-not-secret';
const REGISTER_CONCURRENCY = 4;
const LOAD_CONCURRENCY = 8;
/** Maximum number of user ids that POST /api/conversations/:id/members accepts in one request. */
const INVITE_BATCH = 100;
const USERNAME_MAX_CHARS = 32;

/** Returns the sample this repository ships, found from any folder inside the repository, such as dist/scripts. */
export function defaultFixtureDir(from = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'test', 'fixtures', 'irc-disentanglement-sample');
    if (path.dirname(dir) === dir) throw new Error(`No package.json above ${from}: run from inside the ChatterBox repository`);
  }
}

/**
 * Replays a Slack-export sample through a running server as its authors
 * would: one account and one WebSocket per author, every message posted by
 * its author in timestamp order, replies in their threads. Then it edits and
 * deletes some messages and checks what every socket received against the
 * history fetched over HTTP. Sockets are closed before it returns, even when
 * a step throws.
 */
export async function replayConversation(baseUrl: string, wsUrl: string, fixtureDir: string, options: ReplayOptions = {}): Promise<ReplayResult> {
  const replay = new Replay(baseUrl, wsUrl, loadSlackExportSample(fixtureDir), options);
  try {
    return await replay.run();
  } finally {
    await replay.stopSockets();
  }
}

interface Member extends DeliveryRecord {
  slackId: string;
  userId: string;
  api: ApiClient;
  token: string;
  realtime: RealtimeClient | undefined;
  /** The reducer's state: loaded once over HTTP, then kept current by events. */
  state: ClientState | undefined;
  stopped: boolean;
  closed: boolean;
}

interface PlannedMessage {
  source: SlackMessage;
  author: Member;
  text: string;
  clientMsgId: string;
  /** Slack ts of the thread root, for a reply. */
  rootTs: string | undefined;
  /** Stored id, once posted. */
  id: string;
}

class Replay {
  readonly #baseUrl: string;
  readonly #wsUrl: string;
  readonly #sample: SlackExportSample;
  readonly #options: ReplayOptions;
  readonly #log: (line: string) => void;
  readonly #members: Member[] = [];
  readonly #plan: PlannedMessage[] = [];
  readonly #sentAt = new Map<string, number>();
  readonly #latencies: number[] = [];
  readonly #checks: string[] = [];
  readonly #failures: string[] = [];
  readonly #edits = new Map<string, string>();
  readonly #deletedIds = new Set<string>();
  #lastDeliveryAt = 0;
  #channelIds: string[] = [];
  #channelId = '';

  constructor(baseUrl: string, wsUrl: string, sample: SlackExportSample, options: ReplayOptions) {
    this.#baseUrl = baseUrl;
    this.#wsUrl = wsUrl;
    this.#sample = sample;
    this.#options = options;
    this.#log = options.log ?? (() => {});
  }

  async run(): Promise<ReplayResult> {
    const messages = this.#sample.messages.slice(0, this.#options.messageLimit ?? this.#sample.messages.length);
    await this.#registerAuthors(messages);
    await this.#createTeamAndChannel();
    this.#planMessages(messages);
    await this.#openSockets();

    const timing = await this.#postAll();
    await this.#waitForSockets('message.posted');
    await this.#retryFirstPost();
    await this.#editAndDelete();
    await this.#waitForSockets('edits and deletes');

    await this.#verify();
    return this.#result(timing);
  }

  /** Stops every socket and waits briefly for the closes, so no client reconnects to a server that is going away. */
  async stopSockets(): Promise<void> {
    for (const member of this.#members) {
      member.stopped = true;
      member.realtime?.stop();
    }
    await waitUntil(() => this.#members.every((member) => member.realtime === undefined || member.closed), 5000).catch(() => {
      this.#log(`${this.#members.filter((member) => !member.closed).length} sockets did not finish closing within 5 s`);
    });
  }

  async #registerAuthors(messages: SlackMessage[]): Promise<void> {
    const slackIds = [...new Set(messages.map((message) => message.user))];
    const usernames = deriveUsernames(slackIds.map((id) => this.#sample.usersById.get(id)?.name ?? id));

    const registered = await mapWithConcurrency(slackIds, REGISTER_CONCURRENCY, async (slackId, index) => {
      const user = this.#sample.usersById.get(slackId);
      const username = usernames[index] ?? slackId;
      const api = new ApiClient(this.#baseUrl);
      const session = await api.post<{ user: { id: string }; token: string }>('/api/auth/register', {
        email: `${slackId.toLowerCase()}@example.test`,
        username,
        password: REPLAY_PASSWORD,
        display_name: (user?.profile?.display_name || user?.real_name || username).slice(0, 80),
      });
      api.token = session.token;
      return newMember(slackId, username, session.user.id, api, session.token);
    });
    this.#members.push(...registered);
    this.#log(`registered ${registered.length} accounts, one per author`);
  }

  async #createTeamAndChannel(): Promise<void> {
    const [owner, ...others] = this.#members;
    if (owner === undefined) throw new Error('The sample has no messages to replay');

    const team = await owner.api.post<{ id: string; general_conversation_id: string }>('/api/teams', { name: `#${this.#sample.channelName} replay` });
    for (const member of others) await owner.api.post(`/api/teams/${team.id}/members`, { user_id: member.userId });

    const channel = await owner.api.post<{ id: string }>(`/api/teams/${team.id}/channels`, { name: this.#sample.channelName });
    for (let start = 0; start < others.length; start += INVITE_BATCH) {
      const userIds = others.slice(start, start + INVITE_BATCH).map((member) => member.userId);
      await owner.api.post(`/api/conversations/${channel.id}/members`, { user_ids: userIds });
    }
    this.#channelId = channel.id;
    this.#channelIds = [team.general_conversation_id, channel.id];
    this.#log(`created a team with #general and #${this.#sample.channelName}, all ${this.#members.length} accounts in both`);
  }

  #planMessages(messages: SlackMessage[]): void {
    const membersBySlackId = new Map(this.#members.map((member) => [member.slackId, member]));
    for (const source of messages) {
      const author = membersBySlackId.get(source.user);
      if (author === undefined) throw new Error(`No account was registered for ${source.user}`);
      this.#plan.push({
        source,
        author,
        // NOTE: an IRC /me line (subtype me_message) is posted as its bare text, without the nick.
        text: unescapeSlackText(source.text),
        clientMsgId: `replay:${source.ts}`,
        rootTs: isThreadReply(source) ? source.thread_ts : undefined,
        id: '',
      });
    }
  }

  async #openSockets(): Promise<void> {
    await mapWithConcurrency(this.#members, LOAD_CONCURRENCY, async (member) => {
      const realtime = new RealtimeClient({
        connect: () => new WebSocket(this.#wsUrl, { headers: { authorization: `Bearer ${member.token}` } }) as unknown as WebSocketLike,
        onEvent: (frame) => this.#onEvent(member, frame),
        onReady: () => {
          member.closed = false;
        },
        onClose: (code, reason) => {
          member.closed = true;
          if (!member.stopped) member.unexpectedCloses.push({ code, reason });
        },
        maxBackoffMs: 1000,
      });
      member.realtime = realtime;
      await withTimeout(realtime.start(), 10_000, `the socket of ${member.username} was not ready within 10 s`);
      member.state = await loadState(member.api);
    });
    this.#log(`opened ${this.#members.length} sockets and loaded each member's state over HTTP`);
  }

  #onEvent(member: Member, frame: EventFrame): void {
    const receivedAt = performance.now();
    if (member.state === undefined) {
      member.problems.push(`received ${frame.event} before its initial state was loaded`);
      return;
    }
    const effects = applyEvent(member.state, frame);
    if (effects.length > 0) member.problems.push(`${frame.event} asked for ${effects.map((effect) => effect.kind).join(', ')}, which nothing in the replay should cause`);

    if (frame.event === 'message.posted') {
      const message = frame.data.message as { id: string; seq: number; client_msg_id: string | null };
      member.postedIds.push(message.id);
      member.postedSeqs.push(message.seq);
      const sentAt = message.client_msg_id === null ? undefined : this.#sentAt.get(message.client_msg_id);
      if (sentAt !== undefined) this.#latencies.push(receivedAt - sentAt);
      this.#lastDeliveryAt = Math.max(this.#lastDeliveryAt, receivedAt);
    } else if (frame.event === 'message.edited') {
      const message = frame.data.message as { id: string; text: string };
      member.editedTexts.set(message.id, [...(member.editedTexts.get(message.id) ?? []), message.text]);
    } else if (frame.event === 'message.deleted') {
      const id = frame.data.message_id as string;
      member.deletedCounts.set(id, (member.deletedCounts.get(id) ?? 0) + 1);
    }
  }

  /** Posts every message in timestamp order, one at a time, each by its author. */
  async #postAll(): Promise<{ startedAt: number; endedAt: number }> {
    const idsByTs = new Map<string, string>();
    const startedAt = performance.now();
    for (const planned of this.#plan) {
      const rootId = planned.rootTs === undefined ? undefined : idsByTs.get(planned.rootTs);
      if (planned.rootTs !== undefined && rootId === undefined) throw new Error(`Reply ${planned.source.ts} was planned before its root ${planned.rootTs}`);

      this.#sentAt.set(planned.clientMsgId, performance.now());
      const message = await planned.author.api.post<{ id: string }>(`/api/conversations/${this.#channelId}/messages`, {
        text: planned.text,
        client_msg_id: planned.clientMsgId,
        ...(rootId !== undefined && { thread_root_id: rootId }),
      });
      planned.id = message.id;
      idsByTs.set(planned.source.ts, message.id);
    }
    const endedAt = performance.now();
    this.#log(`posted ${this.#plan.length} messages in ${Math.round(endedAt - startedAt)} ms`);
    return { startedAt, endedAt };
  }

  /** Waits until every socket has reached the head of every channel stream, as the HTTP API reports it. */
  async #waitForSockets(what: string): Promise<void> {
    const owner = this.#members[0];
    if (owner === undefined) return;
    const heads = await Promise.all(
      this.#channelIds.map(async (id) => [`c:${id}`, (await owner.api.get<{ last_seq: number }>(`/api/conversations/${id}`)).last_seq] as const),
    );
    const caughtUp = (member: Member) => heads.every(([stream, head]) => (member.realtime?.positions.get(stream) ?? 0) >= head);

    const timeoutMs = this.#options.deliveryTimeoutMs ?? 20_000;
    try {
      await waitUntil(() => this.#members.every(caughtUp), timeoutMs);
    } catch {
      const behind = this.#members.filter((member) => !caughtUp(member)).map((member) => member.username);
      this.#failures.push(`${behind.length} sockets had not received every event (${what}) within ${timeoutMs} ms: ${behind.slice(0, 5).join(', ')}`);
    }
  }

  /** Sends the first message again with its client_msg_id: the server must return the stored message and send no event. */
  async #retryFirstPost(): Promise<void> {
    const first = this.#plan[0];
    if (first === undefined) return;
    this.#checks.push('a repeated client_msg_id returns the first message');

    const rootId = first.rootTs === undefined ? undefined : this.#plan.find((planned) => planned.source.ts === first.rootTs)?.id;
    const retry = await first.author.api.raw('POST', `/api/conversations/${this.#channelId}/messages`, {
      text: first.text,
      client_msg_id: first.clientMsgId,
      ...(rootId !== undefined && { thread_root_id: rootId }),
    });
    const retriedId = (retry.body as { id?: string } | undefined)?.id;
    if (retry.status !== 200 || retriedId !== first.id) {
      this.#failures.push(`retry of ${first.clientMsgId}: expected 200 with id ${first.id}, got ${retry.status} with id ${retriedId}`);
    }
  }

  async #editAndDelete(): Promise<void> {
    const deletions = chooseDeletions(this.#plan, this.#options.deletes ?? 5);
    const deleted = new Set(deletions.map((choice) => choice.planned));
    const edits = chooseEvenly(
      this.#plan.filter((planned) => !deleted.has(planned)),
      this.#options.edits ?? 10,
    );

    for (const planned of edits) {
      const text = `${planned.text} (edited)`;
      await planned.author.api.patch(`/api/messages/${planned.id}`, { text });
      this.#edits.set(planned.id, text);
    }
    for (const { planned } of deletions) {
      await planned.author.api.delete(`/api/messages/${planned.id}`);
      this.#deletedIds.add(planned.id);
    }
    this.#log(`edited ${edits.length} messages and deleted ${deletions.length}: ${deletions.map((choice) => choice.reason).join(', ')}`);
  }

  async #verify(): Promise<void> {
    const expected = this.#expectation();

    this.#checks.push('each socket received every message.posted once, in seq order');
    this.#checks.push('each socket received every message.edited and message.deleted once');
    for (const member of this.#members) this.#failures.push(...checkDeliveries(member, expected));

    this.#checks.push("each socket's reduced state equals the state fetched over HTTP");
    const fresh = await mapWithConcurrency(this.#members, LOAD_CONCURRENCY, (member) => loadState(member.api));
    this.#members.forEach((member, index) => {
      const httpView = fresh[index];
      if (member.state === undefined || httpView === undefined) return;
      for (const difference of diffStates(member.state, httpView)) this.#failures.push(`${member.username}: ${difference}`);
    });

    this.#checks.push('HTTP history equals what was posted, edited and deleted');
    if (fresh[0] !== undefined) this.#failures.push(...checkHistory(fresh[0], expected));
    this.#log(`checked ${this.#members.length} sockets and ${this.#members.length} fresh loads`);
  }

  /** Works out the final state of every posted message from the plan, the edits and the deletes. */
  #expectation(): ReplayExpectation {
    const idsByTs = new Map(this.#plan.map((planned) => [planned.source.ts, planned.id]));
    const liveReplies = new Map<string, number>();
    for (const planned of this.#plan) {
      if (planned.rootTs === undefined || this.#deletedIds.has(planned.id)) continue;
      const rootId = idsByTs.get(planned.rootTs) ?? '';
      liveReplies.set(rootId, (liveReplies.get(rootId) ?? 0) + 1);
    }

    const messages = new Map<string, ExpectedMessage>();
    for (const planned of this.#plan) {
      const deleted = this.#deletedIds.has(planned.id);
      const threadRootId = planned.rootTs === undefined ? null : (idsByTs.get(planned.rootTs) ?? null);
      const replyCount = threadRootId === null ? (liveReplies.get(planned.id) ?? 0) : 0;
      messages.set(planned.id, {
        visible: !deleted || replyCount > 0,
        text: deleted ? '' : (this.#edits.get(planned.id) ?? planned.text),
        deleted,
        threadRootId,
        replyCount,
      });
    }
    return {
      channelId: this.#channelId,
      postedIds: this.#plan.map((planned) => planned.id),
      edits: this.#edits,
      deletedIds: this.#deletedIds,
      messages,
    };
  }

  #result(timing: { startedAt: number; endedAt: number }): ReplayResult {
    const sum = (count: (member: Member) => number) => this.#members.reduce((total, member) => total + count(member), 0);
    const deliveries = sum((member) => member.postedIds.length);
    const postSeconds = (timing.endedAt - timing.startedAt) / 1000;
    const deliverySeconds = (this.#lastDeliveryAt - timing.startedAt) / 1000;
    return {
      counts: {
        users: this.#members.length,
        channels: this.#channelIds.length,
        messages: this.#plan.length,
        replies: this.#plan.filter((planned) => planned.rootTs !== undefined).length,
        edits: this.#edits.size,
        deletes: this.#deletedIds.size,
        deliveries,
        editDeliveries: sum((member) => [...member.editedTexts.values()].reduce((total, texts) => total + texts.length, 0)),
        deleteDeliveries: sum((member) => [...member.deletedCounts.values()].reduce((total, count) => total + count, 0)),
      },
      latencyMs: summariseLatencies(this.#latencies),
      postSeconds,
      messagesPerSecond: postSeconds > 0 ? this.#plan.length / postSeconds : 0,
      deliveriesPerSecond: deliverySeconds > 0 ? deliveries / deliverySeconds : 0,
      checks: this.#checks,
      failures: this.#failures,
    };
  }
}

function newMember(slackId: string, username: string, userId: string, api: ApiClient, token: string): Member {
  return {
    slackId,
    username,
    userId,
    api,
    token,
    realtime: undefined,
    state: undefined,
    stopped: false,
    closed: true,
    postedIds: [],
    postedSeqs: [],
    editedTexts: new Map(),
    deletedCounts: new Map(),
    unexpectedCloses: [],
    problems: [],
    get duplicates() {
      return this.realtime?.duplicates ?? 0;
    },
    get gaps() {
      return this.realtime?.gaps ?? 0;
    },
    get connections() {
      return this.realtime?.connections ?? 0;
    },
  };
}

/**
 * Turns IRC nicks into valid ChatterBox usernames: letters, digits, ".", "_"
 * and "-", starting with a letter or digit, 2 to 32 characters. Nicks that
 * collide once lowercased get a numeric suffix.
 */
export function deriveUsernames(nicks: string[]): string[] {
  const takenKeys = new Set<string>();
  return nicks.map((nick) => {
    let base = nick
      .normalize('NFKC')
      .replace(/[^\p{L}\p{N}._-]+/gu, '_')
      .replace(/^[^\p{L}\p{N}]+/u, '')
      .slice(0, USERNAME_MAX_CHARS);
    if (base === '') base = 'user';
    if ([...base].length < 2) base = `${base}_`;

    let username = base;
    for (let suffix = 2; takenKeys.has(username.toLowerCase()); suffix += 1) {
      username = `${base.slice(0, USERNAME_MAX_CHARS - String(suffix).length - 1)}-${suffix}`;
    }
    takenKeys.add(username.toLowerCase());
    return username;
  });
}

/**
 * Picks the messages to delete, each with a reason, thread cases first. The
 * root of the largest thread stays as a placeholder. The latest reply of
 * another thread changes that thread's summary. The root of a one-reply
 * thread and then its reply make the placeholder disappear. Top-level
 * messages without replies fill the rest.
 */
function chooseDeletions(plan: PlannedMessage[], count: number): Array<{ planned: PlannedMessage; reason: string }> {
  const repliesByRoot = new Map<string, PlannedMessage[]>();
  for (const planned of plan) {
    if (planned.rootTs !== undefined) repliesByRoot.set(planned.rootTs, [...(repliesByRoot.get(planned.rootTs) ?? []), planned]);
  }
  const rootOf = (ts: string) => plan.find((planned) => planned.source.ts === ts);
  const threads = [...repliesByRoot].sort((a, b) => b[1].length - a[1].length);

  const chosen: Array<{ planned: PlannedMessage | undefined; reason: string }> = [];
  const [largest, ...rest] = threads;
  if (largest !== undefined) chosen.push({ planned: rootOf(largest[0]), reason: `root of a ${largest[1].length}-reply thread` });
  const other = rest.find(([, replies]) => replies.length >= 2);
  if (other !== undefined) chosen.push({ planned: other[1][other[1].length - 1], reason: 'latest reply of another thread' });
  const single = rest.find(([, replies]) => replies.length === 1);
  if (single !== undefined) {
    chosen.push({ planned: rootOf(single[0]), reason: 'root of a one-reply thread' }, { planned: single[1][0], reason: 'then its only reply' });
  }

  const lonely = plan.filter((planned) => planned.rootTs === undefined && !repliesByRoot.has(planned.source.ts));
  for (const planned of chooseEvenly(lonely, Math.max(0, count - chosen.length))) chosen.push({ planned, reason: 'top-level message' });
  return chosen
    .filter((choice): choice is { planned: PlannedMessage; reason: string } => choice.planned !== undefined)
    .slice(0, count);
}

/** Picks `count` items spread evenly over the list. */
function chooseEvenly<T>(items: T[], count: number): T[] {
  if (count <= 0 || items.length === 0) return [];
  const step = items.length / Math.min(count, items.length);
  return Array.from({ length: Math.min(count, items.length) }, (_, index) => items[Math.floor(index * step + step / 2)] as T);
}

/** Nearest-rank percentiles, in ms rounded to 0.1. */
function summariseLatencies(latencies: number[]): LatencySummary {
  const sorted = [...latencies].sort((a, b) => a - b);
  const rank = (percent: number) => sorted[Math.max(0, Math.ceil((percent / 100) * sorted.length) - 1)] ?? 0;
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return { p50: round(rank(50)), p95: round(rank(95)), p99: round(rank(99)), max: round(sorted[sorted.length - 1] ?? 0) };
}

/**
 * Runs `work` on every item with at most `limit` running at once. After the
 * first failure no new item starts, and the failure is thrown once the
 * running items have settled, so no work outlives the call.
 */
async function mapWithConcurrency<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const index = next;
      next += 1;
      try {
        results[index] = await work(items[index] as T, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };

  const outcomes = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejection = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (rejection !== undefined) throw rejection.reason;
  return results;
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
