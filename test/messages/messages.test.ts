import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RawResponse } from '../../src/client/api.js';
import type { EventFrame } from '../../src/client/realtime.js';
import type { Message } from '../../src/messages/schemas.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { listen, waitUntil } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';

interface HistoryPage {
  messages: Message[];
  has_more_before: boolean;
  has_more_after: boolean;
}

interface ThreadPage {
  root: Message;
  replies: Message[];
  has_more: boolean;
}

interface ErrorBody {
  error: { code: string; message: string; field?: string; max?: number; retryAfterSeconds?: number };
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

function messagesPath(conversationId: string): string {
  return `/api/conversations/${conversationId}/messages`;
}

function post(user: TestUser, conversationId: string, body: Record<string, unknown>): Promise<Message> {
  return user.api.post<Message>(messagesPath(conversationId), body);
}

function postRaw(user: TestUser, conversationId: string, body: unknown): Promise<RawResponse> {
  return user.api.raw('POST', messagesPath(conversationId), body);
}

/** Posts `count` messages one after another, so their seqs rise in posting order. */
async function postMany(user: TestUser, conversationId: string, count: number, prefix = 'message'): Promise<Message[]> {
  const posted: Message[] = [];
  for (let i = 0; i < count; i += 1) posted.push(await post(user, conversationId, { text: `${prefix} ${i}` }));
  return posted;
}

function readHistory(user: TestUser, conversationId: string, query = ''): Promise<HistoryPage> {
  return user.api.get<HistoryPage>(`${messagesPath(conversationId)}${query === '' ? '' : `?${query}`}`);
}

function readThread(user: TestUser, messageId: string): Promise<ThreadPage> {
  return user.api.get<ThreadPage>(`/api/messages/${messageId}/thread`);
}

function ids(messages: readonly Message[]): string[] {
  return messages.map((message) => message.id);
}

function errorOf(response: RawResponse): ErrorBody['error'] {
  return (response.body as ErrorBody).error;
}

/** Checks an error response: its status, its stable code and, when given, the field it names. */
function expectError(response: RawResponse, status: number, code: string, field?: string): void {
  expect(response.status, 'status').toBe(status);
  expect(errorOf(response).code, 'error code').toBe(code);
  if (field !== undefined) expect(errorOf(response).field, 'error field').toBe(field);
}

/** Builds a team of an owner, an admin and two plain members, and a fresh channel all four belong to. */
async function buildRoles() {
  const owner = await buildUser(server.url, 'owner');
  const admin = await buildUser(server.url, 'admin');
  const alice = await buildUser(server.url, 'alice');
  const bob = await buildUser(server.url, 'bob');
  const team = await buildTeam(owner, [admin, alice, bob]);
  await owner.api.patch(`/api/teams/${team.id}/members/${admin.id}`, { role: 'admin' });
  const channel = await buildChannel(owner, team.id, { members: [admin, alice, bob] });
  return { owner, admin, alice, bob, team, channel };
}

/**
 * Opens a socket that requests a conversation stream from its first event, and
 * records that stream's event frames in arrival order.
 */
async function readStreamFromStart(wsUrl: string, token: string, stream: string) {
  const events: EventFrame[] = [];
  const socket = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { type: string };
    if (frame.type === 'event' && (frame as EventFrame).stream === stream) events.push(frame as EventFrame);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ type: 'hello', positions: { [stream]: 0 } }));
  return { socket, events };
}

