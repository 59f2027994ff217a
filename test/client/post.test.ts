import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient, ApiError } from '../../src/client/api.js';
import { postMessageWithRetry } from '../../src/client/post.js';
import { buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

let server: TestServer;
let proxy: TcpProxy;
let alice: TestUser;
let team: TestTeam;

beforeAll(async () => {
  server = await startServer();
  const target = new URL(server.url);
  proxy = await startTcpProxy(target.hostname, Number(target.port));
  alice = await buildUser(server.url, 'alice');
  team = await buildTeam(alice);
});

afterAll(async () => {
  await proxy?.close();
  await server?.close();
});

test('retries refused connections with one key', async () => {
  const api = new ApiClient(proxy.url(server.url), alice.token);
  const reasons: string[] = [];
  proxy.cut();
  setTimeout(() => proxy.restore(), 300);

  const result = await postMessageWithRetry<{ text: string; client_msg_id: string }>(api, team.generalId, { text: 'refused first' }, {
    baseDelayMs: 100,
    maxAttempts: 20,
    onRetry: (_attempt, reason) => reasons.push(reason),
  });

  expect(reasons.length).toBeGreaterThan(0);
  expect(new Set(reasons)).toEqual(new Set(['TypeError']));
  expect(result.attempts).toBe(reasons.length + 1);
  expect(result.created).toBe(true);
  expect(result.message.client_msg_id).toBe(result.clientMsgId);
});

test('gives up after the last attempt', async () => {
  const api = new ApiClient(proxy.url(server.url), alice.token);
  proxy.cut();
  try {
    await expect(postMessageWithRetry(api, team.generalId, { text: 'never' }, { baseDelayMs: 10, maxAttempts: 3 })).rejects.toBeInstanceOf(TypeError);
  } finally {
    proxy.restore();
  }
});

test('rejected post is not retried', async () => {
  const reasons: string[] = [];
  const attempt = postMessageWithRetry(alice.api, team.generalId, { text: ' ' }, { onRetry: (_attempt, reason) => reasons.push(reason) });

  const error = await attempt.catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ApiError);
  expect((error as ApiError).status).toBe(400);
  expect(reasons).toEqual([]);
});

test('repeated key returns the stored message', async () => {
  const first = await postMessageWithRetry<{ id: string }>(alice.api, team.generalId, { text: 'once', client_msg_id: 'post-once' });
  const second = await postMessageWithRetry<{ id: string }>(alice.api, team.generalId, { text: 'once', client_msg_id: 'post-once' });

  expect(first.created).toBe(true);
  expect(second.created).toBe(false);
  expect(second.message.id).toBe(first.message.id);
});
