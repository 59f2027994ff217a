import { encodeEventFrame, type StreamEvent, type StreamId } from './events.js';

/** Receives an event with its frame, already encoded once for every subscriber. */
export type EventListener = (event: StreamEvent, frame: Buffer) => void;

/**
 * Fan-out between the actions that commit events and the sockets that deliver
 * them. The in-process bus serves one node; a Redis bus with the same methods
 * serves many. Delivery guarantees do not rest on the bus: sockets fill any gap
 * from the stored events.
 */
export interface EventBus {
  publish(events: readonly StreamEvent[]): void;
  subscribe(stream: StreamId, listener: EventListener): void;
  /**
   * Resolves once every event published to these subscribed streams from now
   * on reaches this node's listeners. A socket reads a stream's head only
   * after that, so no event above the head can pass before its subscription.
   * It also resolves when the bus loses its connection, and then the
   * onEventsMissed callbacks follow once the bus has subscribed again.
   */
  whenSubscribed(streams: readonly StreamId[]): Promise<void>;
  unsubscribe(stream: StreamId, listener: EventListener): void;
  /** True while the bus can carry events between nodes. */
  isConnected(): boolean;
  /**
   * True once the bus has been connected at least once since the node started. /readyz returns 503
   * until then, but not on a later disconnect, so that a Redis restart does not take every node
   * out of the load balancer at once.
   */
  hasConnected(): boolean;
  /**
   * Registers a callback for when events published meanwhile may not have
   * reached this node's listeners, such as after a reconnect to Redis.
   */
  onEventsMissed(callback: () => void): void;
  close(): Promise<void>;
}

const SUBSCRIBED = Promise.resolve();

/** Delivers events to listeners of this process, synchronously and in publish order. */
export class MemoryEventBus implements EventBus {
  readonly #listeners = new Map<StreamId, Set<EventListener>>();

  publish(events: readonly StreamEvent[]): void {
    for (const event of events) {
      const listeners = this.#listeners.get(event.stream);
      if (listeners === undefined || listeners.size === 0) continue;

      const frame = encodeEventFrame(event);
      for (const listener of listeners) listener(event, frame);
    }
  }

  subscribe(stream: StreamId, listener: EventListener): void {
    let listeners = this.#listeners.get(stream);
    if (listeners === undefined) {
      listeners = new Set();
      this.#listeners.set(stream, listeners);
    }
    listeners.add(listener);
  }

  /** Resolves at once: a listener receives every event published after subscribe() returned. */
  whenSubscribed(): Promise<void> {
    return SUBSCRIBED;
  }

  unsubscribe(stream: StreamId, listener: EventListener): void {
    const listeners = this.#listeners.get(stream);
    if (listeners === undefined) return;
    listeners.delete(listener);
    if (listeners.size === 0) this.#listeners.delete(stream);
  }

  /** Number of streams with at least one listener; exposed for tests and metrics. */
  get streamCount(): number {
    return this.#listeners.size;
  }

  isConnected(): boolean {
    return true;
  }

  hasConnected(): boolean {
    return true;
  }

  /** Never calls back: delivery within one process loses no event. */
  onEventsMissed(): void {}

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
