import { ApiClient, ApiError } from '../../../src/client/api.js';
import { recount } from '../../../src/client/counts.js';
import { postMessageWithRetry } from '../../../src/client/post.js';
import { RealtimeClient, type EventFrame, type ReadyFrame, type SignalFrame, type WebSocketLike } from '../../../src/client/realtime.js';
import {
  applyEvent,
  loadTeam,
  pickConversation,
  pickFile,
  pickMessage,
  pickThread,
  type ClientState,
  type ConversationState,
  type Effect,
  type FileAttachmentView,
  type MessageView,
  type TeamState,
} from '../../../src/client/state.js';
import { Outbox, type OutboxEntry } from './outbox.js';
import type { Attachment } from '../components/Files.js';
import { registerPush, showNotification, unregisterPush, type NotificationPayload } from './notifications.js';
import { SignalTracker } from './presence.js';

/**
 * The web client's one store: the shared ClientState of src/client/state.ts,
 * kept current by the shared RealtimeClient, plus what only a browser needs
 * (paged history, the outbox of unsent messages, the connection status).
 *
 * Unlike loadState, it never loads a whole history: each conversation contains
 * the newest pages the user has looked at and every message that arrived by
 * event since, and the counts of the rest come from the server (HistoryWindow).
 */

export type ConnectionStatus = 'connecting' | 'online' | 'offline';

/** The part of a conversation's timeline this client holds. */
export interface HistoryPage {
  /** Seq of the oldest timeline message loaded by paging; the timeline shows messages from it on. */
  oldestSeq: number;
  hasMoreBefore: boolean;
  loading: boolean;
}

export interface SavedEntry {
  saved_at: string;
  message: MessageView;
}

/** A notice for the user: a failed action or a server message. */
export interface Toast {
  id: number;
  text: string;
}

export interface RawMessage extends Record<string, unknown> {
  id: string;
  client_msg_id?: string | null;
}

const HISTORY_PAGE = 50;
/** Files one message may attach (file_ids, docs/files.md). */
export const MAX_FILES_PER_MESSAGE = 10;
const THREAD_PAGE = 200;
const MAX_RECONNECT_BACKOFF_MS = 3000;
/** Attempts of one send before its message shows as failed. */
const POST_ATTEMPTS = 3;
/** How many pages a jump to an old message may read forward to reach the newest ones. */
const MAX_JUMP_PAGES = 20;

export class ChatStore {
  readonly api = new ApiClient(window.location.origin);
  state: ClientState | undefined;
  status: ConnectionStatus = 'connecting';
  /** True once the signed-in user's data is loaded; false while signed out or loading. */
  ready = false;
  signedOut = false;
  readonly history = new Map<string, HistoryPage>();
  readonly threadsLoaded = new Set<string>();
  readonly outbox: Outbox;
  saved: SavedEntry[] | undefined;
  toasts: Toast[] = [];
  /** Messages fetched one by one from conversations the user is not in, which no event updates. */
  readonly looseMessages = new Map<string, MessageView>();
  readonly signals = new SignalTracker({
    send: (frame) => this.#realtime?.send(frame) ?? false,
    changed: () => this.bump(),
    myId: () => this.state?.me.id,
  });
  /** Opens the message of a clicked notification; the workspace sets it, since it owns navigation. */
  openNotification: (payload: NotificationPayload) => void = () => {};
  /** Files chosen in each composer, by `conversationId/threadRootId`, kept while the user looks elsewhere. */
  readonly attachments = new Map<string, Attachment[]>();
  #nextAttachment = 1;
  /** The server's id of this browser's push subscription, deleted at logout. */
  pushSubscriptionId: string | undefined;

  #realtime: RealtimeClient | undefined;
  #buffer: EventFrame[] | undefined = [];
  #version = 0;
  #listeners = new Set<() => void>();
  /** A counter bumped by every event, and the value at each message's latest event. */
  #tick = 0;
  #touched = new Map<string, number>();
  #countRefresh = new Map<string, ReturnType<typeof setTimeout>>();
  #teamLoads = new Map<string, Promise<void>>();
  #nextToast = 1;
  #starting: Promise<void> | undefined;

  constructor() {
    this.outbox = new Outbox({
      post: (entry) => this.#postEntry(entry),
      changed: () => this.bump(),
    });
  }

  // --- subscription, for useSyncExternalStore ---

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getVersion = (): number => this.#version;