describe('posting', () => {
  test('post returns 201 with the message', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const response = await postRaw(alice, team.generalId, { text: 'hello team' });
    const message = response.body as Message;

    expect(response.status).toBe(201);
    expect(message.text).toBe('hello team');
    expect(message.author_id).toBe(alice.id);
    expect(message.conversation_id).toBe(team.generalId);
    expect(message.seq).toBeGreaterThan(0);
    expect(message.thread_root_id).toBeNull();
    expect(message.reply_count).toBe(0);
    expect(message.edited_at).toBeNull();
    expect(message.deleted).toBe(false);
    expect(message.client_msg_id).toBeNull();
  });

  test('post without credentials is 401', async () => {
    const alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);

    const response = await alice.api.raw('POST', messagesPath(team.generalId), { text: 'hi' }, { authorization: 'Bearer nope' });

    expectError(response, 401, 'UNAUTHENTICATED');
  });

  test('post by outsider is 404', async () => {
    const alice = await buildUser(server.url, 'alice');
    const outsider = await buildUser(server.url, 'outsider');
    const team = await buildTeam(alice);

    const response = await postRaw(outsider, team.generalId, { text: 'let me in' });

    expectError(response, 404, 'CONVERSATION_NOT_FOUND');
  });

  test('get message returns it', async () => {
    const alice = await buildUser(server.url, 'alice');
    const bob = await buildUser(server.url, 'bob');
    const team = await buildTeam(alice, [bob]);
    const posted = await post(alice, team.generalId, { text: 'fetch me' });

    const fetched = await bob.api.get<Message>(`/api/messages/${posted.id}`);

    expect(fetched).toEqual(posted);
  });

  test('get message hidden from outsider', async () => {
    const alice = await buildUser(server.url, 'alice');
    const outsider = await buildUser(server.url, 'outsider');
    const team = await buildTeam(alice);
    const posted = await post(alice, team.generalId, { text: 'team only' });

    const foreign = await outsider.api.raw('GET', `/api/messages/${posted.id}`);
    const missing = await alice.api.raw('GET', '/api/messages/00000000-0000-4000-8000-000000000000');

    expectError(foreign, 404, 'MESSAGE_NOT_FOUND');
    expectError(missing, 404, 'MESSAGE_NOT_FOUND');
  });
});

