import type { PresenceConfig } from '../platform/config.js';
import { conversationStream } from '../realtime/events.js';
import type { SignalHub } from '../realtime/signals.js';

/** Conversations and threads one socket may show as typing in at once; starting another stops the oldest. */
const MAX_TYPING_PER_CONNECTION = 10;

interface TypingEntry {
  userId: string;
  conversationId: string;
  threadRootId: string | null;
  lastSentAt: number;
  expiry: NodeJS.Timeout;
}

/**
 * Typing indicators of the sockets of this node. A typing frame is passed on
 * to the conversation's members as a signal on its stream, at most once per
 * throttle interval per socket and conversation (or thread). This node sends
 * a frame with `active: false` when the expiry time passes without a new
 * frame, when the typist's socket closes, or when the typist posts there.
 * Every started frame also carries its expiry, so clients clear it on their
 * own if the typist's node stops before sending that frame.
 */
export class TypingTracker {
  readonly #signals: SignalHub;
  readonly #config: PresenceConfig;
  readonly #now: () => number;
  readonly #byConnection = new Map<string, Map<string, TypingEntry>>();
  /** Typing frames passed on since start; read by tests. */
  sent = 0;

  constructor(signals: SignalHub, config: PresenceConfig, now: () => number = Date.now) {
    this.#signals = signals;
    this.#config = config;
    this.#now = now;
  }

  /** Records a typing frame of a member; returns false when the throttle held it back. */
  typing(connectionId: string, userId: string, conversationId: string, threadRootId: string | null): boolean {
    const now = this.#now();
    let entries = this.#byConnection.get(connectionId);
    if (entries === undefined) {
      entries = new Map();
      this.#byConnection.set(connectionId, entries);
    }
    const key = keyOf(conversationId, threadRootId);
    const entry = entries.get(key);
    if (entry !== undefined && now - entry.lastSentAt < this.#config.typingThrottleMs) return false;

    if (entry !== undefined) clearTimeout(entry.expiry);
    else if (entries.size >= MAX_TYPING_PER_CONNECTION) this.#stopOldest(connectionId, entries);
    const expiry = setTimeout(() => this.stop(connectionId, conversationId, threadRootId), this.#config.typingExpiryMs);
    expiry.unref();
    entries.set(key, { userId, conversationId, threadRootId, lastSentAt: now, expiry });
    this.#publish(userId, conversationId, threadRootId, true);
    return true;
  }

  /** Stops one indicator of a socket, if it shows. */
  stop(connectionId: string, conversationId: string, threadRootId: string | null): void {
    const entries = this.#byConnection.get(connectionId);
    const key = keyOf(conversationId, threadRootId);
    const entry = entries?.get(key);
    if (entries === undefined || entry === undefined) return;
    clearTimeout(entry.expiry);
    entries.delete(key);
    if (entries.size === 0) this.#byConnection.delete(connectionId);
    this.#publish(entry.userId, conversationId, threadRootId, false);
  }

  /** Stops every indicator of a socket, such as when it closes. */
  stopAll(connectionId: string): void {
    const entries = this.#byConnection.get(connectionId);
    if (entries === undefined) return;
    for (const entry of [...entries.values()]) this.stop(connectionId, entry.conversationId, entry.threadRootId);
  }

  /** Stops the indicators of a socket in one conversation, threads included, such as after a post there. */
  stopIn(connectionId: string, conversationId: string): void {
    const entries = this.#byConnection.get(connectionId);
    if (entries === undefined) return;
    for (const entry of [...entries.values()]) {
      if (entry.conversationId === conversationId) this.stop(connectionId, entry.conversationId, entry.threadRootId);
    }
  }

  close(): void {
    for (const entries of this.#byConnection.values()) for (const entry of entries.values()) clearTimeout(entry.expiry);
    this.#byConnection.clear();
  }

  #stopOldest(connectionId: string, entries: Map<string, TypingEntry>): void {
    const oldest = entries.values().next().value;
    if (oldest !== undefined) this.stop(connectionId, oldest.conversationId, oldest.threadRootId);
  }

  #publish(userId: string, conversationId: string, threadRootId: string | null, active: boolean): void {
    const frame = {
      type: 'typing',
      conversation_id: conversationId,
      thread_root_id: threadRootId,
      user_id: userId,
      active,
      ...(active && { expires_in_ms: this.#config.typingExpiryMs }),
    };
    this.sent += 1;
    this.#signals.publish(conversationStream(conversationId), Buffer.from(JSON.stringify(frame)));
  }
}

function keyOf(conversationId: string, threadRootId: string | null): string {
  return threadRootId === null ? conversationId : `${conversationId}/${threadRootId}`;
}