  bump(): void {
    this.#version += 1;
    for (const listener of this.#listeners) listener();
  }

  toast(text: string): void {
    const id = this.#nextToast++;
    this.toasts = [...this.toasts, { id, text }];
    this.bump();
    setTimeout(() => this.dismissToast(id), 6000);
  }

  dismissToast(id: number): void {
    this.toasts = this.toasts.filter((toast) => toast.id !== id);
    this.bump();
  }

  /** Reports a failed request as a toast: the server's message, or a network failure. */
  fail(action: string, error: unknown): void {
    const detail = error instanceof ApiError ? (error.body as { error?: { message?: string } })?.error?.message ?? error.message : 'no response from the server';
    this.toast(`${action} failed: ${detail}`);
  }

  // --- session ---

  /** Loads the signed-in user's data, or marks the store signed out when the session cookie is missing or expired. */
  start(): Promise<void> {
    // React may run the effect that starts the store twice; both calls share one start.
    this.#starting ??= this.#start().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    if (this.ready) return;
    try {
      await this.api.get('/api/users/me');
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.signedOut = true;
        this.bump();
        return;
      }
      throw error;
    }
    this.signedOut = false;
    this.bump();
    if (this.#realtime === undefined) await this.#connect();
    await this.#loadAll();
    // Permission granted earlier needs no prompt; the subscription is registered again in case the server lost it.
    if (typeof Notification !== 'undefined' && Notification.permission === 'granted') void this.startPush();
  }

  async login(login: string, password: string): Promise<void> {
    await this.api.post('/api/auth/login', { login, password });
    await this.start();
  }

  async register(body: { email: string; username: string; password: string; display_name: string }): Promise<void> {
    await this.api.post('/api/auth/register', body);
    await this.start();
  }

  async logout(): Promise<void> {
    try {
      // Pushes to a signed-out browser would show another person's messages.
      await unregisterPush(this.api, this.pushSubscriptionId).catch(() => undefined);
      this.pushSubscriptionId = undefined;
      await this.api.post('/api/auth/logout');
    } finally {
      this.#reset();
      this.signedOut = true;
      this.bump();
    }
  }

  #reset(): void {
    this.#realtime?.stop();
    this.#realtime = undefined;
    this.state = undefined;
    this.ready = false;
    this.status = 'connecting';
    this.history.clear();
    this.threadsLoaded.clear();
    this.looseMessages.clear();
    this.signals.clear();
    this.attachments.clear();
    this.outbox.clear();
    this.saved = undefined;
    this.#buffer = [];
    this.#touched.clear();
    this.#teamLoads.clear();
    for (const timer of this.#countRefresh.values()) clearTimeout(timer);
    this.#countRefresh.clear();
  }

  /**
   * Opens the socket and waits for its ready frame; #start loads over HTTP
   * only after it. The data read is then at least as new as the stream heads
   * the socket starts from, and the events that arrive meanwhile are buffered
   * and applied on top.
   */
  async #connect(): Promise<void> {
    this.#buffer = [];
    const realtime = new RealtimeClient({
      // The session cookie authenticates the socket; the browser sends it with the page's Origin.
      connect: () => new WebSocket(`${window.location.origin.replace(/^http/, 'ws')}/api/realtime`) as unknown as WebSocketLike,
      onEvent: (frame) => this.#onEvent(frame),
      onReady: (ready) => this.#onReady(ready),
      onResync: (stream) => void this.#onResync(stream).catch((error: unknown) => this.fail('Reloading missed messages', error)),
      onClose: (code) => this.#onClose(code),
      onSignal: (frame) => this.#onSignal(frame),
      maxBackoffMs: MAX_RECONNECT_BACKOFF_MS,
    });
    this.#realtime = realtime;
    try {
      await realtime.start();
    } catch (error) {
      realtime.stop();
      this.#realtime = undefined;
      throw error;
    }
  }

