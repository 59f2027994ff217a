import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** A ChatterBox node in a child process of its own, so a test can kill it outright. */
export interface NodeProcess {
  url: string;
  wsUrl: string;
  child: ChildProcess;
  /** Log lines the node printed, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Kills with SIGKILL: no shutdown code runs, as on a crashed machine. */
  kill(): Promise<void>;
  /** Stops with SIGTERM and waits for the graceful shutdown. */
  stop(): Promise<number | null>;
}

/**
 * Starts `src/server.ts` (through tsx, so no build is needed) with the given
 * environment on an ephemeral port, and resolves once it logs its address.
 */
export async function startNodeProcess(env: Record<string, string>): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/server.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });

  const url = await new Promise<string>((resolve, reject) => {
    // Loading the server through tsx takes about 4 s of CPU, and far longer on a machine shared with other jobs.
    const timer = setTimeout(() => {
      // A node that starts after the caller gave up would otherwise outlive the test run.
      child.kill('SIGKILL');
      reject(new Error(`node did not start within 60 s: ${stderr}`));
    }, 60_000);
    void exited.then((code) => reject(new Error(`node exited with ${code} before starting: ${stderr}`)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'ChatterBox started' && typeof entry.url === 'string') {
        clearTimeout(timer);
        resolve(entry.url);
      }
    });
  });

  return {
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/api/realtime',
    child,
    logs,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