describe('history pagination', () => {
  let alice: TestUser;
  let channelId: string;
  let posted: Message[];

  beforeAll(async () => {
    alice = await buildUser(server.url, 'alice');
    const team = await buildTeam(alice);
    channelId = (await buildChannel(alice, team.id)).id;
    posted = await postMany(alice, channelId, 10);
  });

  test('latest page', async () => {
    const page = await readHistory(alice, channelId, 'limit=4');

    expect(ids(page.messages)).toEqual(ids(posted.slice(6)));
    expect(page.has_more_before).toBe(true);
    expect(page.has_more_after).toBe(false);
  });

  test('latest page holding everything', async () => {
    const page = await readHistory(alice, channelId);

    expect(ids(page.messages)).toEqual(ids(posted));
    expect(page.has_more_before).toBe(false);
    expect(page.has_more_after).toBe(false);
  });

  test('before cursor', async () => {
    const page = await readHistory(alice, channelId, `limit=4&before=${posted[6]?.seq}`);

    expect(ids(page.messages)).toEqual(ids(posted.slice(2, 6)));
    expect(page.has_more_before).toBe(true);
    expect(page.has_more_after).toBe(true);
  });

  test('before cursor reaching the start', async () => {
    const page = await readHistory(alice, channelId, `limit=4&before=${posted[3]?.seq}`);

    expect(ids(page.messages)).toEqual(ids(posted.slice(0, 3)));
    expect(page.has_more_before).toBe(false);
    expect(page.has_more_after).toBe(true);
  });

  test('after cursor', async () => {
    const page = await readHistory(alice, channelId, `limit=4&after=${posted[1]?.seq}`);

    expect(ids(page.messages)).toEqual(ids(posted.slice(2, 6)));
    expect(page.has_more_before).toBe(true);
    expect(page.has_more_after).toBe(true);
  });

  test('after cursor reaching the end', async () => {
    const page = await readHistory(alice, channelId, `limit=4&after=${posted[7]?.seq}`);

    expect(ids(page.messages)).toEqual(ids(posted.slice(8)));
    expect(page.has_more_before).toBe(true);
    expect(page.has_more_after).toBe(false);
  });

  test('after cursor from zero', async () => {
    const page = await readHistory(alice, channelId, 'limit=200&after=0');

    expect(ids(page.messages)).toEqual(ids(posted));
    expect(page.has_more_before).toBe(false);
    expect(page.has_more_after).toBe(false);
  });

  test('after cursor just before first message', async () => {
    // The channel's membership events take the seqs below the first message's.
    const first = posted[0] as Message;
    expect(first.seq).toBeGreaterThan(1);

    const page = await readHistory(alice, channelId, `limit=4&after=${first.seq - 1}`);

    expect(ids(page.messages)).toEqual(ids(posted.slice(0, 4)));
    expect(page.has_more_before).toBe(false);
    expect(page.has_more_after).toBe(true);
  });

  test('before cursor past the last message', async () => {
    const last = posted[9] as Message;

    const page = await readHistory(alice, channelId, `limit=4&before=${last.seq + 1}`);

    expect(ids(page.messages)).toEqual(ids(posted.slice(6)));
    expect(page.has_more_before).toBe(true);
    expect(page.has_more_after).toBe(false);
  });

  test('around cursor', async () => {
    const anchor = posted[5] as Message;

    const page = await readHistory(alice, channelId, `limit=4&around=${anchor.id}`);

    expect(ids(page.messages)).toEqual(ids(posted.slice(4, 8)));
    expect(page.has_more_before).toBe(true);
    expect(page.has_more_after).toBe(true);
  });

  test('around first message', async () => {
    const anchor = posted[0] as Message;

    const page = await readHistory(alice, channelId, `limit=4&around=${anchor.id}`);

    expect(page.messages[0]?.id).toBe(anchor.id);
    expect(page.has_more_before).toBe(false);
    expect(page.has_more_after).toBe(true);
  });

  test('around message of another conversation', async () => {
    const otherTeam = await buildTeam(alice);
    const foreign = await post(alice, otherTeam.generalId, { text: 'elsewhere' });

    const response = await alice.api.raw('GET', `${messagesPath(channelId)}?around=${foreign.id}`);

    expectError(response, 404, 'MESSAGE_NOT_FOUND', 'around');
  });

  test('limit bounds', async () => {
    const zero = await alice.api.raw('GET', `${messagesPath(channelId)}?limit=0`);
    const tooMany = await alice.api.raw('GET', `${messagesPath(channelId)}?limit=201`);
    const max = await alice.api.raw('GET', `${messagesPath(channelId)}?limit=200`);
    const single = await readHistory(alice, channelId, 'limit=1');

    expectError(zero, 400, 'VALIDATION_FAILED', 'limit');
    expectError(tooMany, 400, 'VALIDATION_FAILED', 'limit');
    expect(max.status).toBe(200);
    expect(ids(single.messages)).toEqual([posted[9]?.id]);
  });

  test('two cursors rejected', async () => {
    const pairs = [
      `before=${posted[5]?.seq}&after=${posted[1]?.seq}`,
      `before=${posted[5]?.seq}&around=${posted[3]?.id}`,
      `after=${posted[1]?.seq}&around=${posted[3]?.id}`,
    ];
    for (const pair of pairs) {
      const response = await alice.api.raw('GET', `${messagesPath(channelId)}?${pair}`);
      expectError(response, 400, 'INVALID_CURSOR');
    }
  });

  test('non-numeric cursor rejected', async () => {
    const response = await alice.api.raw('GET', `${messagesPath(channelId)}?before=abc`);

    expectError(response, 400, 'VALIDATION_FAILED', 'before');
  });
});

