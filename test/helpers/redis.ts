import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';

/** Redis URL of the run: every test server then uses the Redis bus. Unset keeps the in-process bus. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL || undefined;

/** Names the key prefix of a data folder, so servers that share the folder share their channels and counters. */
export function redisPrefixFor(dataDir: string): string {
  return `cbtest:${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}:`;
}

/** Opens a plain connection for a test's own commands. The caller connects and disconnects it. */
export function openRedis(url: string): Redis {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  // Failed commands reject their promises, so the event would only repeat the same error.
  redis.on('error', () => {});
  return redis;
}

/** Deletes every key under a test prefix. These are the rate-limit counters, because channels are not keys. */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = openRedis(url);
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

const serversPerPrefix = new Map<string, number>();

/**
 * Counts a test server that uses a key prefix. The returned function, called
 * when that server closes, deletes the prefix's keys once no server of this
 * process uses the prefix any more.
 */
export function holdRedisPrefix(url: string, prefix: string): () => Promise<void> {
  serversPerPrefix.set(prefix, (serversPerPrefix.get(prefix) ?? 0) + 1);
  return async () => {
    const remaining = (serversPerPrefix.get(prefix) ?? 1) - 1;
    if (remaining > 0) {
      serversPerPrefix.set(prefix, remaining);
      return;
    }
    serversPerPrefix.delete(prefix);
    await deleteRedisKeys(url, prefix);
  };
}

/** Returns whether Redis at the URL replies to PING within a second. */
export async function isRedisReachable(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
