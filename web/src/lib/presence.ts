import type { ClientSignalFrame, PresenceView, SignalFrame } from '../../../src/client/realtime.js';

export type PresenceStatus = PresenceView['status'];

/** The server expects a typing frame every 2 to 3 seconds while the user types. */
const TYPING_SEND_INTERVAL_MS = 2500;
/** Activity counts for presence for 10 minutes by default; one frame a minute keeps a busy user online. */
const ACTIVITY_SEND_INTERVAL_MS = 60_000;

export interface SignalOptions {
  /** Sends a frame on the open socket; returns false while there is none. */
  send: (frame: ClientSignalFrame) => boolean;
  changed: () => void;
  myId: () => string | undefined;
}

/**
 * Presence of the users on screen and who is typing where, both from the
 * socket's signal frames. Components watch the users they show, and only
 * those are subscribed, because the server sends a socket the changes of its
 * subscribed users only (docs/realtime.md, "Presence").
 */
export class SignalTracker {
  readonly presence = new Map<string, PresenceStatus>();
  /** Typing users per `conversationId/threadRootId`, each with the time their indicator expires. */
  readonly typing = new Map<string, Map<string, number>>();
  readonly #watchers = new Map<string, number>();
  readonly #typingSentAt = new Map<string, number>();
  #activitySentAt = 0;
  #expiryTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #options: SignalOptions;

  constructor(options: SignalOptions) {
    this.#options = options;
  }

  /** Starts watching users' presence and returns the function that stops; several watchers of one user share a subscription. */
  watch(userIds: string[]): () => void {
    const added: string[] = [];
    for (const id of new Set(userIds)) {
      const count = this.#watchers.get(id) ?? 0;
      this.#watchers.set(id, count + 1);
      if (count === 0) added.push(id);
    }
    if (added.length > 0) this.#subscribe(added);
    return () => this.#unwatch([...new Set(userIds)]);
  }

  #unwatch(userIds: string[]): void {
    const removed: string[] = [];
    for (const id of userIds) {
      const count = (this.#watchers.get(id) ?? 1) - 1;
      if (count > 0) {
        this.#watchers.set(id, count);
        continue;
      }
      this.#watchers.delete(id);
      this.presence.delete(id);
      removed.push(id);
    }
    for (let start = 0; start < removed.length; start += 500) {
      this.#options.send({ type: 'presence.unsubscribe', user_ids: removed.slice(start, start + 500) });
    }
  }

  #subscribe(userIds: string[]): void {
    // The server takes at most 500 ids per frame.
    for (let start = 0; start < userIds.length; start += 500) {
      this.#options.send({ type: 'presence.subscribe', user_ids: userIds.slice(start, start + 500) });
    }
  }

  /** Subscribes again after a reconnect: signals are never replayed, so the new socket starts with no watched users. */
  onReady(): void {
    this.typing.clear();
    this.#typingSentAt.clear();
    if (this.#watchers.size > 0) this.#subscribe([...this.#watchers.keys()]);
  }

  /** Applies a presence or typing frame; returns false for other frames. */
  apply(frame: SignalFrame): boolean {
    if (frame.type === 'presence') {
      for (const view of frame.users) if (this.#watchers.has(view.user_id)) this.presence.set(view.user_id, view.status);
      for (const id of frame.unavailable ?? []) this.presence.delete(id);
      this.#options.changed();
      return true;
    }
    if (frame.type === 'typing') {
      if (frame.user_id === this.#options.myId()) return true;
      const key = typingKey(frame.conversation_id, frame.thread_root_id);
      const users = this.typing.get(key) ?? new Map<string, number>();
      if (frame.active) users.set(frame.user_id, Date.now() + frame.expires_in_ms);
      else users.delete(frame.user_id);
      this.typing.set(key, users);
      this.#scheduleExpiry();
      this.#options.changed();
      return true;
    }
    return false;
  }

  /** Ends a typing indicator when its user's message arrives. */
  stopTyping(conversationId: string, threadRootId: string | null, userId: string): void {
    const users = this.typing.get(typingKey(conversationId, threadRootId));
    if (users?.delete(userId)) this.#options.changed();
  }

  /** Returns the users typing in a conversation's timeline, or in a thread when threadRootId is given. */
  typingIn(conversationId: string, threadRootId: string | null): string[] {
    const now = Date.now();
    const users = this.typing.get(typingKey(conversationId, threadRootId));
    if (users === undefined) return [];
    return [...users].filter(([, expiresAt]) => expiresAt > now).map(([userId]) => userId);
  }

  /** Sends a typing frame for a conversation or thread, skipped when one went there within TYPING_SEND_INTERVAL_MS. */
  sendTyping(conversationId: string, threadRootId: string | null): void {
    const key = typingKey(conversationId, threadRootId);
    const now = Date.now();
    if (now - (this.#typingSentAt.get(key) ?? 0) < TYPING_SEND_INTERVAL_MS) return;
    const sent = this.#options.send({ type: 'typing', conversation_id: conversationId, ...(threadRootId !== null && { thread_root_id: threadRootId }) });
    if (sent) {
      this.#typingSentAt.set(key, now);
      // A typing frame counts as activity too.
      this.#activitySentAt = now;
    }
  }

  /** Sends an activity frame for a key press, click or focus, skipped when one went within ACTIVITY_SEND_INTERVAL_MS. */
  sendActivity(): void {
    const now = Date.now();
    if (now - this.#activitySentAt < ACTIVITY_SEND_INTERVAL_MS) return;
    if (this.#options.send({ type: 'activity' })) this.#activitySentAt = now;
  }

  clear(): void {
    this.presence.clear();
    this.typing.clear();
    this.#watchers.clear();
    this.#typingSentAt.clear();
    clearTimeout(this.#expiryTimer);
  }

  /** Renders again when the earliest indicator expires, since no frame announces an expiry. */
  #scheduleExpiry(): void {
    clearTimeout(this.#expiryTimer);
    let earliest = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (const [key, users] of this.typing) {
      for (const [userId, expiresAt] of users) {
        if (expiresAt <= now) users.delete(userId);
        else earliest = Math.min(earliest, expiresAt);
      }
      if (users.size === 0) this.typing.delete(key);
    }
    if (earliest === Number.POSITIVE_INFINITY) return;
    this.#expiryTimer = setTimeout(() => {
      this.#scheduleExpiry();
      this.#options.changed();
    }, earliest - now + 10);
  }
}

function typingKey(conversationId: string, threadRootId: string | null): string {
  return `${conversationId}/${threadRootId ?? ''}`;
}
