import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findFreePort, SERVER_CORE, sleep, spawnNode, stopProcess, waitForLine } from './proc.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHATTERBOX_ENTRY = path.join(DIST, 'src', 'server.js');
export const RAW_WS_ENTRY = path.join(DIST, 'bench', 'raw-ws-server.js');
export const RAW_SQLITE_ENTRY = path.join(DIST, 'bench', 'raw-sqlite.js');
export const OBSERVER_ENTRY = path.join(DIST, 'bench', 'observer.js');
export const PRESENCE_SERVER_ENTRY = path.join(DIST, 'bench', 'presence-server.js');
export const RAW_REDIS_ENTRY = path.join(DIST, 'bench', 'raw-redis.js');

/** Rate limits high enough that no benchmark step meets them; the limits themselves are not under test. */
const UNLIMITED = String(1_000_000_000);

export interface RunningServer {
  kind: 'chatterbox' | 'raw';
  url: string;
  wsUrl: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface ChatterBoxOptions {
  dataDir: string;
  /** Folder for a V8 CPU profile of the whole server run, written when it stops. */
  cpuProfileDir?: string;
  /** Further environment variables, such as DATABASE_URL and REDIS_URL for a cluster node. */
  env?: NodeJS.ProcessEnv;
}

/** Creates an empty data folder under the system temp folder. */
export function makeDataDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `chatterbox-bench-${label}-`));
}

/** Starts `node dist/src/server.js` on the server core and waits for /healthz. */
export async function startChatterBox(options: ChatterBoxOptions): Promise<RunningServer> {
  const port = await findFreePort();
  const nodeArgs = options.cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`];
  const child = spawnNode(SERVER_CORE, [...nodeArgs, CHATTERBOX_ENTRY], {
    HOST: '127.0.0.1',
    PORT: String(port),
    CHATTERBOX_DATA_DIR: options.dataDir,
    LOG_LEVEL: 'warn',
    CHATTERBOX_POST_LIMIT_PER_USER: UNLIMITED,
    CHATTERBOX_POST_LIMIT_PER_ADDRESS: UNLIMITED,
    CHATTERBOX_LOGIN_LIMIT_PER_ADDRESS: UNLIMITED,
    CHATTERBOX_REGISTER_LIMIT_PER_ADDRESS: UNLIMITED,
    // The connection figures share a few accounts across thousands of sockets.
    CHATTERBOX_WS_MAX_CONNECTIONS_PER_USER: UNLIMITED,
    // The delivery scenario's overloaded probe steps queue far more than these limits for clients that
    // never reconnect, so later steps would lose the dropped sockets' deliveries. The raw server has no limit either.
    CHATTERBOX_WS_MAX_BUFFERED_BYTES: UNLIMITED,
    CHATTERBOX_WS_MAX_TOTAL_BUFFERED_BYTES: UNLIMITED,
    ...options.env,
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  child.stdout?.resume();

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ChatterBox exited with code ${child.exitCode} at start: ${stderr}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stopProcess(child);
      throw new Error(`ChatterBox did not respond on ${url}/healthz within 30 s: ${stderr}`);
    }
    await sleep(100);
  }

  return {
    kind: 'chatterbox',
    url,
    wsUrl: `ws://127.0.0.1:${port}/api/realtime`,
    pid: child.pid!,
    child,
    stop: () => stopProcess(child, 15_000),
  };
}

/** Starts the raw `ws` broadcast server on the server core. */
export async function startRawServer(): Promise<RunningServer> {
  const port = await findFreePort();
  const child = spawnNode(SERVER_CORE, [RAW_WS_ENTRY], { PORT: String(port) });
  child.stderr?.resume();
  await waitForLine(child, 'ready');
  child.stdout?.resume();
  return {
    kind: 'raw',
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/`,
    pid: child.pid!,
    child,
    stop: () => stopProcess(child),
  };
}
