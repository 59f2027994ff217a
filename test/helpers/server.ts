import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { buildChatterBox, type BuildOptions, type ChatterBox } from '../../src/http/app.js';
import { buildConfig, type ConfigOverrides } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { holdRedisPrefix, redisPrefixFor, TEST_REDIS_URL } from './redis.js';
import { waitUntil } from './realtime.js';

export interface TestServer {
  url: string;
  wsUrl: string;
  server: ChatterBox;
  dataDir: string;
  close(): Promise<void>;
}

/** PostgreSQL URL of the run, or undefined for the embedded SQLite default. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || undefined;

/**
 * Starts a real server on an ephemeral port with fresh storage: a SQLite
 * file in a temporary folder, or, when TEST_DATABASE_URL is set, a
 * PostgreSQL schema named after that folder. A server started again with
 * the same dataDir finds the same data. LOG_LEVEL=info shows its logs.
 * With TEST_REDIS_URL set, the server uses the Redis bus under a key prefix
 * named after its dataDir, and starting waits until Redis is connected. The
 * prefix's keys are deleted when the last server using it closes.
 */
export async function startServer(overrides: ConfigOverrides = {}, buildOptions: BuildOptions = {}): Promise<TestServer> {
  const ownsDataDir = overrides.dataDir === undefined;
  const dataDir = overrides.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-test-'));
  const schema = TEST_DATABASE_URL === undefined ? undefined : schemaFor(dataDir);
  if (schema !== undefined) await runSql(`CREATE SCHEMA IF NOT EXISTS ${schema}`);

  const config = buildConfig({
    port: 0,
    ...(TEST_REDIS_URL !== undefined && { redisUrl: TEST_REDIS_URL, redisKeyPrefix: redisPrefixFor(dataDir) }),
    ...overrides,
    // Every test user registers from 127.0.0.1; tests of the limit set it themselves.
    rateLimits: { registrationsPerAddressPerHour: 1_000_000, ...overrides.rateLimits },
    dataDir,
    // A fault test may reach PostgreSQL through a proxy of its own.
    ...(schema !== undefined && { databaseUrl: overrides.databaseUrl ?? TEST_DATABASE_URL, databaseSchema: schema, databasePoolSize: 5 }),
  });
  const logger = createLogger(process.env.LOG_LEVEL ?? 'silent');
  const server = schema === undefined ? await buildChatterBox(config, logger, buildOptions) : await withSchemaLock(() => buildChatterBox(config, logger, buildOptions));
  const releaseRedisPrefix = config.redisUrl === '' ? undefined : holdRedisPrefix(config.redisUrl, config.redisKeyPrefix);
  if (config.redisUrl !== '') await waitUntil(() => server.ctx.bus.isConnected(), 5000, 'the Redis bus to connect');
  let url: string;
  try {
    url = await server.listen();
  } catch (error) {
    // A refused port (EADDRINUSE) must not leave the storage and timers of this server open.
    await server.close();
    await releaseRedisPrefix?.();
    throw error;
  }
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/api/realtime',
    server,
    dataDir,
    close: async () => {
      await server.close();
      await releaseRedisPrefix?.();
      if (!ownsDataDir) return;
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (schema !== undefined) await withSchemaLock(() => runSql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
    },
  };
}

/**
 * Removes a data folder that a test made itself and passed to startServer, and its PostgreSQL
 * schema. A server started on such a folder does not own it, so its close() leaves both.
 */
export async function removeDataDir(dataDir: string): Promise<void> {
  fs.rmSync(dataDir, { recursive: true, force: true });
  if (TEST_DATABASE_URL !== undefined) await dropSchema(schemaFor(dataDir));
}

/** Names the PostgreSQL schema of a data folder, so a restarted server finds its data. */
export function schemaFor(dataDir: string): string {
  return `cbtest_${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}`;
}

/**
 * Serializes migrations and schema drops across test workers. Kysely's
 * migrator lists tables of every schema, and that query fails if another
 * worker drops a schema while it runs. Node processes that a test starts on
 * PostgreSQL migrate too, so their start holds the lock as well.
 */
export async function withSchemaLock<T>(work: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock(727001)');
    return await work();
  } finally {
    await client.end();
  }
}

/** Drops a schema of the test database, holding the schema lock. */
export function dropSchema(schema: string): Promise<void> {
  return withSchemaLock(() => runSql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
}

/** Runs one statement on the test database with a connection of its own. */
export async function runSql(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
