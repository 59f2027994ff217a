import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/assertions.js';
import { buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import WebSocket from 'ws';
import { listen, settle, waitUntil } from '../helpers/realtime.js';
import { postMessageWithRetry } from '../../src/client/post.js';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

// PostgreSQL is a separate server that can go away; the embedded SQLite store cannot.
describe.runIf(TEST_DATABASE_URL !== undefined)('PostgreSQL outage', () => {
  let proxy: TcpProxy;
  let server: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let team: TestTeam;

  beforeAll(async () => {
    const target = new URL(TEST_DATABASE_URL as string);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    server = await startServer({ databaseUrl: proxy.url(TEST_DATABASE_URL as string) });
    alice = await buildUser(server.url, 'alice');
    bob = await buildUser(server.url, 'bob');
    team = await buildTeam(alice, [bob]);
  });

  afterAll(async () => {
    proxy.restore();
    await server?.close();
    await proxy?.close();
  });

  it('answers 503 while the database is down and recovers by itself, losing nothing', async () => {
    const listener = await listen(server.wsUrl, bob.token);
    await alice.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'before', client_msg_id: 'm-before' });
    await listener.waitFor((events) => events.some((e) => e.event === 'message.posted'));

    proxy.cut();
    // Sessions are cached for a moment; a fresh login must reach the database.
    const login = await alice.api.raw('POST', '/api/auth/login', { login: alice.username, password: 'correct horse battery' });
    expectError(login, 503, 'UNAVAILABLE');
    expect(login.headers.get('retry-after')).not.toBeNull();
    const post = await alice.api.raw('POST', `/api/conversations/${team.generalId}/messages`, { text: 'during', client_msg_id: 'm-during' });
    expectError(post, 503, 'UNAVAILABLE');
    expectError(await alice.api.raw('GET', '/readyz'), 503, 'UNAVAILABLE');
    expect((await alice.api.raw('GET', '/healthz')).status).toBe(200);
    // Once the cached session expires, a new socket is refused with 503 rather than 500.
    await settle(server.server.ctx.config.authCacheTtlMs + 100);
    expect(await upgradeStatus(server.wsUrl, bob.token)).toBe(503);

    // The client's post helper retries the 503s with one key until the database is back.
    const retried: string[] = [];
    const retrying = postMessageWithRetry(alice.api, team.generalId, { text: 'during', client_msg_id: 'm-during' }, {
      baseDelayMs: 100,
      maxDelayMs: 300,
      maxAttempts: 200,
      onRetry: (_attempt, reason) => retried.push(reason),
    });
    await waitUntil(() => retried.length >= 2, 5000, 'the post helper to retry');
    proxy.restore();
    let ready = 0;
    const deadline = Date.now() + 15_000;
    while (ready !== 200 && Date.now() < deadline) {
      ready = (await alice.api.raw('GET', '/readyz')).status;
      if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(ready).toBe(200);

    const retried503 = await retrying;
    expect(retried503.created).toBe(true);
    expect(new Set(retried)).toEqual(new Set(['503 UNAVAILABLE']));
    // A further retry with the same key finds the stored message.
    await alice.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'during', client_msg_id: 'm-during' });
    await alice.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'after', client_msg_id: 'm-after' });

    const page = await bob.api.get<{ messages: Array<{ text: string }> }>(`/api/conversations/${team.generalId}/messages`);
    expect(page.messages.map((m) => m.text).filter((t) => t !== '').sort()).toEqual(['after', 'before', 'during']);
    await listener.waitFor((events) => events.filter((e) => e.event === 'message.posted').length === 3, 10_000);
    expect(listener.client.duplicates).toBe(0);
    listener.client.stop();
  });
});

function upgradeStatus(wsUrl: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
    socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('error', reject);
  });
}
