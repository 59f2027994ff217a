import net from 'node:net';
import path from 'node:path';

/** Every setting of a ChatterBox node, read once from the environment at start. */
export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** PostgreSQL connection URL; empty selects the embedded SQLite file in dataDir. */
  databaseUrl: string;
  /** PostgreSQL schema for all tables; empty uses the server's search_path. */
  databaseSchema: string;
  databasePoolSize: number;
  /** Redis URL for fan-out and rate limits across nodes. Empty keeps both inside this process. */
  redisUrl: string;
  /** Prefix of every Redis key and pub/sub channel, so several deployments can share one Redis. */
  redisKeyPrefix: string;
  logLevel: string;
  /** Origins allowed to open WebSocket connections and to use cookie sessions. */
  allowedOrigins: string[];
  /** Proxy addresses or CIDR ranges whose X-Forwarded-For header names the client; empty trusts none. */
  trustedProxies: string[];
  sessionTtlMs: number;
  /** How long a node reuses an authenticated session without reading it again; 0 turns the cache off. */
  authCacheTtlMs: number;
  wsTicketTtlMs: number;
  maxBodyBytes: number;
  maxMessageChars: number;
  maxGroupDmMembers: number;
  ws: {
    maxFrameBytes: number;
    /** Bytes queued for one socket before the server drops it as a slow reader. */
    maxBufferedBytes: number;
    heartbeatIntervalMs: number;
    /** Time a connection has to send its hello frame before it is closed. */
    helloTimeoutMs: number;
    compression: boolean;
    /** Open sockets one user may hold at once, across devices and tabs. */
    maxConnectionsPerUser: number;
  };
  rateLimits: {
    loginPerAddressPerMinute: number;
    loginPerAccountPerMinute: number;
    registrationsPerAddressPerHour: number;
    postsPerUserPerMinute: number;
    postsPerAddressPerMinute: number;
  };
  shutdownGraceMs: number;
  /** Serves Prometheus metrics at /metrics. */
  metrics: boolean;
  presence: PresenceConfig;
  push: PushConfig;
  jobs: JobsConfig;
}

/** Presence and typing timing. docs/realtime.md describes the rules these settings drive. */
export interface PresenceConfig {
  /** Time without activity on every device after which an online user shows as away. */
  idleTimeoutMs: number;
  /** Time a user stays online after their last socket closes, so that a reconnect does not flicker. */
  offlineGraceMs: number;
  /** Interval at which presence changes are collected into one frame per socket. */
  batchIntervalMs: number;
  /** Users one socket may watch at once. */
  maxWatchedUsers: number;
  /** Shortest interval between two typing frames of one socket and conversation that are passed on. */
  typingThrottleMs: number;
  /** Time after the last typing frame when the typist is shown as stopped. */
  typingExpiryMs: number;
}

/** Web Push settings. Empty VAPID keys make the node generate a key pair on first start. */
export interface PushConfig {
  vapidPublicKey: string;
  vapidPrivateKey: string;
  /** Contact for push services, a mailto: or https: URL, sent in every VAPID token. */
  vapidSubject: string;
  /** Addresses or CIDR ranges that push endpoints may resolve to although they are loopback, private or link-local. */
  allowedAddresses: string[];
  /** PEM file of extra certificate authorities trusted for push endpoints, besides Node's defaults. */
  caFile: string;
  /** Push subscriptions one user may register. */
  maxSubscriptionsPerUser: number;
  /** Timeout of one request to a push service. */
  requestTimeoutMs: number;
}

