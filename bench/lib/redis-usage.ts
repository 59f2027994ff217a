/**
 * Redis server figures for the cluster scenario, read with INFO. Redis
 * reports its own CPU time (used_cpu_sys plus used_cpu_user, all its threads)
 * and the commands it processed, so a step can charge Redis CPU to its
 * messages and see how many commands other clients sent meanwhile.
 */
import { Redis } from 'ioredis';

export interface RedisUsage {
  /** Redis server CPU time so far, user plus system, in ms. */
  cpuMs: number;
  /** Commands processed since Redis started; published messages count, their deliveries do not. */
  commands: number;
}

/** Opens a plain connection for INFO and cleanup. The caller disconnects it. */
export function openRedis(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  // Failed commands reject their promises, so the event would only repeat the same error.
  redis.on('error', () => {});
  return redis;
}

/** Commands that one readRedisUsage sends, to subtract from a command count. */
export const USAGE_READ_COMMANDS = 2;

/** Reads Redis CPU time and the processed-command count. */
export async function readRedisUsage(redis: Redis): Promise<RedisUsage> {
  const info = (await redis.info('cpu')) + (await redis.info('stats'));
  const field = (name: string) => {
    const match = new RegExp(`^${name}:([0-9.]+)\\r?$`, 'm').exec(info);
    if (match === null) throw new Error(`Redis INFO has no ${name} field`);
    return Number(match[1]);
  };
  return { cpuMs: (field('used_cpu_sys') + field('used_cpu_user')) * 1000, commands: field('total_commands_processed') };
}

/** Reads the Redis server's process id, so its CPU is left out of other processes' CPU. */
export async function readRedisPid(redis: Redis): Promise<number> {
  const match = /^process_id:(\d+)\r?$/m.exec(await redis.info('server'));
  if (match === null) throw new Error('Redis INFO has no process_id field');
  return Number(match[1]);
}

/** Deletes every key under a prefix. */
export async function deleteRedisKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length > 0) deleted += await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
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
