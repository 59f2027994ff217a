import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { conversationStream } from '../../src/realtime/events.js';
import { purgeExpiredMessages } from '../../src/retention/purge.js';
import { expectError } from '../helpers/assertions.js';
import { buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';

const DAY_MS = 24 * 3600 * 1000;

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

function db() {
  return server.server.ctx.storage.db;
}

describe('retention setting', () => {
  let owner: TestUser;
  let teamAdmin: TestUser;
  let member: TestUser;
  let team: TestTeam;

  beforeAll(async () => {
    owner = await buildUser(server.url, 'owner');
    teamAdmin = await buildUser(server.url, 'admin');
    member = await buildUser(server.url, 'member');
    team = await buildTeam(owner, [teamAdmin, member]);
    await owner.api.patch(`/api/teams/${team.id}/members/${teamAdmin.id}`, { role: 'admin' });
  });

  test('default keeps forever', async () => {
    expect(await member.api.get(`/api/teams/${team.id}/settings`)).toMatchObject({ retention_days: null });
  });

  test('owner sets retention', async () => {
    const updated = await owner.api.patch(`/api/teams/${team.id}/settings`, { retention_days: 365 });

    expect(updated).toMatchObject({ retention_days: 365 });
    expect(await member.api.get(`/api/teams/${team.id}/settings`)).toMatchObject({ retention_days: 365 });
    await owner.api.patch(`/api/teams/${team.id}/settings`, { retention_days: null });
    expect(await member.api.get(`/api/teams/${team.id}/settings`)).toMatchObject({ retention_days: null });
  });

  test.each([364, 0, -1, 36_501, 400.5, '400'])('retention %j rejected', async (value) => {
    expectError(await owner.api.raw('PATCH', `/api/teams/${team.id}/settings`, { retention_days: value }), 400, 'VALIDATION_FAILED', 'retention_days');
  });

  test('team admin cannot change retention', async () => {
    expectError(await teamAdmin.api.raw('PATCH', `/api/teams/${team.id}/settings`, { retention_days: 500 }), 403, 'FORBIDDEN');
    expect((await teamAdmin.api.raw('PATCH', `/api/teams/${team.id}/settings`, { edit_window_seconds: 60 })).status).toBe(200);
  });

  test('member cannot change retention', async () => {
    expectError(await member.api.raw('PATCH', `/api/teams/${team.id}/settings`, { retention_days: 500 }), 403, 'FORBIDDEN');
  });

  test('non-member sees not found', async () => {
    const stranger = await buildUser(server.url, 'stranger');

    expectError(await stranger.api.raw('PATCH', `/api/teams/${team.id}/settings`, { retention_days: 500 }), 404, 'TEAM_NOT_FOUND');
    expectError(await stranger.api.raw('PATCH', `/api/teams/${randomUUID()}/settings`, { retention_days: 500 }), 404, 'TEAM_NOT_FOUND');
  });
});

describe('purge', () => {
  interface Posted {
    id: string;
  }

  async function post(user: TestUser, conversationId: string, text: string, threadRootId?: string): Promise<Posted> {
    return user.api.post<Posted>(`/api/conversations/${conversationId}/messages`, { text, ...(threadRootId !== undefined && { thread_root_id: threadRootId }) });
  }

  async function backdate(messageIds: string[], at: number): Promise<void> {
    await db().updateTable('messages').set({ created_at: at }).where('id', 'in', messageIds).execute();
  }

  async function backdateEventsThrough(conversationId: string, seq: number, at: number): Promise<void> {
    await db().updateTable('events').set({ created_at: at }).where('stream_id', '=', conversationStream(conversationId)).where('seq', '<=', seq).execute();
  }

  async function streamHead(conversationId: string): Promise<number> {
    const row = await db().selectFrom('streams').select('last_seq').where('id', '=', conversationStream(conversationId)).executeTakeFirstOrThrow();
    return Number(row.last_seq);
  }

  test('expired messages and their extras removed', async () => {
    const owner = await buildUser(server.url, 'purgeowner');
    const mate = await buildUser(server.url, 'purgemate');
    const team = await buildTeam(owner, [mate]);
    const keptTeam = await buildTeam(owner);
    await owner.api.patch(`/api/teams/${team.id}/settings`, { retention_days: 365 });
    const old = Date.now() - 400 * DAY_MS;

    const expired = await post(owner, team.generalId, `old news @${mate.username}`);
    await mate.api.post(`/api/messages/${expired.id}/reactions`, { emoji: '👍' });
    await owner.api.post(`/api/messages/${expired.id}/pin`);
    await mate.api.post(`/api/messages/${expired.id}/save`);
    await owner.api.patch(`/api/messages/${expired.id}`, { text: 'old news, edited' });
    const root = await post(owner, team.generalId, 'old root with a new reply');
    const oldReply = await post(mate, team.generalId, 'old reply', root.id);
    const deadRoot = await post(owner, team.generalId, 'old root with old replies only');
    const deadReply = await post(mate, team.generalId, 'old reply of a dead thread', deadRoot.id);
    const otherTeamOld = await post(owner, keptTeam.generalId, 'old but the team keeps everything');
    await backdate([expired.id, root.id, oldReply.id, deadRoot.id, deadReply.id, otherTeamOld.id], old);
    const boundary = await streamHead(team.generalId);
    await backdateEventsThrough(team.generalId, boundary, old);
    await backdateEventsThrough(keptTeam.generalId, await streamHead(keptTeam.generalId), old);
    const newReply = await post(mate, team.generalId, 'new reply', root.id);
    const fresh = await post(owner, team.generalId, 'fresh message');

    const reports = await purgeExpiredMessages(server.server.ctx);

    const report = reports.find((entry) => entry.teamId === team.id);
    expect(report).toMatchObject({ messagesDeleted: 4, messagesErased: 1, eventsDeleted: boundary });
    expect(reports.find((entry) => entry.teamId === keptTeam.id)).toBeUndefined();
    for (const id of [expired.id, oldReply.id, deadRoot.id, deadReply.id]) {
      expectError(await owner.api.raw('GET', `/api/messages/${id}`), 404, 'MESSAGE_NOT_FOUND');
    }
    for (const table of ['reactions', 'pins', 'saved_items', 'message_mentions', 'message_versions'] as const) {
      const rows = await db().selectFrom(table).select('message_id').where('message_id', '=', expired.id).execute();
      expect(rows, table).toEqual([]);
    }
    const erased = await db().selectFrom('messages').selectAll().where('id', '=', root.id).executeTakeFirstOrThrow();
    expect(erased.text).toBe('');
    expect(erased.deleted_at).not.toBeNull();
    expect(Number(erased.reply_count)).toBe(1);
    expect((await owner.api.raw('GET', `/api/messages/${newReply.id}`)).status).toBe(200);
    expect((await owner.api.raw('GET', `/api/messages/${fresh.id}`)).status).toBe(200);
    expect((await owner.api.raw('GET', `/api/messages/${otherTeamOld.id}`)).status).toBe(200);
    const stream = await db().selectFrom('streams').selectAll().where('id', '=', conversationStream(team.generalId)).executeTakeFirstOrThrow();
    expect(Number(stream.min_seq)).toBe(boundary + 1);
    const oldEvents = await db().selectFrom('events').select('seq').where('stream_id', '=', conversationStream(team.generalId)).where('seq', '<=', boundary).execute();
    expect(oldEvents).toEqual([]);
    const storedText = await db().selectFrom('events').select('payload').where('stream_id', '=', conversationStream(team.generalId)).execute();
    expect(storedText.some((row) => row.payload.includes('old news'))).toBe(false);

    const audit = await db().selectFrom('audit_log').selectAll().where('action', '=', 'retention.purged').where('team_id', '=', team.id).execute();
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]?.details ?? '{}')).toMatchObject({ messagesDeleted: 4, messagesErased: 1, eventsDeleted: boundary });
  });

  test('purge twice changes nothing more', async () => {
    const owner = await buildUser(server.url, 'twiceowner');
    const team = await buildTeam(owner);
    await owner.api.patch(`/api/teams/${team.id}/settings`, { retention_days: 365 });
    const message = await post(owner, team.generalId, 'to expire');
    await backdate([message.id], Date.now() - 400 * DAY_MS);

    const first = (await purgeExpiredMessages(server.server.ctx)).find((entry) => entry.teamId === team.id);
    const second = (await purgeExpiredMessages(server.server.ctx)).find((entry) => entry.teamId === team.id);

    expect(first?.messagesDeleted).toBe(1);
    expect(second).toMatchObject({ messagesDeleted: 0, messagesErased: 0, eventsDeleted: 0 });
    const audit = await db().selectFrom('audit_log').select('id').where('action', '=', 'retention.purged').where('team_id', '=', team.id).execute();
    expect(audit).toHaveLength(1);
  });

  test('erased root removed once replies expire', async () => {
    const owner = await buildUser(server.url, 'rootowner');
    const team = await buildTeam(owner);
    await owner.api.patch(`/api/teams/${team.id}/settings`, { retention_days: 365 });
    const root = await post(owner, team.generalId, 'root');
    const reply = await post(owner, team.generalId, 'reply', root.id);
    await backdate([root.id], Date.now() - 400 * DAY_MS);
    await purgeExpiredMessages(server.server.ctx);
    expect((await db().selectFrom('messages').select('text').where('id', '=', root.id).executeTakeFirstOrThrow()).text).toBe('');

    await backdate([reply.id], Date.now() - 380 * DAY_MS);
    await purgeExpiredMessages(server.server.ctx);
    await purgeExpiredMessages(server.server.ctx);

    const remaining = await db().selectFrom('messages').select('id').where('id', 'in', [root.id, reply.id]).execute();
    expect(remaining).toEqual([]);
  });

  test('messages inside the period kept', async () => {
    const owner = await buildUser(server.url, 'insideowner');
    const team = await buildTeam(owner);
    await owner.api.patch(`/api/teams/${team.id}/settings`, { retention_days: 365 });
    const message = await post(owner, team.generalId, 'recent enough');
    await backdate([message.id], Date.now() - 364 * DAY_MS);

    await purgeExpiredMessages(server.server.ctx);

    expect((await owner.api.raw('GET', `/api/messages/${message.id}`)).status).toBe(200);
  });
});
