import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { listen, waitUntil } from '../helpers/realtime.js';
import { dropSchema, runSql, TEST_DATABASE_URL, withSchemaLock } from '../helpers/server.js';

/** A bound well under the node's own 10 s limit: a node with one socket and one request has nothing slow to wait for. */
const SHUTDOWN_BOUND_MS = 5000;

describe('graceful shutdown on SIGTERM', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-shutdown-'));
  const schema = `cbtest_${randomBytes(8).toString('hex')}`;
  let node: NodeProcess | undefined;

  afterAll(async () => {
    if (node !== undefined && node.child.exitCode === null && node.child.signalCode === null) await node.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (TEST_DATABASE_URL !== undefined) await dropSchema(schema);
  });

  // The 90 s timeout leaves room for starting a node process on a busy machine.
  it('drains, finishes requests, exits 0', async () => {
    if (TEST_DATABASE_URL !== undefined) await runSql(`CREATE SCHEMA ${schema}`);
    const env = {
      CHATTERBOX_DATA_DIR: dataDir,
      ...(TEST_DATABASE_URL !== undefined && { DATABASE_URL: TEST_DATABASE_URL, CHATTERBOX_DATABASE_SCHEMA: schema }),
    };
    // The node runs the migrator, which must not overlap another worker's schema drop.
    node = TEST_DATABASE_URL === undefined ? await startNodeProcess(env) : await withSchemaLock(() => startNodeProcess(env));
    const alice = await buildUser(node.url, 'alice');
    const bob = await buildUser(node.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const bobSocket = await listen(node.wsUrl, bob.token, { reconnect: false });

    // A request whose body is half sent when the signal arrives is in flight for the whole shutdown.
    const inFlight = startSlowPost(node.url, `/api/conversations/${team.generalId}/messages`, alice.token, { text: 'in flight', client_msg_id: 'in-flight' });
    await inFlight.headersSent;
    const exited = new Promise<number | null>((resolve) => node?.child.once('exit', (code) => resolve(code)));
    const signalledAt = Date.now();
    node.child.kill('SIGTERM');

    await waitUntil(() => bobSocket.closes.length > 0, SHUTDOWN_BOUND_MS, 'the socket to be closed by the server');
    const refused = await waitForRefusal(node.url, SHUTDOWN_BOUND_MS);
    inFlight.finish();
    const response = await inFlight.response;
    const code = await exited;
    const shutdownMs = Date.now() - signalledAt;

    // 1001 means the node is going away, so they reconnect to another one and resume.
    expect(bobSocket.closes[0]?.code).toBe(1001);
    expect(refused).toBe(true);
    expect(response.status).toBe(201);
    expect(JSON.parse(response.body).text).toBe('in flight');
    expect(code).toBe(0);
    expect(shutdownMs).toBeLessThan(SHUTDOWN_BOUND_MS);
  }, 90_000);
});

interface SlowPost {
  headersSent: Promise<void>;
  finish(): void;
  response: Promise<{ status: number; body: string }>;
}

/** Sends the headers and the first half of a JSON body now, and the rest on finish(). */
function startSlowPost(baseUrl: string, path: string, token: string, body: unknown): SlowPost {
  const payload = Buffer.from(JSON.stringify(body));
  const half = Math.floor(payload.length / 2);
  const request = http.request(`${baseUrl}${path}`, {
    method: 'POST',
    agent: false,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': payload.length },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.on('error', reject);
    request.on('response', (incoming) => {
      let text = '';
      incoming.on('data', (chunk: Buffer) => (text += chunk.toString()));
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, body: text }));
    });
  });
  // The pause gives the node time to parse the headers and route the request before the signal.
  const headersSent = new Promise<void>((resolve) => request.write(payload.subarray(0, half), () => setTimeout(resolve, 100)));
  return { headersSent, finish: () => request.end(payload.subarray(half)), response };
}

/** Returns whether new connections to the node are refused within the timeout, polling every 20 ms. */
async function waitForRefusal(baseUrl: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const refused = await new Promise<boolean>((resolve) => {
      const request = http.get(`${baseUrl}/healthz`, { agent: false }, (incoming) => {
        incoming.resume();
        resolve(false);
      });
      request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    if (refused) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}
