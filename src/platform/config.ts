import net from 'node:net';
import path from 'node:path';
import { readSecuritySettings } from './security-config.js';

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
  /** Bytes of encoded latest history pages a node keeps, one per conversation; 0 turns the cache off. */
  historyCacheBytes: number;
  /** Maximum time a node serves a cached page, which bounds how long another node's retention purge goes unseen. */
  historyCacheMaxAgeMs: number;
  maxBodyBytes: number;
  maxMessageChars: number;
  maxGroupDmMembers: number;
  ws: {
    maxFrameBytes: number;
    /** Bytes queued for one socket before the server drops it as a slow reader. */
    maxBufferedBytes: number;
    /** Bytes queued across all sockets of the node before the most backed-up ones are dropped. */
    maxTotalBufferedBytes: number;
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
  /** PEM certificate chain and private key files; both empty serves plain HTTP. */
  tls: { certFile: string; keyFile: string; reloadCheckIntervalMs: number };
  /** Passphrase that encrypts the SQLite file; empty leaves it unencrypted. */
  databaseKey: string;
  /** Usernames of the server admins; empty makes the first registered user the only one. */
  adminUsers: string[];
  /** Exponential backoff after failed logins: see src/accounts/login-throttle.ts. */
  loginThrottle: {
    /** Failures from one address on one account before the backoff starts. */
    freeFailuresPerAccountAddress: number;
    /** Failures on one account from all addresses before the backoff starts. */
    freeFailuresPerAccount: number;
    /** Failures from one address on all accounts before the backoff starts. */
    freeFailuresPerAddress: number;
    /** Longest delay for one account and address, and for one address. */
    maxDelaySeconds: number;
    /** Longest delay for one account from all addresses; kept short because anyone can cause it. */
    maxAccountDelaySeconds: number;
    /** Failure counts are forgotten this long after the first failure they count. */
    windowSeconds: number;
  };
  /** Folder of the built web client, served at /; empty selects dist/web of the installation. */
  webDir: string;
  /**
   * Largest Slack export day file that an import parses whole with JSON.parse. Larger ones are
   * read entry by entry, which takes about twice the CPU but keeps memory bounded.
   */
  slackImportWholeFileMaxBytes: number;
  slackFiles: SlackFilesConfig;
  files: FilesConfig;
  presence: PresenceConfig;
  push: PushConfig;
  jobs: JobsConfig;
}

/**
 * Downloads of file bytes that a Slack import makes with a token its starter
 * supplies. The token is sent only to these hosts, over https.
 */
export interface SlackFilesConfig {
  /** Host names (with `:port` when not 443) that file URLs may name; others are not fetched. */
  hosts: string[];
  /** Addresses or CIDR ranges the hosts may resolve to although they are loopback, private or link-local. */
  allowedAddresses: string[];
  /** PEM file of extra certificate authorities trusted for the hosts, besides Node's defaults. */
  caFile: string;
  /** Time limit of one file's download, from the request to its last byte. */
  timeoutMs: number;
}