describe('editing', () => {
  test('edit by author', async () => {
    const { alice, channel } = await buildRoles();
    const posted = await post(alice, channel.id, { text: 'first draft' });

    const edited = await alice.api.patch<Message>(`/api/messages/${posted.id}`, { text: 'second draft' });
    const fetched = await alice.api.get<Message>(`/api/messages/${posted.id}`);

    expect(edited.text).toBe('second draft');
    expect(edited.edited_at).not.toBeNull();
    expect(edited.seq).toBe(posted.seq);
    expect(fetched.text).toBe('second draft');
    expect(fetched.edited_at).toBe(edited.edited_at);
  });

  test('edit by others forbidden', async () => {
    const { owner, admin, alice, bob, channel } = await buildRoles();
    const posted = await post(alice, channel.id, { text: 'mine' });

    for (const other of [bob, admin, owner]) {
      const response = await other.api.raw('PATCH', `/api/messages/${posted.id}`, { text: 'not yours' });
      expectError(response, 403, 'FORBIDDEN');
    }
    const fetched = await alice.api.get<Message>(`/api/messages/${posted.id}`);
    expect(fetched.text).toBe('mine');
    expect(fetched.edited_at).toBeNull();
  });

  test('edit to empty text rejected', async () => {
    const { alice, channel } = await buildRoles();
    const posted = await post(alice, channel.id, { text: 'keep me' });

    for (const text of ['', '   ', '\n\t']) {
      const response = await alice.api.raw('PATCH', `/api/messages/${posted.id}`, { text });
      expectError(response, 400, 'MESSAGE_EMPTY', 'text');
    }
  });

  test('edit of deleted message is 404', async () => {
    const { alice, channel } = await buildRoles();
    const posted = await post(alice, channel.id, { text: 'short lived' });
    await alice.api.delete(`/api/messages/${posted.id}`);

    const response = await alice.api.raw('PATCH', `/api/messages/${posted.id}`, { text: 'revived' });

    expectError(response, 404, 'MESSAGE_NOT_FOUND');
  });
});

describe('deleting', () => {
  test('delete by author', async () => {
    const { alice, channel } = await buildRoles();
    const posted = await post(alice, channel.id, { text: 'regrettable' });

    const response = await alice.api.raw('DELETE', `/api/messages/${posted.id}`);
    const again = await alice.api.raw('DELETE', `/api/messages/${posted.id}`);

    expect(response.status).toBe(204);
    expectError(again, 404, 'MESSAGE_NOT_FOUND');
  });

  test('delete by team admin and owner', async () => {
    const { owner, admin, alice, channel } = await buildRoles();
    const first = await post(alice, channel.id, { text: 'spam one' });
    const second = await post(alice, channel.id, { text: 'spam two' });

    const byAdmin = await admin.api.raw('DELETE', `/api/messages/${first.id}`);
    const byOwner = await owner.api.raw('DELETE', `/api/messages/${second.id}`);

    expect(byAdmin.status).toBe(204);
    expect(byOwner.status).toBe(204);
  });

  test('delete by plain member forbidden', async () => {
    const { alice, bob, channel } = await buildRoles();
    const posted = await post(alice, channel.id, { text: 'not bob’s' });

    const response = await bob.api.raw('DELETE', `/api/messages/${posted.id}`);
    const fetched = await alice.api.get<Message>(`/api/messages/${posted.id}`);

    expectError(response, 403, 'FORBIDDEN');
    expect(fetched.deleted).toBe(false);
    expect(fetched.text).toBe('not bob’s');
  });

  test('deleted message leaves history', async () => {
    const { alice, channel } = await buildRoles();
    const keptMessage = await post(alice, channel.id, { text: 'kept' });
    const removed = await post(alice, channel.id, { text: 'secret removed text' });
    await alice.api.delete(`/api/messages/${removed.id}`);

    const page = await readHistory(alice, channel.id);
    const fetched = await alice.api.raw('GET', `/api/messages/${removed.id}`);

    expect(ids(page.messages)).toEqual([keptMessage.id]);
    expect(JSON.stringify(fetched.body)).not.toContain('secret removed text');
  });

  test('deleted thread root stays as placeholder', async () => {
    const { alice, bob, channel } = await buildRoles();
    const root = await post(alice, channel.id, { text: 'root text' });
    const replyA = await post(bob, channel.id, { text: 'reply a', thread_root_id: root.id });
    const replyB = await post(alice, channel.id, { text: 'reply b', thread_root_id: root.id });
    await alice.api.delete(`/api/messages/${root.id}`);

    const page = await readHistory(bob, channel.id);
    const thread = await readThread(bob, root.id);

    expect(ids(page.messages)).toEqual([root.id]);
    expect(page.messages[0]?.deleted).toBe(true);
    expect(page.messages[0]?.text).toBe('');
    expect(page.messages[0]?.reply_count).toBe(2);
    expect(thread.root.deleted).toBe(true);
    expect(thread.root.text).toBe('');
    expect(ids(thread.replies)).toEqual([replyA.id, replyB.id]);
    expect(thread.replies.map((reply) => reply.text)).toEqual(['reply a', 'reply b']);
  });

  test('placeholder goes with last reply', async () => {
    const { alice, bob, channel } = await buildRoles();
    const root = await post(alice, channel.id, { text: 'root text' });
    const reply = await post(bob, channel.id, { text: 'only reply', thread_root_id: root.id });
    await alice.api.delete(`/api/messages/${root.id}`);
    await bob.api.delete(`/api/messages/${reply.id}`);

    const page = await readHistory(alice, channel.id);
    const thread = await alice.api.raw('GET', `/api/messages/${root.id}/thread`);

    expect(page.messages).toEqual([]);
    expectError(thread, 404, 'MESSAGE_NOT_FOUND');
  });
});

