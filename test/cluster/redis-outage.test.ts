import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryChecker } from '../helpers/delivery-checker.js';
import { buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { listen, settle, waitUntil } from '../helpers/realtime.js';
import { TEST_REDIS_URL } from '../helpers/redis.js';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const OUTAGE_MS = 3000;

// Two nodes share data only through PostgreSQL, and events only through Redis.
describe.runIf(TEST_DATABASE_URL !== undefined && TEST_REDIS_URL !== undefined)('Redis outage between two nodes', () => {
  let proxy: TcpProxy;
  let nodeA: TestServer;
  let nodeB: TestServer;
  let alice: TestUser;
  let bob: TestUser;
  let team: TestTeam;

  beforeAll(async () => {
    const target = new URL(TEST_REDIS_URL as string);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 6379));
    const redisUrl = proxy.url(TEST_REDIS_URL as string);
    nodeA = await startServer({ redisUrl });
    nodeB = await startServer({ redisUrl, dataDir: nodeA.dataDir });
    alice = await buildUser(nodeA.url, 'alice');
    bob = await buildUser(nodeA.url, 'bob');
    team = await buildTeam(alice, [bob]);
  });

  afterAll(async () => {
    proxy?.restore();
    await nodeB?.close();
    await nodeA?.close();
    await proxy?.close();
  });

  it('keeps storing posts while Redis is down and delivers every one in order once it returns', async () => {
    const checker = new DeliveryChecker();
    const bobOnB = await listen(nodeB.wsUrl, bob.token, { member: checker.addMember('bob', [team.generalId], bob.api) });
    const posted = () => bobOnB.events.filter((event) => event.event === 'message.posted' && event.stream === `c:${team.generalId}`);
    const acknowledge = (message: { id: string; seq: number }) => checker.acknowledged({ conversationId: team.generalId, id: message.id, seq: message.seq });
    acknowledge(await alice.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'before' }));
    await waitUntil(() => posted().length === 1, 5000, 'the first message on node B');

    proxy.cut();
    await waitUntil(() => !nodeA.server.ctx.bus.isConnected() && !nodeB.server.ctx.bus.isConnected(), 5000, 'both nodes to notice');
    // Both nodes connected before, so a Redis outage leaves them in the balancer.
    expect((await alice.api.raw('GET', '/readyz')).status).toBe(200);
    for (let i = 0; i < 5; i += 1) {
      const response = await alice.api.raw('POST', `/api/conversations/${team.generalId}/messages`, { text: `during ${i}` });
      expect(response.status).toBe(201);
      acknowledge(response.body as { id: string; seq: number });
    }
    await settle(OUTAGE_MS);
    proxy.restore();

    await waitUntil(() => posted().length === 6, 15_000, 'the messages posted during the outage');
    expect(posted().map((event) => (event.data.message as { text: string }).text)).toEqual([
      'before',
      ...[0, 1, 2, 3, 4].map((i) => `during ${i}`),
    ]);
    expect(bobOnB.client.duplicates).toBe(0);

    acknowledge(await alice.api.post(`/api/conversations/${team.generalId}/messages`, { text: 'after' }));
    await waitUntil(() => posted().length === 7, 5000, 'a message after the outage');
    await checker.waitForAll(5000);
    checker.verify();
    expect((await alice.api.raw('GET', '/readyz')).status).toBe(200);
    bobOnB.client.stop();
  });
});