/** Where shared files are stored and how they are encrypted. */
export interface FilesConfig {
  /** `local` keeps blobs under dataDir/files; `s3` keeps them in an S3-compatible bucket. */
  store: 'local' | 's3';
  s3: {
    bucket: string;
    region: string;
    /** Endpoint URL of MinIO or another S3-compatible server; empty uses AWS. */
    endpoint: string;
    /** Empty uses the AWS default credential chain. */
    accessKeyId: string;
    secretAccessKey: string;
    forcePathStyle: boolean;
  };
  /** Base64 of the 32-byte master key; empty uses dataDir/file-master.key, generated on first start. */
  masterKey: string;
  /** Earlier master keys, base64, kept to read files until rotate-file-key re-wrapped them. */
  previousMasterKeys: string[];
  /** Largest file a user may upload. */
  maxFileBytes: number;
  /** Time between orphan sweeps; the first sweep runs at start. 0 turns sweeping off. */
  sweepIntervalMs: number;
  /** Age a blob without a files row, or a stale staging area, must reach before the sweep deletes it. */
  orphanGraceMs: number;
  /** Time a resumable upload may take from creation to its last byte; after it the upload expires. */
  uploadExpiryMs: number;
  /** Largest image that gets a thumbnail; the thumbnailer keeps the whole image in memory while it works. */
  thumbnailMaxInputBytes: number;
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
  // About 650 pages of 50 messages of 1 KB.
  historyCacheBytes: 32 * 1024 * 1024,
  historyCacheMaxAgeMs: 60 * 1000,
  maxBodyBytes: 1024 * 1024,
  maxMessageChars: 40_000,
  maxGroupDmMembers: 9,
  ws: {
    maxFrameBytes: 64 * 1024,
    maxBufferedBytes: 4 * 1024 * 1024,
    maxTotalBufferedBytes: 64 * 1024 * 1024,
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
  tls: { certFile: '', keyFile: '', reloadCheckIntervalMs: 60_000 },
  databaseKey: '',
  adminUsers: [],
  loginThrottle: {
    freeFailuresPerAccountAddress: 5,
    freeFailuresPerAccount: 20,
    freeFailuresPerAddress: 50,
    maxDelaySeconds: 15 * 60,
    maxAccountDelaySeconds: 60,
    windowSeconds: 24 * 3600,
  },
  webDir: '',
  slackImportWholeFileMaxBytes: 8 * 1024 * 1024,
  slackFiles: { hosts: ['files.slack.com'], allowedAddresses: [], caFile: '', timeoutMs: 120_000 },
  files: {
    store: 'local',
    s3: { bucket: '', region: 'us-east-1', endpoint: '', accessKeyId: '', secretAccessKey: '', forcePathStyle: false },
    masterKey: '',
    previousMasterKeys: [],
    maxFileBytes: 1024 * 1024 * 1024,
    sweepIntervalMs: 3600 * 1000,
    // Far longer than the seconds between an upload's last write and its row insert, so an upload in flight is not swept.
    orphanGraceMs: 3600 * 1000,
    uploadExpiryMs: 24 * 3600 * 1000,
    thumbnailMaxInputBytes: 50 * 1024 * 1024,
  },
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
export type ConfigOverrides = Partial<Omit<Config, 'ws' | 'rateLimits' | 'tls' | 'loginThrottle' | 'slackFiles' | 'files' | 'presence' | 'push' | 'jobs'>> & {
  ws?: Partial<Config['ws']>;
  rateLimits?: Partial<Config['rateLimits']>;
  tls?: Partial<Config['tls']>;
  loginThrottle?: Partial<Config['loginThrottle']>;
  slackFiles?: Partial<SlackFilesConfig>;
  files?: Partial<Omit<FilesConfig, 's3'>> & { s3?: Partial<FilesConfig['s3']> };
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
    tls: { ...DEFAULTS.tls, ...overrides.tls },
    loginThrottle: { ...DEFAULTS.loginThrottle, ...overrides.loginThrottle },
    slackFiles: { ...DEFAULTS.slackFiles, ...overrides.slackFiles },
    files: {
      ...DEFAULTS.files,
      ...overrides.files,
      s3: { ...DEFAULTS.files.s3, ...overrides.files?.s3 },
    },
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

  const security = readSecuritySettings(env, problems);
  const files = readFilesConfig(env, problems, integer, flag);
  const pushAllowedAddresses = addressList(env, 'CHATTERBOX_PUSH_ALLOWED_ADDRESSES', problems);
  const slackFileHosts = (env.CHATTERBOX_SLACK_FILE_HOSTS ?? '')
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '');
  for (const entry of slackFileHosts) {
    if (!/^[a-z0-9.-]+(:\d{1,5})?$/.test(entry)) problems.push(`CHATTERBOX_SLACK_FILE_HOSTS entry "${entry}" must be a host name with an optional :port, such as files.slack.com`);
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
    ...security,
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
    historyCacheBytes: integer('CHATTERBOX_HISTORY_CACHE_BYTES', DEFAULTS.historyCacheBytes, 0),
    historyCacheMaxAgeMs: integer('CHATTERBOX_HISTORY_CACHE_MAX_AGE_MS', DEFAULTS.historyCacheMaxAgeMs, 1),
    maxBodyBytes: integer('CHATTERBOX_MAX_BODY_BYTES', DEFAULTS.maxBodyBytes, 1024),
    ws: {
      maxFrameBytes: integer('CHATTERBOX_WS_MAX_FRAME_BYTES', DEFAULTS.ws.maxFrameBytes, 1024),
      maxBufferedBytes: integer('CHATTERBOX_WS_MAX_BUFFERED_BYTES', DEFAULTS.ws.maxBufferedBytes, 64 * 1024),
      maxTotalBufferedBytes: integer('CHATTERBOX_WS_MAX_TOTAL_BUFFERED_BYTES', DEFAULTS.ws.maxTotalBufferedBytes, 64 * 1024),
      heartbeatIntervalMs: integer('CHATTERBOX_WS_HEARTBEAT_MS', DEFAULTS.ws.heartbeatIntervalMs, 1000),
      helloTimeoutMs: DEFAULTS.ws.helloTimeoutMs,
      compression: flag('CHATTERBOX_WS_COMPRESSION', DEFAULTS.ws.compression),
      maxConnectionsPerUser: integer('CHATTERBOX_WS_MAX_CONNECTIONS_PER_USER', DEFAULTS.ws.maxConnectionsPerUser, 1),
    },
    metrics: flag('CHATTERBOX_METRICS', DEFAULTS.metrics),
    webDir: env.CHATTERBOX_WEB_DIR ? path.resolve(env.CHATTERBOX_WEB_DIR) : DEFAULTS.webDir,
    slackImportWholeFileMaxBytes: integer('CHATTERBOX_SLACK_IMPORT_WHOLE_FILE_MAX_BYTES', DEFAULTS.slackImportWholeFileMaxBytes, 0),
    slackFiles: {
      hosts: slackFileHosts.length > 0 ? slackFileHosts : DEFAULTS.slackFiles.hosts,
      allowedAddresses: addressList(env, 'CHATTERBOX_SLACK_FILE_ALLOWED_ADDRESSES', problems),
      caFile: env.CHATTERBOX_SLACK_FILE_CA_FILE ? path.resolve(env.CHATTERBOX_SLACK_FILE_CA_FILE) : '',
      timeoutMs: integer('CHATTERBOX_SLACK_FILE_TIMEOUT_MS', DEFAULTS.slackFiles.timeoutMs, 1000),
    },
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
    loginThrottle: {
      freeFailuresPerAccountAddress: integer('CHATTERBOX_LOGIN_FREE_FAILURES', DEFAULTS.loginThrottle.freeFailuresPerAccountAddress, 1),
      maxDelaySeconds: integer('CHATTERBOX_LOGIN_MAX_DELAY_SECONDS', DEFAULTS.loginThrottle.maxDelaySeconds, 1),
    },
    files,
  });

