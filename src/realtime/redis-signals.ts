import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../platform/logger.js';
import { closeRedisClient, createRedisClient, RepeatThrottle } from '../platform/redis.js';
import type { StreamId } from './events.js';
import { LocalListeners, type SignalHub, type SignalListener } from './signals.js';

/** Length of the node id that starts every message: 8 random bytes as hex. */
const NODE_ID_LENGTH = 16;

export interface RedisSignalHubOptions {
  url: string;
  keyPrefix: string;
  /** Connection for SPUBLISH, shared with the event bus. */
  publisher: Redis;
  logger: Logger;
}

/**
 * Carries signals between nodes over Redis sharded pub/sub, one channel per
 * topic named `<prefix>g:<topic>`, subscribed while a socket of this node
 * listens to the topic. It delivers a node's own signals to its own listeners
 * at once and skips their echo by the node id that starts every message, as
 * the event bus does. Signals are not kept while Redis is away: a typing
 * indicator or notification that cannot be published is dropped, because
 * neither is worth sending late.
 */
export class RedisSignalHub implements SignalHub {
  readonly nodeId = randomBytes(NODE_ID_LENGTH / 2).toString('hex');
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #nodeIdBytes = Buffer.from(this.nodeId, 'latin1');
  readonly #channelPrefix: string;
  readonly #channelPrefixBytes: number;
  readonly #listeners = new LocalListeners();
  readonly #log: Logger;
  readonly #publishFailures = new RepeatThrottle();

  constructor(options: RedisSignalHubOptions) {
    this.#log = options.logger.child({ component: 'redis', nodeId: this.nodeId, role: 'signals' });
    this.#publisher = options.publisher;
    this.#channelPrefix = `${options.keyPrefix}g:`;
    this.#channelPrefixBytes = Buffer.byteLength(this.#channelPrefix);
    this.#subscriber = createRedisClient(options.url, `chatterbox-signals-${this.nodeId}`, options.logger);
    this.#subscriber.on('smessageBuffer', (channel: Buffer, message: Buffer) => this.#onMessage(channel, message));
    this.#subscriber.on('ready', () => void this.#resubscribe());
  }

  publish(topic: StreamId, frame: Buffer): void {
    this.#listeners.deliver(topic, frame);
    if (this.#publisher.status !== 'ready') return;
    this.#publisher.spublish(this.#channelPrefix + topic, Buffer.concat([this.#nodeIdBytes, frame])).catch((error: unknown) => {
      const skipped = this.#publishFailures.take();
      if (skipped !== undefined) this.#log.warn({ err: error, topic, failuresNotLogged: skipped }, 'publishing a signal to redis failed; dropped');
    });
  }

  subscribe(topic: StreamId, listener: SignalListener): void {
    if (this.#listeners.add(topic, listener)) this.#command('ssubscribe', topic);
  }

  unsubscribe(topic: StreamId, listener: SignalListener): void {
    if (this.#listeners.remove(topic, listener)) this.#command('sunsubscribe', topic);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await closeRedisClient(this.#subscriber);
  }

  #command(name: 'ssubscribe' | 'sunsubscribe', topic: StreamId): void {
    if (this.#subscriber.status !== 'ready') return;
    this.#subscriber[name](this.#channelPrefix + topic).catch((error: unknown) => {
      // The connection dropped with the command in flight; the next connect subscribes from the listener map.
      this.#log.debug({ err: error, topic, command: name }, 'signal subscription change failed');
    });
  }

  async #resubscribe(): Promise<void> {
    const topics = this.#listeners.topics();
    try {
      await Promise.all(topics.map((topic) => this.#subscriber.ssubscribe(this.#channelPrefix + topic)));
      this.#log.info({ topics: topics.length }, 'subscribed to signal topics after connecting');
    } catch (error) {
      this.#log.warn({ err: error, topics: topics.length }, 'subscribing to signal topics after connecting failed');
    }
  }

  #onMessage(channel: Buffer, message: Buffer): void {
    if (message.length < NODE_ID_LENGTH || this.#nodeIdBytes.equals(message.subarray(0, NODE_ID_LENGTH))) return;
    const topic = channel.toString('utf8', this.#channelPrefixBytes);
    if (!this.#listeners.deliver(topic, message.subarray(NODE_ID_LENGTH))) this.#command('sunsubscribe', topic);
  }
}