describe('threads', () => {
  test('reply updates root summary', async () => {
    const { alice, bob, channel } = await buildRoles();
    const root = await post(alice, channel.id, { text: 'question?' });

    const first = await post(bob, channel.id, { text: 'answer', thread_root_id: root.id });
    const afterFirst = await alice.api.get<Message>(`/api/messages/${root.id}`);
    await post(alice, channel.id, { text: 'thanks', thread_root_id: root.id });
    await post(bob, channel.id, { text: 'welcome', thread_root_id: root.id });
    const afterThree = await alice.api.get<Message>(`/api/messages/${root.id}`);

    expect(first.thread_root_id).toBe(root.id);
    expect(afterFirst.reply_count).toBe(1);
    expect(afterFirst.reply_users).toEqual([bob.id]);
    expect(afterFirst.last_reply_at).toBe(first.created_at);
    expect(afterThree.reply_count).toBe(3);
    expect(afterThree.reply_users).toEqual([bob.id, alice.id]);
    expect(afterThree.last_reply_at).not.toBeNull();
  });

  test('reply to reply attaches to root', async () => {
    const { alice, bob, channel } = await buildRoles();
    const root = await post(alice, channel.id, { text: 'root' });
    const reply = await post(bob, channel.id, { text: 'reply', thread_root_id: root.id });

    const nested = await post(alice, channel.id, { text: 'nested', thread_root_id: reply.id });
    const thread = await readThread(alice, reply.id);

    expect(nested.thread_root_id).toBe(root.id);
    expect(thread.root.id).toBe(root.id);
    expect(thread.root.reply_count).toBe(2);
    expect(ids(thread.replies)).toEqual([reply.id, nested.id]);
  });

  test('also_in_channel reply in history', async () => {
    const { alice, bob, channel } = await buildRoles();
    const root = await post(alice, channel.id, { text: 'root' });
    const threadOnlyReply = await post(bob, channel.id, { text: 'thread only', thread_root_id: root.id });
    const channelReply = await post(bob, channel.id, { text: 'also in channel', thread_root_id: root.id, also_in_channel: true });

    const page = await readHistory(alice, channel.id);
    const thread = await readThread(alice, root.id);

    expect(ids(page.messages)).toEqual([root.id, channelReply.id]);
    expect(page.messages[1]?.also_in_channel).toBe(true);
    expect(ids(thread.replies)).toEqual([threadOnlyReply.id, channelReply.id]);
  });

  test('deleting reply decrements count', async () => {
    const { alice, bob, channel } = await buildRoles();
    const root = await post(alice, channel.id, { text: 'root' });
    const bobReply = await post(bob, channel.id, { text: 'bob', thread_root_id: root.id });
    const aliceReply = await post(alice, channel.id, { text: 'alice', thread_root_id: root.id });

    await bob.api.delete(`/api/messages/${bobReply.id}`);
    const thread = await readThread(alice, root.id);

    expect(thread.root.reply_count).toBe(1);
    expect(thread.root.reply_users).toEqual([alice.id]);
    expect(thread.root.last_reply_at).toBe(aliceReply.created_at);
    expect(ids(thread.replies)).toEqual([aliceReply.id]);
  });

  test('root from another conversation', async () => {
    const { alice, owner, team, channel } = await buildRoles();
    const elsewhere = await post(owner, team.generalId, { text: 'in general' });

    const response = await postRaw(alice, channel.id, { text: 'misplaced', thread_root_id: elsewhere.id });

    expectError(response, 404, 'MESSAGE_NOT_FOUND', 'thread_root_id');
  });

  test('root unknown or deleted', async () => {
    const { alice, channel } = await buildRoles();
    const deleted = await post(alice, channel.id, { text: 'gone' });
    await alice.api.delete(`/api/messages/${deleted.id}`);

    const toDeleted = await postRaw(alice, channel.id, { text: 'late', thread_root_id: deleted.id });
    const toUnknown = await postRaw(alice, channel.id, { text: 'lost', thread_root_id: '00000000-0000-4000-8000-000000000000' });

    expectError(toDeleted, 404, 'MESSAGE_NOT_FOUND', 'thread_root_id');
    expectError(toUnknown, 404, 'MESSAGE_NOT_FOUND', 'thread_root_id');
  });
});

