import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

/** The core the server under test runs on; the load generator takes the other one. */
export const SERVER_CORE = 0;
export const CLIENT_CORE = 1;

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** True when taskset (util-linux) runs and the machine has at least two cores to pin to. */
export function canPin(): boolean {
  // os.cpus() counts every core, unlike availableParallelism(), which counts only the cores this process may run on.
  if (os.cpus().length < 2) return false;
  const probe = spawnSync('taskset', ['--version']);
  return probe.status === 0;
}

/** Re-runs this program pinned to the client core unless it already is; returns true when the caller should exit. */
export function pinSelfToClientCore(): boolean {
  if (process.env.BENCH_PINNED === '1' || !canPin()) return false;
  const result = spawnSync('taskset', ['-c', String(CLIENT_CORE), process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_PINNED: '1' },
  });
  process.exitCode = result.status ?? 1;
  return true;
}

/** Starts `node <args>` pinned to a core when pinning is possible; taskset execs node, so the pid is node's. */
export function spawnNode(core: number, args: string[], env: NodeJS.ProcessEnv = {}, stdin: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
  const command = canPin() ? 'taskset' : process.execPath;
  const commandArgs = canPin() ? ['-c', String(core), process.execPath, ...args] : args;
  return spawn(command, commandArgs, { env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] });
}

/** Resolves with the first stdout line that starts with `prefix`; rejects if the process exits or the timeout passes first. */
export function waitForLine(child: ChildProcess, prefix: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for "${prefix}" from pid ${child.pid}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((candidate) => candidate.startsWith(prefix));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve(line);
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pid ${child.pid} exited with code ${code} before printing "${prefix}"`));
    });
  });
}

/** Collects a child's whole stdout and resolves when it exits with code 0. */
export function collectOutput(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    let errors = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.once('exit', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`pid ${child.pid} exited with code ${code}: ${errors.trim().slice(0, 2000)}`));
    });
  });
}

/** Sends SIGTERM and waits for exit; sends SIGKILL after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** User plus system CPU time of a process so far, in ms, from /proc/<pid>/stat. */
export function readCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may itself contain spaces, start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Write system calls a process has made so far (write, writev, pwrite and the like), from the
 * `syscw` field of /proc/<pid>/io. For a server these are its socket writes and its database file
 * writes.
 */
export function readWriteSyscalls(pid: number): number {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  const match = /^syscw: (\d+)$/m.exec(io);
  if (match === null) throw new Error(`syscw missing from /proc/${pid}/io`);
  return Number(match[1]);
}

/** Reads a process's CPU time as readCpuMs does, or returns undefined when the process no longer exists. */
export function readCpuMsIfAlive(pid: number): number | undefined {
  try {
    return readCpuMs(pid);
  } catch {
    return undefined;
  }
}

/** Resident set size of a process, in bytes, from /proc/<pid>/status. */
export function readRssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`VmRSS missing from /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

export { findFreePort } from '../../scripts/lib/ports.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Busy CPU time of the whole machine so far (every core, all but idle and iowait), in ms, from /proc/stat. */
export function readMachineBusyMs(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Starts measuring CPU used by processes other than this one and `pids`
 * (such as a test suite started by someone else on the same machine).
 * The returned function gives that foreign use as a fraction of one core.
 */
export function startForeignCpuMeter(pids: readonly number[]): () => number {
  const startedAt = performance.now();
  const machineBefore = readMachineBusyMs();
  const ownBefore = process.cpuUsage();
  const pidsBefore = pids.map((pid) => readCpuMsIfAlive(pid) ?? 0);
  return () => {
    const elapsedMs = performance.now() - startedAt;
    const own = process.cpuUsage(ownBefore);
    // A process that exited meanwhile (a closed database connection) counts as having used nothing more.
    const pidsMs = pids.reduce((sum, pid, index) => sum + Math.max(0, (readCpuMsIfAlive(pid) ?? pidsBefore[index]!) - pidsBefore[index]!), 0);
    const foreignMs = readMachineBusyMs() - machineBefore - pidsMs - (own.user + own.system) / 1000;
    return Math.max(0, foreignMs) / Math.max(1, elapsedMs);
  };
}

/** Foreign CPU, as a fraction of one core, above which a measurement is repeated. */
export const MAX_FOREIGN_CPU = 0.1;

/**
 * Waits until other processes use under MAX_FOREIGN_CPU of a core for one
 * second, or `timeoutMs` passes; returns false on timeout.
 */
export async function waitForQuietMachine(pids: readonly number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let warned = false;
  while (Date.now() < deadline) {
    const meter = startForeignCpuMeter(pids);
    await sleep(1000);
    const foreign = meter();
    if (foreign < MAX_FOREIGN_CPU) return true;
    if (!warned) {
      process.stderr.write(`waiting for other processes to go idle (they use ${Math.round(foreign * 100)}% of a core)\n`);
      warned = true;
    }
  }
  return false;
}