  #onReady(ready: ReadyFrame): void {
    this.status = 'online';
    this.signals.onReady();
    if (this.state !== undefined) {
      for (const stream of ready.unavailable) {
        if (stream.startsWith('c:')) delete this.state.conversations[stream.slice(2)];
      }
      // Messages that failed while offline go again, with the same client_msg_id.
      this.outbox.retryAll();
    }
    this.bump();
  }

  #onSignal(frame: SignalFrame): void {
    if (this.signals.apply(frame)) return;
    if (frame.type === 'notification') showNotification(frame.notification as unknown as NotificationPayload, (payload) => this.openNotification(payload));
  }

  #onClose(code: number): void {
    if (code === 4001) {
      this.#reset();
      this.signedOut = true;
    } else if (this.#realtime !== undefined) {
      this.status = 'offline';
    }
    this.bump();
  }

  async #onResync(stream: string): Promise<void> {
    if (!stream.startsWith('c:')) {
      await this.#loadAll();
      return;
    }
    const conversationId = stream.slice(2);
    const entry = this.state?.conversations[conversationId];
    if (entry === undefined) return;
    entry.messages = {};
    this.history.delete(conversationId);
    this.threadsLoaded.clear();
    await this.refreshCounts(conversationId);
    await this.loadLatest(conversationId);
  }

  // --- loading ---

  async #loadAll(): Promise<void> {
    this.ready = false;
    this.#buffer ??= [];
    const api = this.api;
    const me = await api.get<Record<string, unknown>>('/api/users/me');
    const [{ teams }, { conversations }, { conversations: counts }, { threads }] = await Promise.all([
      api.get<{ teams: Array<{ id: string; name: string; role: string }> }>('/api/teams'),
      api.get<{ conversations: Array<Record<string, unknown>> }>('/api/conversations'),
      api.get<{ conversations: Array<{ conversation_id: string; last_read_seq: number; last_seq: number; unread_count: number; mention_count: number }> }>(
        '/api/sidebar',
      ),
      api.get<{ threads: Array<Record<string, unknown>> }>('/api/threads?limit=1000'),
    ]);

    const state: ClientState = {
      me: { id: me.id as string, username: me.username as string, display_name: me.display_name as string, status_text: me.status_text as string, time_zone: me.time_zone as string, email: me.email as string },
      teams: {},
      conversations: {},
      threads: {},
      saved: {},
    };
    for (const team of teams) state.teams[team.id] = { id: team.id, name: team.name, role: team.role, members: {}, directory: {}, settings: {} };
    for (const thread of threads) state.threads[thread.thread_root_id as string] = pickThread(thread);

    const countsById = new Map(counts.map((row) => [row.conversation_id, row]));
    for (const raw of conversations) {
      const id = raw.id as string;
      const row = countsById.get(id);
      const entry: ConversationState = {
        conversation: pickConversation(raw),
        memberIds: [...((raw.member_ids as string[] | undefined) ?? [])].sort(),
        messages: {},
        lastReadSeq: row?.last_read_seq ?? 0,
        unreadCount: row?.unread_count ?? 0,
        mentionCount: row?.mention_count ?? 0,
        pins: [],
        window: {
          baselineSeq: row?.last_seq ?? 0,
          baselineReadSeq: row?.last_read_seq ?? 0,
          unreadCount: row?.unread_count ?? 0,
          mentionCount: row?.mention_count ?? 0,
          threads: {},
        },
      };
      state.conversations[id] = entry;
    }
    // NOTE: GET /api/threads carries no stream head, so a reply posted between it and GET /api/sidebar
    // is counted in neither baseline nor held messages, and its thread shows one unread too few.
    for (const [rootId, thread] of Object.entries(state.threads)) {
      const window = state.conversations[thread.conversation_id]?.window;
      if (window !== undefined) window.threads[rootId] = { readSeq: thread.last_read_seq, unreadCount: thread.unread_count, mentionCount: thread.mention_count };
    }

    // A reload (after a resync) keeps the teams already loaded.
    for (const [id, team] of Object.entries(this.state?.teams ?? {})) {
      if (state.teams[id] !== undefined && Object.keys(team.members).length > 0) state.teams[id] = { ...team, name: state.teams[id].name, role: state.teams[id].role };
    }
    this.state = state;
    this.history.clear();
    this.threadsLoaded.clear();
    this.ready = true;

    const buffered = this.#buffer ?? [];
    this.#buffer = undefined;
    for (const frame of buffered) this.#apply(frame);
    recount(state);
    this.bump();
    // Members give names to authors and mentions, so every team loads now, without holding up the first render.
    for (const teamId of Object.keys(state.teams)) void this.ensureTeam(teamId).catch((error: unknown) => this.fail('Loading the team', error));
  }

  /** Loads a team's members, channel directory and settings once; later changes arrive by event. */
  ensureTeam(teamId: string): Promise<void> {
    const existing = this.#teamLoads.get(teamId);
    if (existing !== undefined) return existing;
    const load = (async () => {
      const team = this.state?.teams[teamId];
      if (team === undefined) return;
      const loaded = await loadTeam(this.api, teamId, team.role, team.name);
      const current = this.state?.teams[teamId];
      if (current === undefined) return;
      // Events applied while loading changed `current`; the members and directory read are at least as new.
      Object.assign(current, { members: { ...loaded.members, ...current.members }, directory: { ...loaded.directory, ...current.directory }, settings: loaded.settings });
      this.bump();
    })();
    load.catch(() => this.#teamLoads.delete(teamId));
    this.#teamLoads.set(teamId, load);
    return load;
  }

  async #loadMembers(conversationId: string): Promise<void> {
    const { user_ids: userIds } = await this.api.get<{ user_ids: string[] }>(`/api/conversations/${conversationId}/members`);
    const entry = this.state?.conversations[conversationId];
    if (entry === undefined) return;
    // member.joined events applied meanwhile are kept.
    entry.memberIds = [...new Set([...entry.memberIds, ...userIds])].sort();
    this.bump();
  }

  /** Loads the newest page of a conversation's timeline, its members and its pins. */
  async loadLatest(conversationId: string): Promise<void> {
    const entry = this.state?.conversations[conversationId];
    if (entry === undefined) return;
    const page: HistoryPage = this.history.get(conversationId) ?? { oldestSeq: Number.MAX_SAFE_INTEGER, hasMoreBefore: true, loading: false };
    page.loading = true;
    this.history.set(conversationId, page);
    const started = this.#tick;
    try {
      const [result, members, pins] = await Promise.all([
        this.api.get<{ messages: RawMessage[]; has_more_before: boolean }>(`/api/conversations/${conversationId}/messages?limit=${HISTORY_PAGE}`),
        this.api.get<{ user_ids: string[] }>(`/api/conversations/${conversationId}/members`),
        this.api.get<{ pins: ConversationState['pins'] }>(`/api/conversations/${conversationId}/pins`),
      ]);
      const current = this.state?.conversations[conversationId];
      if (current === undefined) return;
      this.#merge(current, result.messages, started);
      current.memberIds = [...members.user_ids].sort();
      if (this.#tick === started) current.pins = pins.pins;
      const oldest = result.messages[0]?.seq as number | undefined;
      page.oldestSeq = oldest ?? 0;
      page.hasMoreBefore = result.has_more_before;
    } finally {
      page.loading = false;
      this.bump();
    }
  }

  /** Loads the page of timeline messages before the oldest one held. */
  async loadOlder(conversationId: string): Promise<void> {
    const page = this.history.get(conversationId);
    const entry = this.state?.conversations[conversationId];
    if (page === undefined || entry === undefined || page.loading || !page.hasMoreBefore) return;
    page.loading = true;
    this.bump();
    const started = this.#tick;
    try {
      const result = await this.api.get<{ messages: RawMessage[]; has_more_before: boolean }>(
        `/api/conversations/${conversationId}/messages?before=${page.oldestSeq}&limit=${HISTORY_PAGE}`,
      );
      this.#merge(entry, result.messages, started);
      const oldest = result.messages[0]?.seq as number | undefined;
      if (oldest !== undefined) page.oldestSeq = oldest;
      page.hasMoreBefore = result.has_more_before;
    } finally {
      page.loading = false;
      this.bump();
    }
  }

  /**
   * Makes a message's place in the timeline held: reads around it, then
   * forward until the pages join the held ones, so the timeline stays one
   * unbroken run of messages.
   */
  async loadAround(conversationId: string, messageId: string): Promise<void> {
    const entry = this.state?.conversations[conversationId];
    if (entry === undefined) return;
    const page = this.history.get(conversationId);
    const known = entry.messages[messageId];
    if (page !== undefined && known !== undefined && known.seq >= page.oldestSeq) return;

    const started = this.#tick;
    const around = await this.api.get<{ messages: RawMessage[]; has_more_before: boolean; has_more_after: boolean }>(
      `/api/conversations/${conversationId}/messages?around=${messageId}&limit=${HISTORY_PAGE}`,
    );
    this.#merge(entry, around.messages, started);
    let after = (around.messages.at(-1)?.seq as number | undefined) ?? 0;
    let more = around.has_more_after;
    const joinAt = page?.oldestSeq ?? Number.MAX_SAFE_INTEGER;
    for (let pages = 0; more && after < joinAt; pages += 1) {
      if (pages >= MAX_JUMP_PAGES) {
        // TODO: a jump further back than MAX_JUMP_PAGES pages shows the held history from the target on, with a gap.
        break;
      }
      const next = await this.api.get<{ messages: RawMessage[]; has_more_after: boolean }>(
        `/api/conversations/${conversationId}/messages?after=${after}&limit=200`,
      );
      this.#merge(entry, next.messages, started);
      after = (next.messages.at(-1)?.seq as number | undefined) ?? after;
      more = next.has_more_after;
    }
    const oldest = (around.messages[0]?.seq as number | undefined) ?? 0;
    this.history.set(conversationId, {
      oldestSeq: Math.min(oldest, page?.oldestSeq ?? oldest),
      hasMoreBefore: around.has_more_before,
      loading: false,
    });
    this.bump();
  }

  /** Loads a thread's root and every reply. */
  async loadThread(rootId: string): Promise<void> {
    const started = this.#tick;
    let after = 0;
    for (;;) {
      const page = await this.api.get<{ root: RawMessage; replies: RawMessage[]; has_more: boolean }>(`/api/messages/${rootId}/thread?after=${after}&limit=${THREAD_PAGE}`);
      const entry = this.state?.conversations[page.root.conversation_id as string];
      if (entry === undefined) {
        this.looseMessages.set(rootId, pickMessage(page.root));
        break;
      }
      this.#merge(entry, [page.root, ...page.replies], started);
      after = (page.replies.at(-1)?.seq as number | undefined) ?? after;
      if (!page.has_more) break;
    }
    this.threadsLoaded.add(rootId);
    this.bump();
  }

  /** Returns a message from the held history or from the messages fetched one by one. */
  findMessage(messageId: string): MessageView | undefined {
    if (this.state === undefined) return undefined;
    for (const entry of Object.values(this.state.conversations)) {
      const message = entry.messages[messageId];
      if (message !== undefined) return message;
    }
    return this.looseMessages.get(messageId);
  }

  /**
   * Fetches messages that are not held, such as pinned messages and thread
   * roots. Those of a conversation the user is in join its messages, where
   * events keep them current. The timeline shows only the loaded pages, so an
   * older one does not appear there.
   */
  async fetchMessages(messageIds: string[]): Promise<void> {
    const missing = messageIds.filter((id) => this.findMessage(id) === undefined);
    if (missing.length === 0) return;
    const started = this.#tick;
    const results = await Promise.allSettled(missing.map((id) => this.api.get<RawMessage>(`/api/messages/${id}`)));
    for (const result of results) {
      if (result.status !== 'fulfilled') continue;
      const entry = this.state?.conversations[result.value.conversation_id as string];
      if (entry === undefined) this.looseMessages.set(result.value.id, pickMessage(result.value));
      else this.#merge(entry, [result.value], started);
    }
    this.bump();
  }

  /** Searches a team's messages (docs/search.md); the cursor of a page continues the same query and sort. */
  search(teamId: string, query: string, sort: 'relevance' | 'date', cursor?: string): Promise<unknown> {
    const params = new URLSearchParams({ q: query, sort, limit: '20' });
    if (cursor !== undefined) params.set('cursor', cursor);
    return this.api.get(`/api/teams/${teamId}/search?${params.toString()}`);
  }

  async loadSaved(): Promise<void> {
    const { items } = await this.api.get<{ items: Array<{ saved_at: string; message: RawMessage }> }>('/api/saved');
    this.saved = items.map((item) => ({ saved_at: item.saved_at, message: pickMessage(item.message) }));
    this.bump();
  }

  /**
   * Reads a conversation's counts and the stream head they belong to, and
   * makes them the new baseline. Used when an event changes a message this
   * client does not hold, which may change counts it cannot compute.
   */
  async refreshCounts(conversationId: string): Promise<void> {
    const [{ conversations }, { threads }] = await Promise.all([
      this.api.get<{ conversations: Array<{ last_read_seq: number; last_seq: number; unread_count: number; mention_count: number }> }>(
        `/api/sidebar?conversation_id=${conversationId}`,
      ),
      this.api.get<{ threads: Array<Record<string, unknown>> }>('/api/threads?limit=1000'),
    ]);
    const state = this.state;
    const entry = state?.conversations[conversationId];
    const row = conversations[0];
    if (state === undefined || entry === undefined || row === undefined) return;
    entry.lastReadSeq = Math.max(entry.lastReadSeq, row.last_read_seq);
    entry.window = { baselineSeq: row.last_seq, baselineReadSeq: row.last_read_seq, unreadCount: row.unread_count, mentionCount: row.mention_count, threads: {} };
    for (const raw of threads) {
      const thread = pickThread(raw);
      if (thread.conversation_id !== conversationId) continue;
      const rootId = raw.thread_root_id as string;
      entry.window.threads[rootId] = { readSeq: thread.last_read_seq, unreadCount: thread.unread_count, mentionCount: thread.mention_count };
      const held = state.threads[rootId];
      if (held !== undefined) held.last_read_seq = Math.max(held.last_read_seq, thread.last_read_seq);
    }
    recount(state, conversationId);
    this.bump();
  }

  #scheduleCountRefresh(conversationId: string): void {
    if (this.#countRefresh.has(conversationId)) return;
    this.#countRefresh.set(
      conversationId,
      setTimeout(() => {
        this.#countRefresh.delete(conversationId);
        this.refreshCounts(conversationId).catch(() => {
          // The next edit or delete of a message this client does not hold reads them again; until then they may be off.
        });
      }, 300),
    );
  }

  /** Puts messages read over HTTP into the state, except those an event changed after the request started. */
  #merge(entry: ConversationState, raws: RawMessage[], startedTick: number): void {
    for (const raw of raws) {
      if ((this.#touched.get(raw.id) ?? -1) > startedTick) continue;
      if (raw.conversation_id !== entry.conversation.id) continue;
      entry.messages[raw.id] = pickMessage(raw);
      this.looseMessages.delete(raw.id);
    }
    if (this.state !== undefined) recount(this.state, entry.conversation.id);
  }

  // --- events ---

  #onEvent(frame: EventFrame): void {
    if (this.#buffer !== undefined) {
      this.#buffer.push(frame);
      return;
    }
    this.#apply(frame);
    this.bump();
  }

  #apply(frame: EventFrame): void {
    const state = this.state;
    if (state === undefined) return;
    this.#tick += 1;
    const data = frame.data;
    const conversationId = frame.stream.startsWith('c:') ? frame.stream.slice(2) : undefined;
    const entry = conversationId === undefined ? undefined : state.conversations[conversationId];

    const messageId = messageIdOf(frame);
    if (messageId !== undefined) this.#touched.set(messageId, this.#tick);
    if (entry !== undefined && conversationId !== undefined && messageId !== undefined) this.#checkCountsStale(entry, conversationId, frame, messageId);

    if (frame.event === 'message.posted') {
      const raw = data.message as RawMessage;
      if (raw.author_id === state.me.id && raw.client_msg_id) this.outbox.delivered(raw.client_msg_id);
      this.signals.stopTyping(raw.conversation_id as string, (raw.thread_root_id as string | null) ?? null, raw.author_id as string);
    }
    const deletedMessage = frame.event === 'message.deleted' ? this.findMessage(data.message_id as string) : undefined;

    const effects = applyEvent(state, frame);
    if (frame.event === 'message.edited' && entry !== undefined) this.looseMessages.delete(data.message_id as string);
    if (deletedMessage !== undefined && deletedMessage.reply_count === 0) this.looseMessages.delete(deletedMessage.id);
    if (frame.event.startsWith('message.saved') || frame.event.startsWith('message.unsaved')) this.saved = undefined;
    this.#runEffects(effects);
  }

  /** Refreshes counts when an edit or delete touches a message this client cannot count itself. */
  #checkCountsStale(entry: ConversationState, conversationId: string, frame: EventFrame, messageId: string): void {
    if (frame.event !== 'message.edited' && frame.event !== 'message.deleted') return;
    const window = entry.window;
    if (window === undefined) return;
    const held = entry.messages[messageId];
    const seq = held?.seq ?? ((frame.data.message as { seq?: number } | undefined)?.seq);
    if (seq === undefined || (seq <= window.baselineSeq && seq > Math.min(entry.lastReadSeq, window.baselineReadSeq))) {
      this.#scheduleCountRefresh(conversationId);
    }
  }

  #runEffects(effects: Effect[]): void {
    for (const effect of effects) {
      if (effect.kind === 'loadTeam') {
        this.#teamLoads.delete(effect.teamId);
        void this.ensureTeam(effect.teamId).catch((error: unknown) => this.fail('Loading the team', error));
      } else {
        const entry = this.state?.conversations[effect.conversationId];
        if (entry === undefined) continue;
        entry.window = { baselineSeq: 0, baselineReadSeq: 0, unreadCount: 0, mentionCount: 0, threads: {} };
        void this.refreshCounts(effect.conversationId).catch((error: unknown) => this.fail('Loading the conversation', error));
        // A direct message is named after its members, so they load at once rather than when it opens.
        void this.#loadMembers(effect.conversationId).catch((error: unknown) => this.fail('Loading the conversation', error));
      }
    }
  }

  // --- actions ---

  /** Queues a message: it shows at once as sending, and goes to the server with a client_msg_id that makes retries safe. */
  send(conversationId: string, text: string, threadRootId: string | null = null, alsoInChannel = false, files: FileAttachmentView[] = []): void {
    this.outbox.add({ conversationId, text, threadRootId, alsoInChannel, files });
  }

  /**
   * Uploads files chosen in a composer (picker, drop or paste) at once, so
   * they are ready when the user sends. Each shows its state in the composer.
   */
  attach(conversationId: string, threadRootId: string | null, files: File[]): void {
    const key = draftKey(conversationId, threadRootId);
    const current = this.attachments.get(key) ?? [];
    const room = MAX_FILES_PER_MESSAGE - current.length;
    if (files.length > room) this.toast(`A message can have at most ${MAX_FILES_PER_MESSAGE} files; ${files.length - Math.max(room, 0)} were left out.`);
    const added = files.slice(0, Math.max(room, 0)).map((file) => ({
      key: String(this.#nextAttachment++),
      // A pasted image comes without a name.
      name: file.name === '' ? `pasted-${new Date().toISOString().replace(/[:.]/g, '-')}.${file.type.split('/')[1] ?? 'bin'}` : file.name,
      size: file.size,
      status: 'uploading' as const,
      file: undefined,
      error: undefined,
      source: file,
    }));
    this.attachments.set(key, [...current, ...added]);
    this.bump();
    for (const attachment of added) void this.#upload(key, conversationId, attachment.key, attachment.name, attachment.source);
  }

  async #upload(key: string, conversationId: string, attachmentKey: string, name: string, file: File): Promise<void> {
    let change: Partial<Attachment>;
    // TODO: files go in one request, so a dropped connection restarts a large upload; the tus route (/api/uploads) would resume it.
    try {
      const raw = await this.api.uploadFile(conversationId, name, file, file.type);
      change = { status: 'ready', file: pickFile(raw) };
    } catch (error) {
      const detail = error instanceof ApiError ? (error.body as { error?: { message?: string } })?.error?.message ?? error.code : 'no response from the server';
      change = { status: 'failed', error: detail };
    }
    const list = this.attachments.get(key);
    if (list === undefined) return;
    this.attachments.set(
      key,
      list.map((attachment) => (attachment.key === attachmentKey ? { ...attachment, ...change } : attachment)),
    );
    this.bump();
  }

  removeAttachment(conversationId: string, threadRootId: string | null, attachmentKey: string): void {
    const key = draftKey(conversationId, threadRootId);
    // TODO: a removed upload stays on the server, unattached and visible to its uploader only, until it is deleted.
    this.attachments.set(key, (this.attachments.get(key) ?? []).filter((attachment) => attachment.key !== attachmentKey));
    this.bump();
  }

  /** Returns the composer's uploaded files and clears the list, for the message being sent. */
  takeAttachments(conversationId: string, threadRootId: string | null): FileAttachmentView[] {
    const key = draftKey(conversationId, threadRootId);
    const files = (this.attachments.get(key) ?? []).flatMap((attachment) => (attachment.file === undefined ? [] : [attachment.file]));
    this.attachments.delete(key);
    this.bump();
    return files;
  }

  /** Asks for notification permission (call it from a click) and, once granted, registers for Web Push. */
  async enableNotifications(): Promise<NotificationPermission> {
    const permission = await Notification.requestPermission();
    this.bump();
    if (permission === 'granted') await this.startPush();
    return permission;
  }

  /** Registers this browser for Web Push when notifications are allowed; a failure leaves desktop notifications of open tabs working. */
  async startPush(): Promise<void> {
    try {
      this.pushSubscriptionId = await registerPush(this.api);
    } catch (error) {
      // Browsers without a push service (such as headless ones) reject the subscription.
      console.warn('Web Push is not available:', error);
    }
  }

  async #postEntry(entry: OutboxEntry): Promise<void> {
    // A few quick retries ride out a node restart or a lost response; the outbox sends again after the next reconnect.
    const { message: raw } = await postMessageWithRetry<RawMessage>(
      this.api,
      entry.conversationId,
      {
        text: entry.text,
        client_msg_id: entry.clientMsgId,
        ...(entry.files.length > 0 && { file_ids: entry.files.map((file) => file.id) }),
        ...(entry.threadRootId !== null && { thread_root_id: entry.threadRootId, also_in_channel: entry.alsoInChannel }),
      },
      { maxAttempts: POST_ATTEMPTS },
    );
    const conversation = this.state?.conversations[entry.conversationId];
    if (conversation !== undefined && conversation.messages[raw.id] === undefined) this.#merge(conversation, [raw], this.#tick);
  }

  async markRead(conversationId: string): Promise<void> {
    const entry = this.state?.conversations[conversationId];
    const position = this.#realtime?.positions.get(`c:${conversationId}`);
    // Offline, the request would fail; the user marks it read again once back.
    if (entry === undefined || position === undefined || this.status !== 'online') return;
    const latest = latestTimelineSeq(entry);
    if (entry.unreadCount === 0 && entry.lastReadSeq >= latest) return;
    // A message read over HTTP, such as the response to the user's own post, can be newer than the socket's last event.
    const seq = Math.max(position, latest);
    // The message list calls this after every render at the bottom, so a call that moves nothing must not bump the store.
    if (entry.lastReadSeq >= seq) return;
    entry.lastReadSeq = seq;
    if (this.state !== undefined) recount(this.state, conversationId);
    this.bump();
    await this.api.post(`/api/conversations/${conversationId}/read`, { seq });
  }

  async markThreadRead(rootId: string): Promise<void> {
    const thread = this.state?.threads[rootId];
    if (thread === undefined || thread.unread_count === 0) return;
    const position = this.#realtime?.positions.get(`c:${thread.conversation_id}`);
    if (position === undefined || this.status !== 'online') return;
    // Replies read over HTTP can be newer than the socket's last event.
    const seq = Math.max(position, latestReplySeq(this.state?.conversations[thread.conversation_id], rootId));
    if (thread.last_read_seq >= seq) return;
    thread.last_read_seq = seq;
    if (this.state !== undefined) recount(this.state, thread.conversation_id);
    this.bump();
    await this.api.post(`/api/messages/${rootId}/thread/read`, { seq });
  }

  /** Wraps an action so its failure shows as a toast instead of an unhandled rejection. */
  run(action: string, work: () => Promise<unknown>): Promise<void> {
    return work().then(
      () => undefined,
      (error: unknown) => this.fail(action, error),
    );
  }

  editMessage(messageId: string, text: string): Promise<void> {
    return this.run('Editing the message', () => this.api.patch(`/api/messages/${messageId}`, { text }));
  }

  deleteMessage(messageId: string): Promise<void> {
    return this.run('Deleting the message', () => this.api.delete(`/api/messages/${messageId}`));
  }

  toggleReaction(message: MessageView, emoji: string): Promise<void> {
    const state = this.state;
    const mine = state !== undefined && message.reactions.some((group) => (group.emoji === emoji || group.shortcode === emoji) && group.user_ids.includes(state.me.id));
    return this.run(mine ? 'Removing the reaction' : 'Adding the reaction', () =>
      mine ? this.api.delete(`/api/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`) : this.api.post(`/api/messages/${message.id}/reactions`, { emoji }),
    );
  }

  togglePin(message: MessageView): Promise<void> {
    const pinned = this.state?.conversations[message.conversation_id]?.pins.some((pin) => pin.message_id === message.id) ?? false;
    return this.run(pinned ? 'Unpinning' : 'Pinning', () => (pinned ? this.api.delete(`/api/messages/${message.id}/pin`) : this.api.post(`/api/messages/${message.id}/pin`)));
  }

  toggleSaved(message: MessageView): Promise<void> {
    const saved = this.state?.saved[message.id] !== undefined;
    return this.run(saved ? 'Removing from saved items' : 'Saving', () =>
      saved ? this.api.delete(`/api/messages/${message.id}/save`) : this.api.post(`/api/messages/${message.id}/save`),
    );
  }

  toggleFollow(rootId: string): Promise<void> {
    const following = this.state?.threads[rootId] !== undefined;
    return this.run(following ? 'Unfollowing the thread' : 'Following the thread', () =>
      following ? this.api.delete(`/api/messages/${rootId}/follow`) : this.api.post(`/api/messages/${rootId}/follow`),
    );
  }

  /**
   * Creates a team and resolves once its #general is in the state, or after
   * waitForConversation's timeout, so the caller can open the team at its
   * #general. The response may arrive before or after the socket's
   * team.joined and conversation.joined events.
   */
  async createTeam(name: string): Promise<{ id: string; general_conversation_id: string | null }> {
    const team = await this.api.post<{ id: string; name: string; role: string; general_conversation_id: string | null }>('/api/teams', { name });
    // The team.joined event adds it too.
    if (this.state !== undefined && this.state.teams[team.id] === undefined) {
      this.state.teams[team.id] = { id: team.id, name: team.name, role: team.role, members: {}, directory: {}, settings: {} };
      this.bump();
    }
    // Only the conversation.joined event adds the channel, and a team opened without it lands on the channel browser.
    if (team.general_conversation_id !== null) await this.waitForConversation(team.general_conversation_id);
    return team;
  }

  async createChannel(teamId: string, name: string, isPrivate: boolean, purpose: string): Promise<string> {
    const conversation = await this.api.post<Record<string, unknown>>(`/api/teams/${teamId}/channels`, {
      name,
      private: isPrivate,
      ...(purpose !== '' && { purpose }),
    });
    return conversation.id as string;
  }

  async joinChannel(conversationId: string): Promise<void> {
    await this.api.post(`/api/conversations/${conversationId}/join`);
  }

  async leaveConversation(conversationId: string): Promise<void> {
    await this.api.post(`/api/conversations/${conversationId}/leave`);
  }

  async openDirect(teamId: string, userIds: string[]): Promise<string> {
    const conversation = await this.api.post<Record<string, unknown>>(`/api/teams/${teamId}/dms`, { user_ids: userIds });
    return conversation.id as string;
  }

  async inviteToTeam(teamId: string, username: string): Promise<void> {
    await this.api.post(`/api/teams/${teamId}/members`, { username });
  }

  async inviteToConversation(conversationId: string, userIds: string[]): Promise<void> {
    await this.api.post(`/api/conversations/${conversationId}/members`, { user_ids: userIds });
  }

  /** Resolves once the conversation is in the state (its conversation.joined event arrived), or after timeoutMs. */
  async waitForConversation(conversationId: string, timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.state?.conversations[conversationId] === undefined) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return true;
  }

  team(teamId: string | undefined): TeamState | undefined {
    return teamId === undefined ? undefined : this.state?.teams[teamId];
  }
}

