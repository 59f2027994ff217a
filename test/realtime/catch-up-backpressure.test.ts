import WebSocket from 'ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { waitUntil } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * A client that comes back to a backlog larger than the socket's send limit
 * catches up without being closed as a slow consumer: the server pauses the
 * catch-up while the client reads. The backlog (about 12 MB) is larger than
 * what loopback TCP absorbs in the kernel (4 to 6 MB on Linux), so the
 * server's own queue would pass the 64 KiB limit without the pause.
 */

const MESSAGES = 400;
const TEXT_CHARS = 30_000;

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ ws: { maxBufferedBytes: 64 * 1024 }, rateLimits: { postsPerUserPerMinute: 100_000 } });
});
afterAll(async () => server.close());

interface Frame {
  type: string;
  stream?: string;
  seq?: number;
  event?: string;
  streams?: Record<string, number>;
}

async function openSocket(token: string, positions: Record<string, number>) {
  const ws = new WebSocket(server.wsUrl, { headers: { authorization: `Bearer ${token}` } });
  const frames: Frame[] = [];
  const closes: number[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame));
  ws.on('close', (code) => closes.push(code));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'hello', positions }));
  await waitUntil(() => frames.some((frame) => frame.type === 'ready') || closes.length > 0, 5000, 'ready');
  return { ws, frames, closes };
}

test('long backlog catches up without a drop', { timeout: 120_000 }, async () => {
  const ada = await buildUser(server.url, 'ada');
  const bob = await buildUser(server.url, 'bob');
  const team = await buildTeam(ada, [bob]);
  const channel = await ada.api.post<{ id: string }>(`/api/teams/${team.id}/channels`, { name: 'backlog' });
  await bob.api.post(`/api/conversations/${channel.id}/join`);
  const stream = `c:${channel.id}`;

  const first = await openSocket(bob.token, {});
  const head = first.frames.find((frame) => frame.type === 'ready')!.streams![stream]!;
  first.ws.close();

  for (let sent = 0; sent < MESSAGES; sent += 8) {
    await Promise.all(
      Array.from({ length: 8 }, (_unused, index) => ada.api.post(`/api/conversations/${channel.id}/messages`, { text: `${sent + index} ${'x'.repeat(TEXT_CHARS)}` })),
    );
  }

  const back = await openSocket(bob.token, { [stream]: head });
  const posted = () => back.frames.filter((frame) => frame.stream === stream && frame.event === 'message.posted');
  await waitUntil(() => posted().length >= MESSAGES || back.closes.length > 0, 90_000, 'the backlog to arrive');

  expect(back.closes).toEqual([]);
  const seqs = posted().map((frame) => frame.seq!);
  expect(seqs).toHaveLength(MESSAGES);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(new Set(seqs).size).toBe(MESSAGES);
  back.ws.close();
});
