import type { Logger } from '../platform/logger.js';
import { conversationStream, userStream, type StreamEvent, type StreamId } from '../realtime/events.js';
import type { Db } from '../storage/database.js';
import type { PresenceFanout, Watch } from './fanout.js';
import type { ActivityFrame, PresenceFrame, PresenceSubscribeFrame, TypingFrame } from './frames.js';
import type { Presence } from './presence.js';
import { filterVisibleUsers } from './queries.js';
import type { TypingTracker } from './typing.js';
import { findMessage } from '../messages/queries.js';

/** The parts of a socket that a session uses. */
export interface ConnectionHandle {
  readonly id: string;
  readonly userId: string;
  send(frame: string): void;
  sendError(code: string, message: string, field?: string, id?: string | number, details?: Record<string, unknown>): void;
  /** True while the socket receives the stream, which for a conversation means its user is a member. */
  receives(stream: StreamId): boolean;
}

export interface SessionDependencies {
  db: Db;
  presence: Presence;
  fanout: PresenceFanout;
  typing: TypingTracker;
  maxWatchedUsers: number;
  logger: Logger;
}

/**
 * The presence side of one ready socket: it counts the socket as a device
 * of its user, runs its presence subscriptions, activity and typing frames,
 * and drops watched users who stop sharing a team with it.
 */
export class PresenceSession {
  readonly #deps: SessionDependencies;
  readonly #handle: ConnectionHandle;
  readonly #watch: Watch;
  #closed = false;

  constructor(deps: SessionDependencies, handle: ConnectionHandle) {
    this.#deps = deps;
    this.#handle = handle;
    this.#watch = deps.fanout.open({ send: (frame) => handle.send(frame) });
    deps.presence.connect(handle.userId, handle.id);
  }

  /** Runs one presence, activity or typing frame. */
  async handle(frame: PresenceFrame): Promise<void> {
    switch (frame.type) {
      case 'presence.subscribe':
        return this.#subscribe(frame);
      case 'presence.unsubscribe':
        this.#deps.fanout.remove(this.#watch, frame.user_ids);
        return;
      case 'activity':
        this.#activity(frame);
        return;
      case 'typing':
        return this.#typing(frame);
    }
  }

  /** Applies a delivered event that changes what this socket may watch or shows. */
  onEvent(event: StreamEvent): void {
    const userId = this.#handle.userId;
    if (event.stream === userStream(userId)) {
      if (event.type === 'user.updated') void this.#deps.presence.reload(userId);
      if (event.type === 'team.left') void this.#revalidate([...this.#watch.watched.keys()]);
      return;
    }
    if (event.type === 'team.member_left' && event.data.user_id !== userId) {
      const leaver = event.data.user_id as string;
      if (this.#watch.watched.has(leaver)) void this.#revalidate([leaver]);
      return;
    }
    if (event.type === 'message.posted' && (event.data.message as { author_id?: string }).author_id === userId) {
      this.#deps.typing.stopIn(this.#handle.id, event.stream.slice(2));
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#deps.fanout.close(this.#watch);
    this.#deps.typing.stopAll(this.#handle.id);
    this.#deps.presence.disconnect(this.#handle.userId, this.#handle.id);
  }

  async #subscribe(frame: PresenceSubscribeFrame): Promise<void> {
    const requested = [...new Set(frame.user_ids)].filter((id) => !this.#watch.watched.has(id));
    const max = this.#deps.maxWatchedUsers;
    if (this.#watch.watched.size + requested.length > max) {
      this.#handle.sendError('VALIDATION_FAILED', `A socket may watch at most ${max} users; unsubscribe from some first`, 'user_ids', frame.id, { max });
      return;
    }
    const visible = await filterVisibleUsers(this.#deps.db, this.#handle.userId, requested);
    if (this.#closed) return;
    const allowed = this.#deps.fanout.add(this.#watch, requested.filter((id) => visible.has(id)));
    const unavailable = requested.filter((id) => !visible.has(id));
    const views = await this.#deps.presence.get(allowed);
    if (this.#closed) return;
    this.#deps.fanout.sendSnapshot(this.#watch, [...views.values()], unavailable);
  }

  #activity(_frame: ActivityFrame): void {
    this.#deps.presence.activity(this.#handle.userId, this.#handle.id);
  }

  /** Passes on a typing frame of a member; a thread must be a live root of that conversation. */
  async #typing(frame: TypingFrame): Promise<void> {
    const handle = this.#handle;
    if (!handle.receives(conversationStream(frame.conversation_id))) {
      handle.sendError('CONVERSATION_NOT_FOUND', 'Conversation not found', 'conversation_id', frame.id);
      return;
    }
    this.#deps.presence.activity(handle.userId, handle.id);
    const threadRootId = frame.thread_root_id ?? null;
    if (threadRootId !== null) {
      const root = await findMessage(this.#deps.db, threadRootId);
      if (root === undefined || root.conversation_id !== frame.conversation_id || root.root_id !== null || root.deleted_at !== null) {
        handle.sendError('MESSAGE_NOT_FOUND', 'The thread root was not found in this conversation', 'thread_root_id', frame.id);
        return;
      }
      if (this.#closed) return;
    }
    this.#deps.typing.typing(handle.id, handle.userId, frame.conversation_id, threadRootId);
  }

  /** Stops watching users who no longer share a team, and sends the client their ids. */
  async #revalidate(userIds: string[]): Promise<void> {
    try {
      const visible = await filterVisibleUsers(this.#deps.db, this.#handle.userId, userIds);
      if (this.#closed) return;
      const gone = userIds.filter((id) => !visible.has(id) && this.#watch.watched.has(id));
      if (gone.length === 0) return;
      this.#deps.fanout.remove(this.#watch, gone);
      this.#handle.send(JSON.stringify({ type: 'presence', users: [], unavailable: gone }));
    } catch (error) {
      this.#deps.logger.error({ err: error, connectionId: this.#handle.id }, 'checking watched users after a team change failed');
    }
  }
}
