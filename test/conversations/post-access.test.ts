import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { accessConversationToPost } from '../../src/conversations/access.js';
import { accessToPost } from '../../src/messages/actions.js';
import { conversationStream } from '../../src/realtime/events.js';
import { AppError } from '../../src/platform/errors.js';
import { CommitGroup } from '../../src/storage/commit-group.js';
import type { Tx } from '../../src/storage/database.js';
import type { GroupReads } from '../../src/storage/group-reads.js';
import type { EventWriter } from '../../src/storage/streams.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';

// Runs on SQLite, or on PostgreSQL when TEST_DATABASE_URL is set. The app groups posts by
// conversation only on PostgreSQL, so these tests build a keyed group themselves on either engine.

let server: TestServer;
let owner: TestUser;
let member: TestUser;
let notifiedMember: TestUser;
let removed: TestUser;
let teamOnly: TestUser;
let outsider: TestUser;
let publicId: string;
let privateId: string;

beforeAll(async () => {
  server = await startServer();
  owner = await buildUser(server.url, 'owner');
  member = await buildUser(server.url, 'member');
  notifiedMember = await buildUser(server.url, 'notified');
  removed = await buildUser(server.url, 'removed');
  teamOnly = await buildUser(server.url, 'teamonly');
  outsider = await buildUser(server.url, 'outsider');
  const team = await buildTeam(owner, [member, notifiedMember, removed, teamOnly]);
  await buildTeam(outsider, [], 'Elsewhere');
  const members = [member, notifiedMember, removed];
  publicId = (await buildChannel(owner, team.id, { members })).id;
  privateId = (await buildChannel(owner, team.id, { private: true, members })).id;
  for (const channelId of [publicId, privateId]) {
    await owner.api.delete(`/api/conversations/${channelId}/members/${removed.id}`);
    await notifiedMember.api.request('PUT', `/api/conversations/${channelId}/notifications`, { level: 'all' });
  }
});
afterAll(async () => server.close());

/** The outcome of one author's check: its error code, or whether another member is notified of every message. */
type Outcome = { code: string } | { notifiedOfAll: boolean };

/** Counts the statements run through a transaction wrapped with it. */
function statementCounter(): { plugin: KyselyPlugin; count: () => number } {
  let statements = 0;
  const plugin: KyselyPlugin = {
    transformQuery: (args) => args.node,
    transformResult: async (args) => {
      statements += 1;
      return args.result;
    },
  };
  return { plugin, count: () => statements };
}

/**
 * Runs one access check per author as the units of one keyed group of `conversationId`, each
 * unit giving its author as the hint, and returns each outcome and the statements they ran.
 */
async function checkInOneGroup(conversationId: string, authors: TestUser[]): Promise<{ outcomes: Outcome[]; statements: number }> {
  const { db, dialect } = server.server.ctx.storage;
  const group = new CommitGroup(db, dialect, () => Date.now(), { keyed: true });
  const counter = statementCounter();
  const check = (author: TestUser) => async (tx: Tx, _events: unknown, _now: number, _deferred: unknown, reads: GroupReads): Promise<Outcome> => {
    try {
      const access = await accessConversationToPost(tx.withPlugin(counter.plugin), conversationId, author.id, reads);
      return { notifiedOfAll: access.memberNotifiedOfAll };
    } catch (error) {
      // Returned, not thrown: a failed unit would make the group run again with fresh reads.
      if (error instanceof AppError) return { code: error.code };
      throw error;
    }
  };
  const settled = await Promise.all(authors.map((author) => group.run(check(author), conversationStream(conversationId), author.id)));
  return { outcomes: settled.map((outcome) => outcome.result), statements: counter.count() };
}