  if (problems.length > 0) {
    throw new Error(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return config;
}

const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;

/** Reads the CHATTERBOX_FILE_* and CHATTERBOX_S3_* variables, adding every problem to the list. */
function readFilesConfig(
  env: NodeJS.ProcessEnv,
  problems: string[],
  integer: (name: string, fallback: number, min: number) => number,
  flag: (name: string, fallback: boolean) => boolean,
): FilesConfig {
  const defaults = DEFAULTS.files;
  const store = env.CHATTERBOX_FILE_STORE || defaults.store;
  if (store !== 'local' && store !== 's3') problems.push(`CHATTERBOX_FILE_STORE must be local or s3, got "${store}"`);

  const s3 = {
    bucket: env.CHATTERBOX_S3_BUCKET ?? '',
    region: env.CHATTERBOX_S3_REGION || defaults.s3.region,
    endpoint: env.CHATTERBOX_S3_ENDPOINT ?? '',
    accessKeyId: env.CHATTERBOX_S3_ACCESS_KEY_ID ?? '',
    secretAccessKey: env.CHATTERBOX_S3_SECRET_ACCESS_KEY ?? '',
    forcePathStyle: flag('CHATTERBOX_S3_FORCE_PATH_STYLE', defaults.s3.forcePathStyle),
  };
  if (store === 's3' && s3.bucket === '') problems.push('CHATTERBOX_S3_BUCKET is required when CHATTERBOX_FILE_STORE is s3');
  if (s3.endpoint !== '' && !/^https?:\/\/[^/]+\/?$/.test(s3.endpoint)) {
    problems.push(`CHATTERBOX_S3_ENDPOINT must look like https://host[:port], got "${s3.endpoint}"`);
  }
  if ((s3.accessKeyId === '') !== (s3.secretAccessKey === '')) {
    problems.push('CHATTERBOX_S3_ACCESS_KEY_ID and CHATTERBOX_S3_SECRET_ACCESS_KEY must be set together');
  }

  // Key values never appear in a problem message.
  const masterKey = (env.CHATTERBOX_FILE_KEY ?? '').trim();
  if (masterKey !== '' && !BASE64_KEY.test(masterKey)) {
    problems.push('CHATTERBOX_FILE_KEY must be 32 bytes in base64 (44 characters, such as the output of "openssl rand -base64 32")');
  }
  const previousMasterKeys = (env.CHATTERBOX_FILE_PREVIOUS_KEYS ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
  previousMasterKeys.forEach((key, index) => {
    if (!BASE64_KEY.test(key)) problems.push(`CHATTERBOX_FILE_PREVIOUS_KEYS entry ${index + 1} must be 32 bytes in base64`);
  });
  if (previousMasterKeys.length > 0 && masterKey === '') {
    problems.push('CHATTERBOX_FILE_PREVIOUS_KEYS needs CHATTERBOX_FILE_KEY; with the generated key file, rotate-file-key keeps previous keys in that file');
  }

  return {
    store: store === 's3' ? 's3' : 'local',
    s3,
    masterKey,
    previousMasterKeys,
    maxFileBytes: integer('CHATTERBOX_MAX_FILE_BYTES', defaults.maxFileBytes, 0),
    sweepIntervalMs: integer('CHATTERBOX_FILE_SWEEP_INTERVAL_MS', defaults.sweepIntervalMs, 0),
    orphanGraceMs: integer('CHATTERBOX_FILE_ORPHAN_GRACE_MS', defaults.orphanGraceMs, 60_000),
    uploadExpiryMs: integer('CHATTERBOX_UPLOAD_EXPIRY_MS', defaults.uploadExpiryMs, 60_000),
    thumbnailMaxInputBytes: integer('CHATTERBOX_THUMBNAIL_MAX_BYTES', defaults.thumbnailMaxInputBytes, 0),
  };
}

/** True for an IP address or a CIDR range such as 10.0.0.0/8. */
/** Reads a comma-separated list of IP addresses and CIDR ranges, reporting each invalid entry. */
function addressList(env: NodeJS.ProcessEnv, name: string, problems: string[]): string[] {
  const entries = (env[name] ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of entries) {
    if (!isAddressOrRange(entry)) problems.push(`${name} entry "${entry}" must be an IP address or CIDR range such as 127.0.0.1/32`);
  }
  return entries;
}

function isAddressOrRange(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/');
  const prefixValid = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= 128);
  return net.isIP(address ?? '') !== 0 && prefixValid && rest.length === 0;
}
