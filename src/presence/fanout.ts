import type { Presence } from './presence.js';
import type { PresenceView } from './status.js';

/** A socket's side of the fan-out: sends one encoded frame. */
export interface PresenceSink {
  send(frame: string): void;
}

/** The users one socket watches and the changes not yet sent to it. */
export interface Watch {
  readonly sink: PresenceSink;
  /** Watched user id to the `since` of the last view sent, so an older view is never sent after a newer one. */
  readonly watched: Map<string, number>;
  readonly pending: Map<string, EncodedView>;
}

/** A view with its JSON, encoded once per change however many sockets watch the user. */
interface EncodedView {
  view: PresenceView;
  json: string;
}

/**
 * Passes presence changes on to the sockets of this node that watch the
 * changed users, and only to those. Changes are collected per socket and
 * sent as one `presence` frame per batch interval. A burst of changes then
 * costs each watching socket one frame, and a socket that watches none of
 * the changed users gets no frame.
 */
export class PresenceFanout {
  readonly #watchersByUser = new Map<string, Set<Watch>>();
  readonly #dirty = new Set<Watch>();
  readonly #batchIntervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** Frames sent since start; read by tests and the benchmark. */
  framesSent = 0;

  constructor(presence: Presence, batchIntervalMs: number) {
    this.#batchIntervalMs = batchIntervalMs;
    presence.onChange((views) => this.#onChange(views));
  }

  open(sink: PresenceSink): Watch {
    return { sink, watched: new Map(), pending: new Map() };
  }

  /** Starts watching users; returns the ids that were not watched before. */
  add(watch: Watch, userIds: readonly string[]): string[] {
    const added: string[] = [];
    for (const userId of userIds) {
      if (watch.watched.has(userId)) continue;
      watch.watched.set(userId, Number.NEGATIVE_INFINITY);
      let watchers = this.#watchersByUser.get(userId);
      if (watchers === undefined) {
        watchers = new Set();
        this.#watchersByUser.set(userId, watchers);
      }
      watchers.add(watch);
      added.push(userId);
    }
    return added;
  }

  remove(watch: Watch, userIds: readonly string[]): void {
    for (const userId of userIds) {
      if (!watch.watched.delete(userId)) continue;
      watch.pending.delete(userId);
      const watchers = this.#watchersByUser.get(userId);
      watchers?.delete(watch);
      if (watchers?.size === 0) this.#watchersByUser.delete(userId);
    }
  }

  close(watch: Watch): void {
    this.remove(watch, [...watch.watched.keys()]);
    this.#dirty.delete(watch);
  }

  /**
   * Sends the current presence of newly watched users at once, together with
   * any change of theirs already waiting. Changes that arrived after the
   * snapshot was read are newer, so they win over it.
   */
  sendSnapshot(watch: Watch, views: readonly PresenceView[], unavailable: readonly string[]): void {
    const users: PresenceView[] = [];
    for (const view of views) {
      if (!watch.watched.has(view.user_id)) continue;
      const newer = watch.pending.get(view.user_id)?.view;
      watch.pending.delete(view.user_id);
      users.push(newer !== undefined && newer.since >= view.since ? newer : view);
    }
    for (const view of users) watch.watched.set(view.user_id, view.since);
    watch.sink.send(JSON.stringify({ type: 'presence', users, ...(unavailable.length > 0 && { unavailable }) }));
    this.framesSent += 1;
  }

  /** Sends every waiting batch now; the timer calls this once per interval. */
  flush(): void {
    this.#timer = undefined;
    for (const watch of this.#dirty) {
      const users: string[] = [];
      for (const { view, json } of watch.pending.values()) {
        const lastSent = watch.watched.get(view.user_id);
        if (lastSent === undefined || view.since < lastSent) continue;
        watch.watched.set(view.user_id, view.since);
        users.push(json);
      }
      watch.pending.clear();
      if (users.length === 0) continue;
      watch.sink.send(`{"type":"presence","users":[${users.join(',')}]}`);
      this.framesSent += 1;
    }
    this.#dirty.clear();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dirty.clear();
  }

  #onChange(views: readonly PresenceView[]): void {
    for (const view of views) {
      const watchers = this.#watchersByUser.get(view.user_id);
      if (watchers === undefined) continue;
      const encoded = { view, json: JSON.stringify(view) };
      for (const watch of watchers) {
        watch.pending.set(view.user_id, encoded);
        this.#dirty.add(watch);
      }
    }
    if (this.#dirty.size > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#batchIntervalMs);
      this.#timer.unref();
    }
  }
}