describe('post access in a group of posts', () => {
  test('one statement for every author', async () => {
    const authors = [member, notifiedMember, member, removed, teamOnly, outsider];

    const { statements } = await checkInOneGroup(publicId, authors);

    expect(statements).toBe(1);
  });

  test('public channel outcomes per author', async () => {
    const { outcomes } = await checkInOneGroup(publicId, [member, notifiedMember, removed, teamOnly, outsider]);

    expect(outcomes[0]).toEqual({ notifiedOfAll: true });
    // The only member notified of every message is the author, so no other member is.
    expect(outcomes[1]).toEqual({ notifiedOfAll: false });
    expect(outcomes[2]).toEqual({ code: 'NOT_IN_CONVERSATION' });
    expect(outcomes[3]).toEqual({ code: 'NOT_IN_CONVERSATION' });
    expect(outcomes[4]).toEqual({ code: 'CONVERSATION_NOT_FOUND' });
  });

  test('private channel outcomes per author', async () => {
    const { outcomes } = await checkInOneGroup(privateId, [member, removed, teamOnly, outsider, notifiedMember]);

    expect(outcomes[0]).toEqual({ notifiedOfAll: true });
    expect(outcomes[1]).toEqual({ code: 'CONVERSATION_NOT_FOUND' });
    expect(outcomes[2]).toEqual({ code: 'CONVERSATION_NOT_FOUND' });
    expect(outcomes[3]).toEqual({ code: 'CONVERSATION_NOT_FOUND' });
    expect(outcomes[4]).toEqual({ notifiedOfAll: false });
  });

  test('archived channel denies every author', async () => {
    const team = await buildTeam(owner, [member]);
    const channel = await buildChannel(owner, team.id, { members: [member] });
    await owner.api.post(`/api/conversations/${channel.id}/archive`, {});

    const { outcomes } = await checkInOneGroup(channel.id, [member, owner]);

    expect(outcomes).toEqual([{ code: 'CONVERSATION_ARCHIVED' }, { code: 'CONVERSATION_ARCHIVED' }]);
  });

  test('missing conversation for every author', async () => {
    const { outcomes } = await checkInOneGroup('no-such-conversation', [member, owner]);

    expect(outcomes).toEqual([{ code: 'CONVERSATION_NOT_FOUND' }, { code: 'CONVERSATION_NOT_FOUND' }]);
  });

  test('a lone post reads its own row', async () => {
    const { outcomes, statements } = await checkInOneGroup(publicId, [member]);

    expect(outcomes).toEqual([{ notifiedOfAll: true }]);
    expect(statements).toBe(1);
  });
});

describe('posting in one group', () => {
  test('denied authors fail alone', async () => {
    const posts = [member, removed, notifiedMember, outsider, member].map((author, index) =>
      author.api.raw('POST', `/api/conversations/${privateId}/messages`, { text: `grouped ${index}` }),
    );

    const responses = await Promise.all(posts);

    expect(responses.map((response) => response.status)).toEqual([201, 404, 201, 404, 201]);
    const history = await member.api.get<{ messages: Array<{ text: string }> }>(`/api/conversations/${privateId}/messages?limit=10`);
    const texts = history.messages.map((message) => message.text);
    expect(texts).toEqual(expect.arrayContaining(['grouped 0', 'grouped 2', 'grouped 4']));
    expect(texts).not.toContain('grouped 1');
    expect(texts).not.toContain('grouped 3');
  });
});

// Needs a second connection: on SQLite the removal would wait for the group's transaction.
describe.runIf(TEST_DATABASE_URL !== undefined)('post access and a removal', () => {
  test('removal waits for the group of posts', async () => {
    const leaving = await buildUser(server.url, 'leaving');
    const team = await buildTeam(owner, [leaving]);
    const channel = await buildChannel(owner, team.id, { private: true, members: [leaving] });
    const stream = conversationStream(channel.id);
    const { db, dialect } = server.server.ctx.storage;
    const group = new CommitGroup(db, dialect, () => Date.now(), { keyed: true });
    let accessRead!: () => void;
    const firstRead = new Promise<void>((resolve) => (accessRead = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));

    // The post reads its access, then waits while the removal is sent, before its insert.
    const post = group.run(async (tx: Tx, events: EventWriter, _now, _deferred, reads: GroupReads) => {
      await accessToPost(tx, events, reads, channel.id, leaving.id);
      accessRead();
      await released;
      return (await events.append(stream, 'message.posted', { test: true })).seq;
    }, stream, leaving.id);
    await firstRead;
    const removal = owner.api.delete(`/api/conversations/${channel.id}/members/${leaving.id}`);
    // Time for the removal to commit, had it not waited for the group's row lock.
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    const postSeq = (await post).result;
    await removal;

    const left = await db.selectFrom('events').select('seq').where('stream_id', '=', stream).where('type', '=', 'member.left').executeTakeFirstOrThrow();
    expect(Number(left.seq)).toBeGreaterThan(postSeq);
  });
});
