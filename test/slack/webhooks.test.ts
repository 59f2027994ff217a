import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { expectError } from '../helpers/assertions.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let owner: TestUser;
let member: TestUser;
let team: TestTeam;

beforeAll(async () => {
  server = await startServer();
  owner = await buildUser(server.url, 'owner');
  member = await buildUser(server.url, 'member');
  team = await buildTeam(owner, [member]);
});
afterAll(async () => server.close());

interface StoredMessage {
  id: string;
  text: string;
  author_id: string;
  subtype?: string;
  bot_profile?: Record<string, string>;
}

interface CreatedWebhook {
  webhook: { id: string; bot_user_id: string; conversation_id: string };
  url: string;
}

async function createWebhook(conversationId: string, name = 'Alerts'): Promise<CreatedWebhook> {
  return owner.api.post<CreatedWebhook>(`/api/teams/${team.id}/webhooks`, { conversation_id: conversationId, name });
}

async function postJson(url: string, payload: unknown): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  return { status: response.status, body: await response.text() };
}

async function lastMessage(conversationId: string): Promise<StoredMessage> {
  const page = await owner.api.get<{ messages: StoredMessage[] }>(`/api/conversations/${conversationId}/messages?limit=1`);
  return page.messages[0]!;
}

describe('incoming webhooks', () => {
  test('json text post', async () => {
    const channel = await buildChannel(owner, team.id);
    const created = await createWebhook(channel.id);
    expect(created.url).toMatch(new RegExp(`^${server.url}/api/hooks/${created.webhook.id}/cbw_`));

    const answer = await postJson(created.url, { text: 'Build *green* <https://ci.example/1|#1>', username: 'Jenkins', icon_url: 'https://ci.example/icon.png' });
    expect(answer).toEqual({ status: 200, body: 'ok' });
    const message = await lastMessage(channel.id);
    expect(message.text).toBe('Build **green** [#1](https://ci.example/1)');
    expect(message.subtype).toBe('bot_message');
    expect(message.author_id).toBe(created.webhook.bot_user_id);
    expect(message.bot_profile).toEqual({ username: 'Jenkins', icon_url: 'https://ci.example/icon.png' });
  });

  test('form payload post', async () => {
    const created = await createWebhook(team.generalId);
    const response = await fetch(created.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ payload: JSON.stringify({ text: 'from a form & more' }) }).toString(),
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok');
    expect((await lastMessage(team.generalId)).text).toBe('from a form & more');
  });

  test('blocks and attachments render', async () => {
    const channel = await buildChannel(owner, team.id);
    const created = await createWebhook(channel.id);
    const answer = await postJson(created.url, {
      text: 'fallback only',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Incident' } },
        { type: 'section', text: { type: 'mrkdwn', text: 'Service *api* is down' }, fields: [{ type: 'mrkdwn', text: '*Severity*\nhigh' }] },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'by pager' }, { type: 'image', image_url: 'https://x/y.png', alt_text: 'logo' }] },
        { type: 'actions', elements: [] },
      ],
      attachments: [
        { pretext: 'Details', title: 'Runbook', title_link: 'https://wiki.example/rb', text: 'Restart it', fields: [{ title: 'Owner', value: 'ops' }] },
        { fallback: 'only a fallback' },
      ],
    });
    expect(answer.status).toBe(200);
    expect((await lastMessage(channel.id)).text).toBe(
      [
        '**Incident**',
        'Service **api** is down\n**Severity**\nhigh',
        'by pager',
        'Details\n**[Runbook](https://wiki.example/rb)**\nRestart it\n**Owner**\nops',
        'only a fallback',
      ].join('\n\n'),
    );
  });

  test('slack error answers', async () => {
    const created = await createWebhook(team.generalId);
    expect(await postJson(created.url, {})).toEqual({ status: 400, body: 'no_text' });
    expect(await postJson(created.url, { text: '   ' })).toEqual({ status: 400, body: 'no_text' });
    expect(await postJson(created.url, ['text'])).toEqual({ status: 400, body: 'invalid_payload' });
    expect(await postJson(created.url, { blocks: 'nope' })).toEqual({ status: 400, body: 'invalid_blocks' });
    const broken = await fetch(created.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":' });
    expect([broken.status, await broken.text()]).toEqual([400, 'invalid_payload']);
    expect(await postJson(created.url.replace(/cbw_.*$/, 'cbw_wrong'), { text: 'x' })).toEqual({ status: 404, body: 'no_service' });
    expect(await postJson(created.url, { text: 'x'.repeat(40_001) })).toEqual({ status: 400, body: 'msg_too_long' });
  });

  test('archived channel and deleted webhook', async () => {
    const channel = await buildChannel(owner, team.id);
    const created = await createWebhook(channel.id);
    await owner.api.post(`/api/conversations/${channel.id}/archive`);
    expect(await postJson(created.url, { text: 'late' })).toEqual({ status: 410, body: 'channel_is_archived' });

    const other = await createWebhook(team.generalId);
    await owner.api.delete(`/api/teams/${team.id}/webhooks/${other.webhook.id}`);
    expect(await postJson(other.url, { text: 'gone' })).toEqual({ status: 404, body: 'no_service' });
    const listed = await owner.api.get<{ webhooks: Array<{ id: string }> }>(`/api/teams/${team.id}/webhooks`);
    expect(listed.webhooks.map((webhook) => webhook.id)).toContain(created.webhook.id);
    expect(listed.webhooks.map((webhook) => webhook.id)).not.toContain(other.webhook.id);
  });

  test('private channel webhook', async () => {
    const secret = await buildChannel(owner, team.id, { private: true });
    const created = await createWebhook(secret.id);
    expect((await postJson(created.url, { text: 'private hello' })).body).toBe('ok');
    expect((await lastMessage(secret.id)).text).toBe('private hello');
  });
});

describe('webhook management denials', () => {
  test('non-admin cannot create or list', async () => {
    expectError(await member.api.raw('POST', `/api/teams/${team.id}/webhooks`, { conversation_id: team.generalId, name: 'Mine' }), 403, 'FORBIDDEN');
    expectError(await member.api.raw('GET', `/api/teams/${team.id}/webhooks`), 403, 'FORBIDDEN');
    const created = await createWebhook(team.generalId);
    expectError(await member.api.raw('DELETE', `/api/teams/${team.id}/webhooks/${created.webhook.id}`), 403, 'FORBIDDEN');
  });

  test("other team's channel", async () => {
    const stranger = await buildUser(server.url, 'stranger');
    const otherTeam = await buildTeam(stranger);
    expectError(await owner.api.raw('POST', `/api/teams/${team.id}/webhooks`, { conversation_id: otherTeam.generalId, name: 'Spy' }), 404, 'CONVERSATION_NOT_FOUND');
    expectError(await owner.api.raw('POST', `/api/teams/${otherTeam.id}/webhooks`, { conversation_id: otherTeam.generalId, name: 'Spy' }), 404, 'TEAM_NOT_FOUND');
  });

  test('private channel the admin is not in', async () => {
    const secret = await buildChannel(member, team.id, { private: true });
    expectError(await owner.api.raw('POST', `/api/teams/${team.id}/webhooks`, { conversation_id: secret.id, name: 'Spy' }), 404, 'CONVERSATION_NOT_FOUND');
  });

  test('unauthenticated management', async () => {
    const response = await fetch(`${server.url}/api/teams/${team.id}/webhooks`);
    expect(response.status).toBe(401);
  });
});