describe('idempotency', () => {
  test('retry returns first message', async () => {
    const { alice, channel } = await buildRoles();
    const body = { text: 'sent once', client_msg_id: 'retry-1' };

    const first = await postRaw(alice, channel.id, body);
    const retry = await postRaw(alice, channel.id, body);
    const page = await readHistory(alice, channel.id);

    expect(first.status).toBe(201);
    expect(retry.status).toBe(200);
    expect((retry.body as Message).id).toBe((first.body as Message).id);
    expect((retry.body as Message).client_msg_id).toBe('retry-1');
    expect(ids(page.messages)).toEqual([(first.body as Message).id]);
  });

  test('ten concurrent retries store one', async () => {
    const { alice, channel } = await buildRoles();
    const body = { text: 'raced', client_msg_id: 'race-10' };

    const responses = await Promise.all(Array.from({ length: 10 }, () => postRaw(alice, channel.id, body)));
    const page = await readHistory(alice, channel.id);

    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(responses.map((response) => (response.body as Message).id)).size).toBe(1);
    expect(ids(page.messages)).toEqual([(responses[0]?.body as Message).id]);
  });

  test('client id reused in other conversation', async () => {
    const { alice, team, channel } = await buildRoles();
    await post(alice, channel.id, { text: 'here', client_msg_id: 'reuse-1' });

    const response = await postRaw(alice, team.generalId, { text: 'there', client_msg_id: 'reuse-1' });
    const general = await readHistory(alice, team.generalId);

    expectError(response, 409, 'CLIENT_MESSAGE_ID_REUSED', 'client_msg_id');
    expect(general.messages).toEqual([]);
  });

  test('client id scoped to author', async () => {
    const { alice, bob, channel } = await buildRoles();

    const fromAlice = await postRaw(alice, channel.id, { text: 'alice', client_msg_id: 'shared-1' });
    const fromBob = await postRaw(bob, channel.id, { text: 'bob', client_msg_id: 'shared-1' });

    expect(fromAlice.status).toBe(201);
    expect(fromBob.status).toBe(201);
    expect((fromBob.body as Message).id).not.toBe((fromAlice.body as Message).id);
  });
});

