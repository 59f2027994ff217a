/**
 * The smoke run, started by `npm run smoke`. It starts the built server the
 * way an operator would: `node dist/src/server.js` with PORT and
 * CHATTERBOX_DATA_DIR set. It replays the shipped IRC sample through that
 * server with one account and one WebSocket per author, checks every
 * delivery, and prints counts, latency and throughput. Then it stops the
 * server with SIGTERM. The exit code is 1 when any check fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { findFreePort } from './lib/ports.js';
import { defaultFixtureDir, replayConversation, type ReplayResult } from './smoke-replay.js';

const READY_TIMEOUT_MS = 15_000;
/** Longer than the server's default shutdown grace (10 s), so its own forced exit shows as exit code 1. */
const EXIT_TIMEOUT_MS = 15_000;
/** pino's numeric levels for warn and error. */
const PINO_WARN_LEVEL = 40;
const PINO_ERROR_LEVEL = 50;
const LOG_TAIL_LINES = 30;

interface RunningServer {
  child: ChildProcess;
  url: string;
  dataDir: string;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function main(): Promise<number> {
  const fixtureDir = defaultFixtureDir();
  const repositoryRoot = path.resolve(fixtureDir, '..', '..', '..');
  const server = await startServer(path.join(repositoryRoot, 'dist', 'src', 'server.js'));
  console.log(`server: ${server.url} (pid ${server.child.pid}), data in ${server.dataDir}`);
  console.log(`fixture: ${path.relative(repositoryRoot, fixtureDir)}`);

  const failures: string[] = [];
  let result: ReplayResult | undefined;
  try {
    result = await replayConversation(server.url, `${server.url.replace(/^http/, 'ws')}/api/realtime`, fixtureDir, {
      log: (line) => console.log(`  ${line}`),
    });
    failures.push(...result.failures);
  } catch (error) {
    failures.push(`replay stopped: ${(error as Error).stack ?? String(error)}`);
  }

  failures.push(...(await stopServer(server)));
  failures.push(...checkServerLog(server.logFile));

  if (result !== undefined) printResult(result);
  if (failures.length > 0) {
    console.error(`\nSMOKE FAILED: ${failures.length} problems`);
    for (const failure of failures.slice(0, 50)) console.error(`  - ${failure}`);
    if (failures.length > 50) console.error(`  ... and ${failures.length - 50} more`);
    console.error(`\nserver log kept at ${server.logFile}; last ${LOG_TAIL_LINES} lines:`);
    console.error(tail(server.logFile, LOG_TAIL_LINES));
    return 1;
  }

  fs.rmSync(server.dataDir, { recursive: true, force: true });
  console.log('\nSMOKE PASSED');
  return 0;
}

/** Starts the built server on a free port with a fresh data folder and waits until /readyz returns 200. */
async function startServer(entryPoint: string): Promise<RunningServer> {
  if (!fs.existsSync(entryPoint)) throw new Error(`${entryPoint} not found: run "npm run build" first`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-smoke-'));
  const logFile = path.join(dataDir, 'server.log');
  const port = await findFreePort();

  const log = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [entryPoint], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      CHATTERBOX_DATA_DIR: dataDir,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
      // Every person of the conversation registers from this one address.
      CHATTERBOX_REGISTER_LIMIT_PER_ADDRESS: '100000',
    },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((value) => {
    exit = value;
  });
  while (!(await isReady(url))) {
    if (exit !== undefined) throw new Error(`The server exited with code ${exit.code} before it was ready:\n${tail(logFile, LOG_TAIL_LINES)}`);
    if (performance.now() - started > READY_TIMEOUT_MS) {
      child.kill('SIGKILL');
      throw new Error(`Timed out after ${READY_TIMEOUT_MS} ms waiting for ${url}/readyz to return 200:\n${tail(logFile, LOG_TAIL_LINES)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  console.log(`server ready in ${Math.round(performance.now() - started)} ms`);
  return { child, url, dataDir, logFile, exited };
}

async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/readyz`);
    return response.status === 200;
  } catch {
    return false;
  }
}

/** Sends SIGTERM and returns a failure unless the server exits by itself with code 0. */
async function stopServer(server: RunningServer): Promise<string[]> {
  const started = performance.now();
  server.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), EXIT_TIMEOUT_MS);
  });
  const exit = await Promise.race([server.exited, timeout]);
  clearTimeout(timer);

  if (exit === undefined) {
    server.child.kill('SIGKILL');
    return [`the server did not exit within ${EXIT_TIMEOUT_MS} ms of SIGTERM`];
  }
  const durationMs = Math.round(performance.now() - started);
  if (exit.code !== 0) return [`the server exited with code ${exit.code} (signal ${exit.signal}) after SIGTERM, expected 0`];
  console.log(`server stopped on SIGTERM with exit code 0 in ${durationMs} ms`);
  return [];
}

/** Counts the server's pino log lines by level and returns one failure per error-level line. */
function checkServerLog(logFile: string): string[] {
  const failures: string[] = [];
  const warnings: string[] = [];
  let lines = 0;
  for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
    if (line === '') continue;
    lines += 1;
    let entry: { level?: number; msg?: string; component?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      failures.push(`server wrote a line that is not JSON: ${line.slice(0, 200)}`);
      continue;
    }
    const where = `${entry.component ?? 'no component'}: ${entry.msg}`;
    if ((entry.level ?? 0) >= PINO_ERROR_LEVEL) failures.push(`server logged an error (${where})`);
    else if ((entry.level ?? 0) >= PINO_WARN_LEVEL) warnings.push(where);
  }
  console.log(`server log: ${lines} lines, ${warnings.length} warnings, ${failures.length} errors or unparsable lines`);
  for (const warning of warnings.slice(0, 5)) console.log(`  warning: ${warning}`);
  return failures;
}

function printResult(result: ReplayResult): void {
  const { counts, latencyMs } = result;
  console.log('');
  console.log(`users ${counts.users}, channels ${counts.channels}, messages ${counts.messages} (replies ${counts.replies}), edits ${counts.edits}, deletes ${counts.deletes}`);
  console.log(
    `deliveries: message.posted ${counts.deliveries}, message.edited ${counts.editDeliveries}, message.deleted ${counts.deleteDeliveries}`,
  );
  console.log(
    `latency from POST start to message.posted on each member's socket: p50 ${latencyMs.p50} ms, p95 ${latencyMs.p95} ms, p99 ${latencyMs.p99} ms, max ${latencyMs.max} ms`,
  );
  console.log(
    `throughput: ${result.messagesPerSecond.toFixed(1)} messages/s posted one at a time (${result.postSeconds.toFixed(2)} s), ${Math.round(result.deliveriesPerSecond)} deliveries/s`,
  );
  console.log(`checks: ${result.checks.join('; ')}`);
}

function tail(file: string, lines: number): string {
  if (!fs.existsSync(file)) return '(no log)';
  return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`SMOKE FAILED: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
