import type { Auth } from './actions.js';

/**
 * Authenticated sessions by token hash, kept for a short time so that a burst
 * of requests with one token costs one lookup. Logout, password change and
 * profile edits on this node evict at once; the time-to-live bounds how long
 * another node may still accept a revoked session.
 */
export class SessionCache {
  readonly #entries = new Map<string, { auth: Auth; expiresAt: number }>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;

  constructor(ttlMs: number, maxEntries = 100_000) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  get(tokenHash: string, now: number): Auth | undefined {
    const entry = this.#entries.get(tokenHash);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now || Number(entry.auth.session.expires_at) <= now) {
      this.#entries.delete(tokenHash);
      return undefined;
    }
    return entry.auth;
  }

  set(tokenHash: string, auth: Auth, now: number): void {
    if (this.#ttlMs <= 0) return;
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(tokenHash, { auth, expiresAt: now + this.#ttlMs });
  }

  /** Evicts every cached session of the user, or only the given sessions. */
  forget(userId: string, sessionIds?: readonly string[]): void {
    for (const [tokenHash, entry] of this.#entries) {
      if (entry.auth.user.id !== userId) continue;
      if (sessionIds === undefined || sessionIds.includes(entry.auth.session.id)) this.#entries.delete(tokenHash);
    }
  }
}
