import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import type { Message } from '../../src/messages/schemas.js';
import { purgeExpiredMessages } from '../../src/retention/purge.js';
import { expectError } from '../helpers/assertions.js';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';

interface HistoryPage {
  messages: Message[];
  has_more_before: boolean;
  has_more_after: boolean;
}

const DAY_MS = 24 * 3600 * 1000;
/** A seq above any the tests reach: a `before` cursor there reads the latest page without the cache. */
const BEYOND_ANY_SEQ = 2_000_000_000;

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

function latest(user: TestUser, conversationId: string, limit = 5): Promise<HistoryPage> {
  return user.api.get<HistoryPage>(`/api/conversations/${conversationId}/messages?limit=${limit}`);
}

/** Reads the same page past the cache, through the cursor path. */
function uncached(user: TestUser, conversationId: string, limit = 5): Promise<HistoryPage> {
  return user.api.get<HistoryPage>(`/api/conversations/${conversationId}/messages?limit=${limit}&before=${BEYOND_ANY_SEQ}`);
}

function post(user: TestUser, conversationId: string, text: string, rootId?: string): Promise<Message> {
  return user.api.post<Message>(`/api/conversations/${conversationId}/messages`, { text, ...(rootId !== undefined && { thread_root_id: rootId }) });
}

/** Changes a message's text in storage without an event, as no action does, to tell a cached page from a fresh read. */
async function rewriteBehindTheServer(target: TestServer, messageId: string, text: string): Promise<void> {
  await target.server.ctx.storage.db.updateTable('messages').set({ text }).where('id', '=', messageId).execute();
}

