import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { findFreePort } from '../../scripts/lib/ports.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** True when Debian's haproxy package (or another haproxy binary) is on the PATH. */
export const HAPROXY_INSTALLED = spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;

export interface Haproxy {
  url: string;
  wsUrl: string;
  process: ChildProcess;
  /** Health of each server by HAProxy's checks (UP, DOWN, MAINT, or a transition such as "DOWN 1/2"), by name: node1, node2... */
  serverStatus(): Promise<Map<string, string>>;
  close(): Promise<void>;
}

/**
 * Runs HAProxy with the shipped deploy/haproxy.cfg in front of nodes on the
 * given ports. Only what a test on one machine needs changes: the listening
 * address, the runtime socket's path, the connection limits (the shipped ones
 * need an open-file limit of about 400,000) and the server lines.
 */
export async function startHaproxy(nodePorts: number[]): Promise<Haproxy> {
  const port = await findFreePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-haproxy-'));
  const shipped = fs.readFileSync(path.join(ROOT, 'deploy/haproxy.cfg'), 'utf8');
  const servers = nodePorts.map((nodePort, index) => `    server node${index + 1} 127.0.0.1:${nodePort}`).join('\n');
  const config = shipped
    .replace(/^ {4}bind :8080$/m, `    bind 127.0.0.1:${port}`)
    .replace(/^ {4}stats socket \S+/m, `    stats socket ${path.join(dir, 'admin.sock')}`)
    .replace(/^ {4}maxconn 200000$/m, '    maxconn 2000')
    .replace(/^ {4}maxconn 190000$/m, '    maxconn 1900')
    .replace(/^ {4}server node.*(\n {4}server node.*)*/m, servers);
  const configFile = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(configFile, config);

  // HAProxy logs each request to stdout; HAPROXY_LOG_FILE keeps them for a look at its timers.
  const logTarget = process.env.HAPROXY_LOG_FILE ? fs.openSync(process.env.HAPROXY_LOG_FILE, 'a') : 'ignore';
  const child = spawn('haproxy', ['-f', configFile, '-db'], { stdio: ['ignore', logTarget, 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port, 5000).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`haproxy did not start: ${(error as Error).message}: ${stderr}`);
  });

  const url = `http://127.0.0.1:${port}`;
  const adminSocket = path.join(dir, 'admin.sock');
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}/api/realtime`,
    process: child,
    serverStatus: () => readServerStatus(adminSocket),
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Reads `show stat` from the runtime API and returns the status column of each server of the backend. */
async function readServerStatus(adminSocket: string): Promise<Map<string, string>> {
  const csv = await new Promise<string>((resolve, reject) => {
    let text = '';
    const socket = net.connect(adminSocket, () => socket.end('show stat\n'));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  // The first line is the header, "# pxname,svname,...", naming the columns.
  const [header = '', ...rows] = csv.trim().split('\n');
  const columns = header.replace(/^# /, '').split(',');
  const name = columns.indexOf('svname');
  const status = columns.indexOf('status');
  const servers = new Map<string, string>();
  for (const row of rows) {
    const fields = row.split(',');
    if (fields[0] !== 'chatterbox' || fields[name] === 'BACKEND') continue;
    servers.set(fields[name] as string, fields[status] as string);
  }
  return servers;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
}
