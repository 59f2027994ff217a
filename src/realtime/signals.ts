import type { StreamId } from './events.js';

/** Receives a signal frame, already encoded as the JSON text sockets send. */
export type SignalListener = (frame: Buffer) => void;

/**
 * Carries signals: frames that are sent once to whoever listens at that
 * moment, and never stored, sequenced or replayed. Typing indicators and
 * notifications use it. A signal's topic is a stream id, and a socket listens
 * to the topics of the streams it receives, so a signal reaches the same
 * sockets as that stream's events. The in-process hub serves one node; the
 * Redis hub (redis-signals.ts) has the same methods and serves many.
 */
export interface SignalHub {
  publish(topic: StreamId, frame: Buffer): void;
  subscribe(topic: StreamId, listener: SignalListener): void;
  unsubscribe(topic: StreamId, listener: SignalListener): void;
  close(): Promise<void>;
}

/** Map of topic to listeners, shared by both hubs for the sockets of this node. */
export class LocalListeners {
  readonly #listeners = new Map<StreamId, Set<SignalListener>>();

  /** Adds a listener and returns true when it is the topic's first. */
  add(topic: StreamId, listener: SignalListener): boolean {
    let listeners = this.#listeners.get(topic);
    const first = listeners === undefined;
    if (listeners === undefined) {
      listeners = new Set();
      this.#listeners.set(topic, listeners);
    }
    listeners.add(listener);
    return first;
  }

  /** Removes a listener and returns true when the topic has none left. */
  remove(topic: StreamId, listener: SignalListener): boolean {
    const listeners = this.#listeners.get(topic);
    if (listeners === undefined) return false;
    listeners.delete(listener);
    if (listeners.size > 0) return false;
    this.#listeners.delete(topic);
    return true;
  }

  deliver(topic: StreamId, frame: Buffer): boolean {
    const listeners = this.#listeners.get(topic);
    if (listeners === undefined) return false;
    for (const listener of listeners) listener(frame);
    return true;
  }

  topics(): StreamId[] {
    return [...this.#listeners.keys()];
  }

  clear(): void {
    this.#listeners.clear();
  }
}

/** Delivers signals to the listeners of this process, synchronously. */
export class MemorySignalHub implements SignalHub {
  readonly #listeners = new LocalListeners();

  publish(topic: StreamId, frame: Buffer): void {
    this.#listeners.deliver(topic, frame);
  }

  subscribe(topic: StreamId, listener: SignalListener): void {
    this.#listeners.add(topic, listener);
  }

  unsubscribe(topic: StreamId, listener: SignalListener): void {
    this.#listeners.remove(topic, listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