describe('text checks', () => {
  test('length limit in code points', async () => {
    const { alice, channel } = await buildRoles();
    // U+1F600 is two UTF-16 units: a limit counted in units would reject 40,000 of them.
    const cases = [
      { text: 'a'.repeat(40_000), status: 201 },
      { text: '😀'.repeat(40_000), status: 201 },
      { text: 'a'.repeat(40_001), status: 400 },
      { text: '😀'.repeat(40_001), status: 400 },
    ];

    for (const { text, status } of cases) {
      const response = await postRaw(alice, channel.id, { text });
      expect(response.status, `${text.length} UTF-16 units`).toBe(status);
      if (status === 201) {
        expect((response.body as Message).text === text, 'stored text unchanged').toBe(true);
      } else {
        expectError(response, 400, 'MESSAGE_TOO_LONG', 'text');
        expect(errorOf(response).max).toBe(40_000);
      }
    }
  });

  test('edit over limit rejected', async () => {
    const { alice, channel } = await buildRoles();
    const posted = await post(alice, channel.id, { text: 'short' });

    const response = await alice.api.raw('PATCH', `/api/messages/${posted.id}`, { text: 'b'.repeat(40_001) });

    expectError(response, 400, 'MESSAGE_TOO_LONG', 'text');
    expect(errorOf(response).max).toBe(40_000);
  });

  test('whitespace-only text rejected', async () => {
    const { alice, channel } = await buildRoles();

    for (const text of ['', ' ', '\n\n', ' \t\r\n', '\u00a0\u3000']) {
      const response = await postRaw(alice, channel.id, { text });
      expectError(response, 400, 'MESSAGE_EMPTY', 'text');
    }
  });

  test('NUL rejected', async () => {
    const { alice, channel } = await buildRoles();

    const response = await postRaw(alice, channel.id, { text: 'before\u0000after' });

    expectError(response, 400, 'VALIDATION_FAILED', 'text');
  });

  test('lone surrogate rejected', async () => {
    const { alice, channel } = await buildRoles();
    const posted = await post(alice, channel.id, { text: 'fine' });

    // JSON escapes are sent as written, because fetch would replace a lone surrogate in a JS string with U+FFFD.
    const lead = await postRaw(alice, channel.id, '{"text":"\\ud800"}');
    const trail = await postRaw(alice, channel.id, '{"text":"x\\udc00y"}');
    const edit = await alice.api.raw('PATCH', `/api/messages/${posted.id}`, '{"text":"\\ud83d"}');

    expectError(lead, 400, 'VALIDATION_FAILED', 'text');
    expectError(trail, 400, 'VALIDATION_FAILED', 'text');
    expectError(edit, 400, 'VALIDATION_FAILED', 'text');
  });

  test('Unicode round-trip', async () => {
    const { alice, bob, channel } = await buildRoles();
    const texts = [
      '👩‍👩‍👧‍👦 family',
      '👍🏿 👋🏽 🧑🏻‍💻',
      '🇯🇵 🇺🇦 🏴󠁧󠁢󠁳󠁣󠁴󠁿',
      'שלום \u202Eעולם\u202C مرحبا بالعالم',
      'e\u0301',
      '\u00e9',
      '漢字 かな カナ 한국어',
      '𝕏 𓀀 𠀀 \u{10FFFD}',
      'zero\u200Bwidth \uFEFF line\r\nbreak\ttab',
    ];
    const socket = await listen(server.wsUrl, bob.token);

    const posted: Message[] = [];
    for (const text of texts) posted.push(await post(alice, channel.id, { text }));
    const page = await readHistory(bob, channel.id);
    await socket.waitFor((events) => events.filter((event) => event.event === 'message.posted').length === texts.length);
    socket.client.stop();

    const viaSocket = socket.events.filter((event) => event.event === 'message.posted').map((event) => (event.data.message as Message).text);
    for (const [i, text] of texts.entries()) {
      const fetched = await bob.api.get<Message>(`/api/messages/${posted[i]?.id}`);
      expect(Buffer.from(posted[i]?.text ?? '').equals(Buffer.from(text)), `POST ${JSON.stringify(text)}`).toBe(true);
      expect(fetched.text, 'GET message').toBe(text);
      expect(page.messages[i]?.text, 'history').toBe(text);
      expect(viaSocket[i], 'socket event').toBe(text);
    }
    // Decomposed and precomposed é stay distinct: the server never normalises.
    expect(posted[4]?.text).not.toBe(posted[5]?.text);
    expect(posted[4]?.text.length).toBe(2);
  });

  test('wrong types and unknown fields', async () => {
    const { alice, channel } = await buildRoles();
    const cases: Array<{ body: unknown; field: string }> = [
      { body: { text: 5 }, field: 'text' },
      { body: { text: null }, field: 'text' },
      { body: { text: ['a'] }, field: 'text' },
      { body: {}, field: 'text' },
      { body: { text: 'hi', colour: 'red' }, field: 'colour' },
      { body: { text: 'hi', also_in_channel: 'yes' }, field: 'also_in_channel' },
      { body: { text: 'hi', thread_root_id: 'not-an-id' }, field: 'thread_root_id' },
      { body: { text: 'hi', client_msg_id: 'has spaces' }, field: 'client_msg_id' },
      { body: { text: 'hi', client_msg_id: 'x'.repeat(65) }, field: 'client_msg_id' },
      { body: { text: 'hi', client_msg_id: '' }, field: 'client_msg_id' },
    ];

    for (const { body, field } of cases) {
      const response = await postRaw(alice, channel.id, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(errorOf(response).code, JSON.stringify(body)).toBe('VALIDATION_FAILED');
      expect(errorOf(response).field, JSON.stringify(body)).toBe(field);
    }
  });

  test('malformed JSON rejected', async () => {
    const { alice, channel } = await buildRoles();

    for (const body of ['{"text": ', '{text: "hi"}', '"just a string', '{"text":"hi"}}']) {
      const response = await postRaw(alice, channel.id, body);
      expectError(response, 400, 'INVALID_JSON', 'body');
    }
  });

  test('edit with unknown field rejected', async () => {
    const { alice, channel } = await buildRoles();
    const posted = await post(alice, channel.id, { text: 'hi' });

    const wrongType = await alice.api.raw('PATCH', `/api/messages/${posted.id}`, { text: 5 });
    const unknown = await alice.api.raw('PATCH', `/api/messages/${posted.id}`, { text: 'hi', pinned: true });

    expectError(wrongType, 400, 'VALIDATION_FAILED', 'text');
    expectError(unknown, 400, 'VALIDATION_FAILED', 'pinned');
  });
});

test('post rate limit', async () => {
  const limited = await startServer({ rateLimits: { postsPerUserPerMinute: 3 } });
  try {
    const alice = await buildUser(limited.url, 'alice');
    const team = await buildTeam(alice);

    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await postRaw(alice, team.generalId, { text: `ok ${i}` })).status);
    const rejected = await postRaw(alice, team.generalId, { text: 'one too many' });
    const retryAfter = Number(rejected.headers.get('retry-after'));
    const page = await alice.api.get<HistoryPage>(`${messagesPath(team.generalId)}`);

    expect(statuses).toEqual([201, 201, 201]);
    expectError(rejected, 429, 'RATE_LIMITED');
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(errorOf(rejected).retryAfterSeconds).toBe(retryAfter);
    expect(page.messages).toHaveLength(3);
  } finally {
    await limited.close();
  }
});