/** The background job runner (src/jobs). */
export interface JobsConfig {
  /** Runs background jobs, such as push delivery, on this node. */
  enabled: boolean;
  /** Interval at which the runner looks for due jobs besides being woken after each post. */
  pollIntervalMs: number;
  /** Time a node owns a job it took; a node that stops without finishing releases it after this time. */
  leaseMs: number;
  /** Delay before the first retry; each further retry doubles it, up to retryMaxDelayMs. */
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  /** Jobs one node runs at once. */
  concurrency: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const DEFAULTS: Config = {
  host: '127.0.0.1',
  port: 3000,
  dataDir: './data',
  databaseUrl: '',
  databaseSchema: '',
  databasePoolSize: 10,
  redisUrl: '',
  redisKeyPrefix: 'chatterbox:',
  logLevel: 'info',
  allowedOrigins: [],
  trustedProxies: [],
  sessionTtlMs: 30 * 24 * 3600 * 1000,
  // Another node learns of a revoked session within this time, well inside one second.
  authCacheTtlMs: 500,
  wsTicketTtlMs: 30 * 1000,
  maxBodyBytes: 1024 * 1024,
  maxMessageChars: 40_000,
  maxGroupDmMembers: 9,
  ws: {
    maxFrameBytes: 64 * 1024,
    maxBufferedBytes: 4 * 1024 * 1024,
    heartbeatIntervalMs: 30_000,
    helloTimeoutMs: 10_000,
    compression: false,
    maxConnectionsPerUser: 50,
  },
  rateLimits: {
    loginPerAddressPerMinute: 30,
    loginPerAccountPerMinute: 10,
    registrationsPerAddressPerHour: 20,
    postsPerUserPerMinute: 600,
    postsPerAddressPerMinute: 3000,
  },
  shutdownGraceMs: 10_000,
  metrics: true,
  presence: {
    idleTimeoutMs: 10 * 60_000,
    offlineGraceMs: 15_000,
    batchIntervalMs: 500,
    maxWatchedUsers: 2_000,
    typingThrottleMs: 2_000,
    typingExpiryMs: 6_000,
  },
  push: {
    vapidPublicKey: '',
    vapidPrivateKey: '',
    vapidSubject: 'mailto:postmaster@localhost',
    allowedAddresses: [],
    caFile: '',
    maxSubscriptionsPerUser: 20,
    requestTimeoutMs: 10_000,
  },
  jobs: {
    enabled: true,
    pollIntervalMs: 1_000,
    leaseMs: 60_000,
    retryBaseDelayMs: 5_000,
    retryMaxDelayMs: 30 * 60_000,
    concurrency: 8,
  },
};

/** A partial config for tests: nested groups may be given in part. */
export type ConfigOverrides = Partial<Omit<Config, 'ws' | 'rateLimits' | 'presence' | 'push' | 'jobs'>> & {
  ws?: Partial<Config['ws']>;
  rateLimits?: Partial<Config['rateLimits']>;
  presence?: Partial<PresenceConfig>;
  push?: Partial<PushConfig>;
  jobs?: Partial<JobsConfig>;
};

/** Merges overrides onto the defaults. */
export function buildConfig(overrides: ConfigOverrides = {}): Config {
  return {
    ...DEFAULTS,
    ...overrides,
    ws: { ...DEFAULTS.ws, ...overrides.ws },
    rateLimits: { ...DEFAULTS.rateLimits, ...overrides.rateLimits },
    presence: { ...DEFAULTS.presence, ...overrides.presence },
    push: { ...DEFAULTS.push, ...overrides.push },
    jobs: { ...DEFAULTS.jobs, ...overrides.jobs },
  };
}

/**
 * Reads the environment into a Config. Every invalid variable is collected, so
 * one start reports them all; an invalid environment throws with that list.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];

  function integer(name: string, fallback: number, min: number): number {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      problems.push(`${name} must be an integer of at least ${min}, got "${raw}"`);
      return fallback;
    }
    return value;
  }

  function flag(name: string, fallback: boolean): boolean {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  }

  const port = integer('PORT', DEFAULTS.port, 0);
  const logLevel = env.LOG_LEVEL || DEFAULTS.logLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  if (port > 65535) problems.push(`PORT must be at most 65535, got ${port}`);

  if (env.DATABASE_URL && !/^postgres(ql)?:\/\//.test(env.DATABASE_URL)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  if (env.CHATTERBOX_DATABASE_SCHEMA && !/^[a-z_][a-z0-9_]*$/.test(env.CHATTERBOX_DATABASE_SCHEMA)) {
    problems.push('CHATTERBOX_DATABASE_SCHEMA must be a lowercase SQL identifier');
  }
  if (env.REDIS_URL && !/^rediss?:\/\//.test(env.REDIS_URL)) {
    problems.push('REDIS_URL must be a redis:// or rediss:// URL');
  }
  if (env.CHATTERBOX_REDIS_KEY_PREFIX && !/^[\x21-\x7e]{1,64}$/.test(env.CHATTERBOX_REDIS_KEY_PREFIX)) {
    problems.push('CHATTERBOX_REDIS_KEY_PREFIX must be 1 to 64 printable ASCII characters without spaces');
  }

  const origins = (env.CHATTERBOX_ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
  for (const origin of origins) {
    if (!/^https?:\/\/[^/]+$/.test(origin)) {
      problems.push(`CHATTERBOX_ALLOWED_ORIGINS entry "${origin}" must look like https://host[:port]`);
    }
  }

  const trustedProxies = (env.CHATTERBOX_TRUSTED_PROXIES ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of trustedProxies) {
    if (!isAddressOrRange(entry)) {
      problems.push(`CHATTERBOX_TRUSTED_PROXIES entry "${entry}" must be an IP address or CIDR range such as 10.0.0.0/8`);
    }
  }

  const pushAllowedAddresses = (env.CHATTERBOX_PUSH_ALLOWED_ADDRESSES ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of pushAllowedAddresses) {
    if (!isAddressOrRange(entry)) {
      problems.push(`CHATTERBOX_PUSH_ALLOWED_ADDRESSES entry "${entry}" must be an IP address or CIDR range such as 127.0.0.1/32`);
    }
  }
  const vapidPublicKey = env.CHATTERBOX_VAPID_PUBLIC_KEY ?? '';
  const vapidPrivateKey = env.CHATTERBOX_VAPID_PRIVATE_KEY ?? '';
  if ((vapidPublicKey === '') !== (vapidPrivateKey === '')) {
    problems.push('CHATTERBOX_VAPID_PUBLIC_KEY and CHATTERBOX_VAPID_PRIVATE_KEY must be set together');
  }
  const vapidSubject = env.CHATTERBOX_VAPID_SUBJECT || DEFAULTS.push.vapidSubject;
  if (!/^(mailto:|https:\/\/)\S+$/.test(vapidSubject)) {
    problems.push(`CHATTERBOX_VAPID_SUBJECT must be a mailto: or https:// URL, got "${vapidSubject}"`);
  }

  const config = buildConfig({
    host: env.HOST || DEFAULTS.host,
    port,
    dataDir: path.resolve(env.CHATTERBOX_DATA_DIR || DEFAULTS.dataDir),
    databaseUrl: env.DATABASE_URL ?? '',
    databaseSchema: env.CHATTERBOX_DATABASE_SCHEMA ?? '',
    databasePoolSize: integer('CHATTERBOX_DATABASE_POOL_SIZE', DEFAULTS.databasePoolSize, 1),
    redisUrl: env.REDIS_URL ?? '',
    redisKeyPrefix: env.CHATTERBOX_REDIS_KEY_PREFIX || DEFAULTS.redisKeyPrefix,
    logLevel: LOG_LEVELS.includes(logLevel) ? logLevel : DEFAULTS.logLevel,
    allowedOrigins: origins,
    trustedProxies,
    sessionTtlMs: integer('CHATTERBOX_SESSION_TTL_MS', DEFAULTS.sessionTtlMs, 60_000),
    authCacheTtlMs: integer('CHATTERBOX_AUTH_CACHE_TTL_MS', DEFAULTS.authCacheTtlMs, 0),
    maxBodyBytes: integer('CHATTERBOX_MAX_BODY_BYTES', DEFAULTS.maxBodyBytes, 1024),
    ws: {
      maxFrameBytes: integer('CHATTERBOX_WS_MAX_FRAME_BYTES', DEFAULTS.ws.maxFrameBytes, 1024),
      maxBufferedBytes: integer('CHATTERBOX_WS_MAX_BUFFERED_BYTES', DEFAULTS.ws.maxBufferedBytes, 64 * 1024),
      heartbeatIntervalMs: integer('CHATTERBOX_WS_HEARTBEAT_MS', DEFAULTS.ws.heartbeatIntervalMs, 1000),
      helloTimeoutMs: DEFAULTS.ws.helloTimeoutMs,
      compression: flag('CHATTERBOX_WS_COMPRESSION', DEFAULTS.ws.compression),
      maxConnectionsPerUser: integer('CHATTERBOX_WS_MAX_CONNECTIONS_PER_USER', DEFAULTS.ws.maxConnectionsPerUser, 1),
    },
    metrics: flag('CHATTERBOX_METRICS', DEFAULTS.metrics),
    presence: {
      idleTimeoutMs: integer('CHATTERBOX_PRESENCE_IDLE_MS', DEFAULTS.presence.idleTimeoutMs, 1000),
      offlineGraceMs: integer('CHATTERBOX_PRESENCE_OFFLINE_GRACE_MS', DEFAULTS.presence.offlineGraceMs, 0),
    },
    push: {
      vapidPublicKey,
      vapidPrivateKey,
      vapidSubject,
      allowedAddresses: pushAllowedAddresses,
      caFile: env.CHATTERBOX_PUSH_CA_FILE ? path.resolve(env.CHATTERBOX_PUSH_CA_FILE) : '',
    },
    jobs: { enabled: flag('CHATTERBOX_JOB_RUNNER', DEFAULTS.jobs.enabled) },
    rateLimits: {
      loginPerAddressPerMinute: integer('CHATTERBOX_LOGIN_LIMIT_PER_ADDRESS', DEFAULTS.rateLimits.loginPerAddressPerMinute, 1),
      loginPerAccountPerMinute: integer('CHATTERBOX_LOGIN_LIMIT_PER_ACCOUNT', DEFAULTS.rateLimits.loginPerAccountPerMinute, 1),
      registrationsPerAddressPerHour: integer('CHATTERBOX_REGISTER_LIMIT_PER_ADDRESS', DEFAULTS.rateLimits.registrationsPerAddressPerHour, 1),
      postsPerUserPerMinute: integer('CHATTERBOX_POST_LIMIT_PER_USER', DEFAULTS.rateLimits.postsPerUserPerMinute, 1),
      postsPerAddressPerMinute: integer('CHATTERBOX_POST_LIMIT_PER_ADDRESS', DEFAULTS.rateLimits.postsPerAddressPerMinute, 1),
    },
  });

  if (problems.length > 0) {
    throw new Error(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return config;
}

/** True for an IP address or a CIDR range such as 10.0.0.0/8. */
function isAddressOrRange(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/');
  const prefixValid = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= 128);
  return net.isIP(address ?? '') !== 0 && prefixValid && rest.length === 0;
}