export function draftKey(conversationId: string, threadRootId: string | null): string {
  return `${conversationId}/${threadRootId ?? ''}`;
}

/** Returns the message an event is about, for the events that change one. */
function messageIdOf(frame: EventFrame): string | undefined {
  const data = frame.data;
  switch (frame.event) {
    case 'message.posted':
    case 'message.edited':
      return (data.message as { id: string }).id;
    case 'message.deleted':
    case 'reaction.added':
    case 'reaction.removed':
      return data.message_id as string;
    case 'thread.updated':
      return data.root_id as string;
    default:
      return undefined;
  }
}

/** Returns the seq of the newest reply held in a thread, or 0. */
function latestReplySeq(entry: ConversationState | undefined, rootId: string): number {
  let latest = 0;
  for (const message of Object.values(entry?.messages ?? {})) {
    if (message.thread_root_id === rootId && message.seq > latest) latest = message.seq;
  }
  return latest;
}

/** Returns the seq of the newest timeline message held. */
export function latestTimelineSeq(entry: ConversationState): number {
  let latest = 0;
  for (const message of Object.values(entry.messages)) {
    if ((message.thread_root_id === null || message.also_in_channel) && message.seq > latest) latest = message.seq;
  }
  return latest;
}

export const store = new ChatStore();