test('fifty concurrent posts keep seqs contiguous', async () => {
  const owner = await buildUser(server.url, 'owner');
  const posters = await Promise.all(Array.from({ length: 10 }, () => buildUser(server.url, 'poster')));
  const team = await buildTeam(owner, posters);
  const stream = `c:${team.generalId}`;
  const reader = await readStreamFromStart(server.wsUrl, owner.token, stream);

  const responses = await Promise.all(
    posters.flatMap((poster, p) => Array.from({ length: 5 }, (_, i) => postRaw(poster, team.generalId, { text: `poster ${p} post ${i}` }))),
  );
  const conversation = await owner.api.get<{ last_seq: number }>(`/api/conversations/${team.generalId}`);
  const head = conversation.last_seq;
  await waitUntil(() => reader.events.length >= head, 10_000, `${head} events of ${stream}`);
  reader.socket.close();

  const posted = responses.map((response) => response.body as Message);
  const seqs = posted.map((message) => message.seq).sort((a, b) => a - b);
  expect(responses.every((response) => response.status === 201)).toBe(true);
  expect(new Set(seqs).size).toBe(50);
  expect(new Set(ids(posted)).size).toBe(50);

  const received = reader.events.map((event) => event.seq);
  expect(received).toEqual(Array.from({ length: head }, (_, i) => i + 1));
  const receivedMessages = reader.events.filter((event) => event.event === 'message.posted');
  expect(receivedMessages.map((event) => event.seq)).toEqual(seqs);
  expect(new Set(receivedMessages.map((event) => (event.data.message as Message).id))).toEqual(new Set(ids(posted)));

  const page = await readHistory(owner, team.generalId, 'limit=200');
  expect(page.messages.map((message) => message.seq)).toEqual(seqs);
});