describe('latest page cache', () => {
  let owner: TestUser;
  let mate: TestUser;
  let team: TestTeam;

  beforeAll(async () => {
    owner = await buildUser(server.url, 'cacheowner');
    mate = await buildUser(server.url, 'cachemate');
    team = await buildTeam(owner, [mate]);
  });

  test('repeated read served from cache', async () => {
    const channel = await buildChannel(owner, team.id, { members: [mate] });
    const message = await post(owner, channel.id, 'original');
    const first = await latest(mate, channel.id);

    await rewriteBehindTheServer(server, message.id, 'rewritten');

    expect(await latest(mate, channel.id)).toEqual(first);
    expect((await uncached(mate, channel.id)).messages.at(-1)?.text).toBe('rewritten');
  });

  test('each change shows at once', async () => {
    const channel = await buildChannel(owner, team.id, { members: [mate] });
    const root = await post(owner, channel.id, 'root');
    const other = await post(mate, channel.id, 'other');
    const changes: Array<[string, () => Promise<unknown>]> = [
      ['post', () => post(mate, channel.id, 'new post')],
      ['edit', () => owner.api.patch(`/api/messages/${root.id}`, { text: 'root edited' })],
      ['reaction added', () => mate.api.post(`/api/messages/${root.id}/reactions`, { emoji: ':thumbsup:' })],
      ['reaction removed', () => mate.api.delete(`/api/messages/${root.id}/reactions/${encodeURIComponent(':thumbsup:')}`)],
      ['thread reply', () => post(mate, channel.id, 'a reply', root.id)],
      ['delete', () => mate.api.delete(`/api/messages/${other.id}`)],
    ];

    for (const [name, change] of changes) {
      await latest(mate, channel.id);
      await change();
      expect(await latest(mate, channel.id), name).toEqual(await uncached(mate, channel.id));
    }
    const page = await latest(mate, channel.id);
    expect(page.messages.map((message) => message.text)).toEqual(['root edited', 'new post']);
    expect(page.messages[0]?.reply_count).toBe(1);
  });

  test('page size is part of the key', async () => {
    const channel = await buildChannel(owner, team.id);
    for (const text of ['one', 'two', 'three']) await post(owner, channel.id, text);

    expect((await latest(owner, channel.id, 2)).messages.map((message) => message.text)).toEqual(['two', 'three']);
    expect((await latest(owner, channel.id, 3)).messages.map((message) => message.text)).toEqual(['one', 'two', 'three']);
    expect(await latest(owner, channel.id, 2)).toMatchObject({ has_more_before: true, has_more_after: false });
  });

  test('removed member denied cached page', async () => {
    const channel = await buildChannel(owner, team.id, { private: true, members: [mate] });
    await post(owner, channel.id, 'secret');
    await latest(mate, channel.id);

    await owner.api.delete(`/api/conversations/${channel.id}/members/${mate.id}`);

    expectError(await mate.api.raw('GET', `/api/conversations/${channel.id}/messages?limit=5`), 404, 'CONVERSATION_NOT_FOUND');
  });

  test('non-member denied cached private page', async () => {
    const outsider = await buildUser(server.url, 'cacheoutsider');
    await owner.api.post(`/api/teams/${team.id}/members`, { user_id: outsider.id });
    const channel = await buildChannel(owner, team.id, { private: true });
    await post(owner, channel.id, 'secret');
    await latest(owner, channel.id);

    expectError(await outsider.api.raw('GET', `/api/conversations/${channel.id}/messages?limit=5`), 404, 'CONVERSATION_NOT_FOUND');
  });

  test('other team denied cached page', async () => {
    const stranger = await buildUser(server.url, 'cachestranger');
    await buildTeam(stranger);
    await post(owner, team.generalId, 'team only');
    await latest(owner, team.generalId);

    expectError(await stranger.api.raw('GET', `/api/conversations/${team.generalId}/messages?limit=5`), 404, 'CONVERSATION_NOT_FOUND');
  });

  test('retention purge drops cached page', async () => {
    const purgeOwner = await buildUser(server.url, 'cachepurge');
    const purgeTeam = await buildTeam(purgeOwner);
    await purgeOwner.api.patch(`/api/teams/${purgeTeam.id}/settings`, { retention_days: 365 });
    const expired = await post(purgeOwner, purgeTeam.generalId, 'expired');
    await post(purgeOwner, purgeTeam.generalId, 'fresh');
    await server.server.ctx.storage.db
      .updateTable('messages')
      .set({ created_at: Date.now() - 400 * DAY_MS })
      .where('id', '=', expired.id)
      .execute();
    expect((await latest(purgeOwner, purgeTeam.generalId)).messages.map((message) => message.text)).toEqual(['expired', 'fresh']);

    await purgeExpiredMessages(server.server.ctx);

    expect((await latest(purgeOwner, purgeTeam.generalId)).messages.map((message) => message.text)).toEqual(['fresh']);
  });
});

describe('latest page cache off', () => {
  let cold: TestServer;
  beforeAll(async () => {
    cold = await startServer({ historyCacheBytes: 0 });
  });
  afterAll(async () => cold.close());

  test('every read goes to storage', async () => {
    const owner = await buildUser(cold.url, 'coldowner');
    const team = await buildTeam(owner);
    const message = await post(owner, team.generalId, 'original');
    await latest(owner, team.generalId);

    await rewriteBehindTheServer(cold, message.id, 'rewritten');

    expect((await latest(owner, team.generalId)).messages.at(-1)?.text).toBe('rewritten');
  });
});

// Two nodes share one PostgreSQL schema only; SQLite's file belongs to one process.
describe.skipIf(TEST_DATABASE_URL === undefined)('latest page cache across nodes', () => {
  let second: TestServer;
  beforeAll(async () => {
    second = await startServer({ dataDir: server.dataDir });
  });
  afterAll(async () => second.close());

  test('post on another node shows at once', async () => {
    const owner = await buildUser(server.url, 'nodeowner');
    const team = await buildTeam(owner);
    await post(owner, team.generalId, 'first');
    await latest(owner, team.generalId);
    await new ApiClient(second.url, owner.token).post(`/api/conversations/${team.generalId}/messages`, { text: 'second' });

    expect((await latest(owner, team.generalId)).messages.map((message) => message.text)).toEqual(['first', 'second']);
  });
});
