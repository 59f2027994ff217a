import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { WebClient } from '@slack/web-api';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { listen } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { buildBot, slackClient, slackErrorOf, type TestBot } from './api-helpers.js';

let server: TestServer;
let owner: TestUser;
let member: TestUser;
let team: TestTeam;
let bot: TestBot;
let slack: WebClient;

beforeAll(async () => {
  server = await startServer();
  owner = await buildUser(server.url, 'owner');
  member = await buildUser(server.url, 'member');
  team = await buildTeam(owner, [member]);
  bot = await buildBot(owner, team.id);
  slack = slackClient(server.url, bot.token);
});
afterAll(async () => server.close());

interface StoredMessage {
  id: string;
  text: string;
  subtype?: string;
  bot_profile?: Record<string, string>;
  deleted: boolean;
  author_id: string;
  thread_root_id: string | null;
}

async function historyOf(user: TestUser, conversationId: string): Promise<StoredMessage[]> {
  return (await user.api.get<{ messages: StoredMessage[] }>(`/api/conversations/${conversationId}/messages?limit=200`)).messages;
}

/** Creates a public channel through the SDK, so the bot is its member. */
async function botChannel(): Promise<string> {
  const created = await slack.conversations.create({ name: `bot-${Math.random().toString(36).slice(2, 10)}` });
  return created.channel!.id!;
}

describe('slack web api', () => {
  test('auth.test names bot and team', async () => {
    const result = await slack.auth.test();
    expect(result.ok).toBe(true);
    expect(result.user_id).toBe(bot.id);
    expect(result.team_id).toBe(team.id);
    expect(result.url).toBe(`${server.url}/`);
  });

  test('post, update and delete', async () => {
    const posted = await slack.chat.postMessage({ channel: team.generalId, text: 'Deploy *done* by <@' + owner.id + '>', username: 'CI', icon_emoji: ':rocket:' });
    expect(posted.ts).toMatch(/^\d+\.\d{6}$/);
    expect(posted.message?.text).toBe(`Deploy *done* by <@${owner.id}>`);

    let stored = (await historyOf(owner, team.generalId)).find((message) => message.text.startsWith('Deploy'));
    expect(stored?.text).toBe(`Deploy **done** by @${owner.username}`);
    expect(stored?.subtype).toBe('bot_message');
    expect(stored?.bot_profile).toEqual({ username: 'CI', icon_emoji: ':rocket:' });

    const updated = await slack.chat.update({ channel: team.generalId, ts: posted.ts!, text: 'Deploy ~failed~' });
    expect(updated.ts).toBe(posted.ts);
    stored = (await historyOf(owner, team.generalId)).find((message) => message.id === stored!.id);
    expect(stored?.text).toBe('Deploy ~~failed~~');

    await slack.chat.delete({ channel: team.generalId, ts: posted.ts! });
    const after = await historyOf(owner, team.generalId);
    expect(after.some((message) => message.id === stored!.id)).toBe(false);
    expect(await slackErrorOf(slack.chat.delete({ channel: team.generalId, ts: posted.ts! }))).toBe('message_not_found');
  });

  test('thread replies and replies paging', async () => {
    const channel = await botChannel();
    const root = await slack.chat.postMessage({ channel, text: 'root' });
    const replyTs: string[] = [];
    for (const text of ['one', 'two', 'three']) {
      const reply = await slack.chat.postMessage({ channel, text, thread_ts: root.ts! });
      expect(reply.message?.thread_ts).toBe(root.ts);
      replyTs.push(reply.ts!);
    }

    const pages = [];
    for await (const page of slack.paginate('conversations.replies', { channel, ts: root.ts!, limit: 2 })) pages.push(page);
    expect(pages).toHaveLength(2);
    const replies = pages.flatMap((page) => ((page as unknown as { messages: Array<{ ts: string; text: string }> }).messages).slice(1));
    expect(replies.map((message) => message.ts)).toEqual(replyTs);
    expect(replies.map((message) => message.text)).toEqual(['one', 'two', 'three']);

    const history = await slack.conversations.history({ channel });
    const shownRoot = history.messages!.find((message) => message.ts === root.ts);
    expect(shownRoot?.reply_count).toBe(3);
    expect(history.messages).toHaveLength(1);
    expect(await slackErrorOf(slack.chat.postMessage({ channel, text: 'x', thread_ts: '1.000001' }))).toBe('thread_not_found');
  });

  test('history pages with paginate', async () => {
    const channel = await botChannel();
    const posted: string[] = [];
    for (let index = 0; index < 7; index += 1) posted.push((await slack.chat.postMessage({ channel, text: `message ${index}` })).ts!);

    const seen: Array<{ ts: string; text: string }> = [];
    let pages = 0;
    for await (const page of slack.paginate('conversations.history', { channel, limit: 3 })) {
      pages += 1;
      seen.push(...((page as unknown as { messages: Array<{ ts: string; text: string }> }).messages));
    }
    expect(pages).toBe(3);
    expect(seen.map((message) => message.ts)).toEqual([...posted].reverse());
    expect(new Set(seen.map((message) => message.ts)).size).toBe(7);
    const numbers = seen.map((message) => Number(message.ts));
    expect([...numbers].sort((a, b) => b - a)).toEqual(numbers);

    const bounded = await slack.conversations.history({ channel, oldest: posted[2], latest: posted[5] });
    expect(bounded.messages!.map((message) => message.ts)).toEqual([posted[4], posted[3]]);
    const inclusive = await slack.conversations.history({ channel, oldest: posted[5], inclusive: true });
    expect(inclusive.messages!.map((message) => message.ts)).toEqual([posted[6], posted[5]]);
  });

  test('imported ts addresses its message', async () => {
    const channel = await botChannel();
    const posted = await slack.chat.postMessage({ channel, text: 'from the old workspace' });
    const db = server.server.ctx.storage.db;
    await db.updateTable('messages').set({ slack_ts: '1500000000.000100' }).where('conversation_id', '=', channel).where('text', '=', 'from the old workspace').execute();
    expect(await slackErrorOf(slack.reactions.add({ channel, timestamp: posted.ts!, name: 'eyes' }))).toBe('message_not_found');

    await slack.reactions.add({ channel, timestamp: '1500000000.000100', name: 'eyes' });
    const history = await slack.conversations.history({ channel });
    expect(history.messages![0]!.ts).toBe('1500000000.000100');
    expect(history.messages![0]!.reactions![0]!.users).toEqual([bot.id]);
  });

  test('reactions add and remove', async () => {
    const channel = await botChannel();
    const posted = await slack.chat.postMessage({ channel, text: 'react to me' });
    await slack.reactions.add({ channel, timestamp: posted.ts!, name: 'thumbsup' });
    expect(await slackErrorOf(slack.reactions.add({ channel, timestamp: posted.ts!, name: 'thumbsup' }))).toBe('already_reacted');
    expect(await slackErrorOf(slack.reactions.add({ channel, timestamp: posted.ts!, name: 'not-an-emoji' }))).toBe('invalid_name');

    const history = await slack.conversations.history({ channel });
    const reactions = history.messages![0]!.reactions!;
    expect(reactions).toHaveLength(1);
    expect(reactions[0]!.count).toBe(1);
    expect(reactions[0]!.users).toEqual([bot.id]);

    await slack.reactions.remove({ channel, timestamp: posted.ts!, name: 'thumbsup' });
    expect(await slackErrorOf(slack.reactions.remove({ channel, timestamp: posted.ts!, name: 'thumbsup' }))).toBe('no_reaction');
    const cleared = await slack.conversations.history({ channel });
    expect(cleared.messages![0]!.reactions).toBeUndefined();
  });

  test('filesUploadV2 shares a file', async () => {
    const channel = await botChannel();
    await slack.conversations.invite({ channel, users: owner.id });
    const content = 'report line 1\nreport line 2\n';
    const result = await slack.filesUploadV2({ channel_id: channel, filename: 'report.txt', content, title: 'Weekly report', initial_comment: 'Here is the *report*' });
    expect(result.ok).toBe(true);

    const history = await historyOf(owner, channel);
    const shared = history.find((message) => message.text === 'Here is the **report**') as StoredMessage & { files: Array<{ id: string; name: string; size: number }> };
    expect(shared.files).toHaveLength(1);
    expect(shared.files[0]!.name).toBe('report.txt');
    const download = await fetch(`${server.url}/api/files/${shared.files[0]!.id}/content`, { headers: { authorization: `Bearer ${owner.token}` } });
    expect(download.status).toBe(200);
    expect(await download.text()).toBe(content);
  });

  test('bot downloads url_private', async () => {
    const channel = await botChannel();
    const uploaded = await slack.filesUploadV2({ channel_id: channel, filename: 'bot.txt', content: 'from the bot' });
    expect(uploaded.ok).toBe(true);
    await slack.conversations.invite({ channel, users: owner.id });
    const humanFile = await fetch(`${server.url}/api/conversations/${channel}/files?name=human.txt`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'text/plain' },
      body: 'from a human',
    });
    const { id: humanFileId } = (await humanFile.json()) as { id: string };
    await owner.api.post(`/api/conversations/${channel}/messages`, { text: 'see attached', file_ids: [humanFileId] });

    const history = await slack.conversations.history({ channel });
    const files = history.messages!.flatMap((message) => message.files ?? []);
    expect(files.map((file) => file.name).sort()).toEqual(['bot.txt', 'human.txt']);
    for (const file of files) {
      expect(file.url_private).toBe(`${server.url}/api/files/${file.id}/content`);
      const download = await fetch(file.url_private!, { headers: { authorization: `Bearer ${bot.token}` } });
      expect(download.status).toBe(200);
      expect(await download.text()).toBe(file.name === 'bot.txt' ? 'from the bot' : 'from a human');
    }
  });

  test('filesUploadV2 without a channel keeps the file private', async () => {
    const result = (await slack.filesUploadV2({ filename: 'private.txt', content: 'only for the bot', title: 'Private' })) as unknown as {
      ok: boolean;
      files: Array<{ files: Array<{ id: string; title: string; channels: string[]; url_private: string }> }>;
    };
    expect(result.ok).toBe(true);
    const file = result.files[0]!.files[0]!;
    expect(file.title).toBe('Private');
    expect(file.channels).toEqual([]);

    const byBot = await fetch(file.url_private, { headers: { authorization: `Bearer ${bot.token}` } });
    expect(byBot.status).toBe(200);
    expect(await byBot.text()).toBe('only for the bot');
    const byOwner = await fetch(file.url_private, { headers: { authorization: `Bearer ${owner.token}` } });
    expect(byOwner.status).toBe(404);
    // No message shares it.
    const teamFiles = await owner.api.get<{ files: Array<{ id: string }> }>(`/api/teams/${team.id}/files`);
    expect(teamFiles.files.map((entry) => entry.id)).not.toContain(file.id);
  });

  test('search.messages finds posts', async () => {
    const channel = await botChannel();
    const posted = await slack.chat.postMessage({ channel, text: 'the quokka migration is done' });
    const result = await slack.search.messages({ query: 'quokka' });
    const matches = (result.messages as { matches: Array<{ ts: string; channel: { id: string } }> }).matches;
    expect(matches).toHaveLength(1);
    expect(matches[0]!.ts).toBe(posted.ts);
    expect(matches[0]!.channel.id).toBe(channel);
  });

  test('post reaches a websocket client', async () => {
    const listener = await listen(server.wsUrl, member.token);
    type Posted = { message: { text: string; author_id: string; subtype?: string } };
    const isLivePost = (frame: { event: string; data: Record<string, unknown> }) =>
      frame.event === 'message.posted' && (frame.data as Posted).message.text === 'live from the sdk';
    try {
      await slack.chat.postMessage({ channel: team.generalId, text: 'live from the sdk' });
      await listener.waitFor((events) => events.some(isLivePost));
      const posted = (listener.events.find(isLivePost)!.data as Posted).message;
      expect(posted.author_id).toBe(bot.id);
      expect(posted.subtype).toBe('bot_message');
    } finally {
      listener.client.stop();
    }
  });

  test('channels, members and users', async () => {
    const channel = await buildChannel(owner, team.id, { name: `open-${Date.now()}` });
    expect(await slackErrorOf(slack.chat.postMessage({ channel: channel.id, text: 'hi' }))).toBe('not_in_channel');
    const info = await slack.conversations.info({ channel: channel.id });
    expect(info.channel?.is_member).toBe(false);

    await slack.conversations.join({ channel: channel.id });
    await slack.conversations.invite({ channel: channel.id, users: member.id });
    const members = [];
    for await (const page of slack.paginate('conversations.members', { channel: channel.id, limit: 1 })) members.push(...((page as unknown as { members: string[] }).members));
    expect(members.sort()).toEqual([owner.id, member.id, bot.id].sort());

    const listed = [];
    for await (const page of slack.paginate('conversations.list', { limit: 1, types: 'public_channel' })) listed.push(...((page as unknown as { channels: Array<{ id: string }> }).channels));
    expect(listed.map((entry) => entry.id)).toContain(channel.id);
    expect(listed.map((entry) => entry.id)).toContain(team.generalId);

    expect(await slackErrorOf(slack.conversations.create({ name: info.channel!.name! }))).toBe('name_taken');
    expect(await slackErrorOf(slack.conversations.create({ name: 'Bad Name!' }))).toBe('invalid_name_specials');
    expect(await slackErrorOf(slack.conversations.history({ channel: channel.id, cursor: 'bm9wZQ' }))).toBe('invalid_cursor');

    const users = await slack.users.list({});
    expect(users.members!.map((user) => user.id).sort()).toEqual([owner.id, member.id, bot.id].sort());
    const self = await slack.users.info({ user: bot.id });
    expect(self.user?.is_bot).toBe(true);
    const ownerInfo = await slack.users.info({ user: owner.id });
    expect(ownerInfo.user?.is_owner).toBe(true);
    expect(ownerInfo.user?.name).toBe(owner.username);
  });

  test('direct message by user id', async () => {
    const posted = await slack.chat.postMessage({ channel: member.id, text: 'psst' });
    const opened = await slack.conversations.open({ users: member.id });
    expect(opened.channel?.id).toBe(posted.channel);
    expect(opened.already_open).toBe(true);
    expect(opened.channel?.is_im).toBe(true);
    const messages = await historyOf(member, posted.channel!);
    expect(messages.map((message) => message.text)).toEqual(['psst']);
  });

  test('form and json arguments', async () => {
    const form = await fetch(`${server.url}/api/slack/chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: bot.token, channel: team.generalId, text: 'form post' }).toString(),
    });
    expect(form.status).toBe(200);
    expect(((await form.json()) as { ok: boolean }).ok).toBe(true);

    const json = await fetch(`${server.url}/api/slack/chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${bot.token}` },
      body: JSON.stringify({ channel: team.generalId, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'block *post*' } }] }),
    });
    expect(((await json.json()) as { ok: boolean }).ok).toBe(true);
    const texts = (await historyOf(owner, team.generalId)).map((message) => message.text);
    expect(texts).toContain('form post');
    expect(texts).toContain('block **post**');

    const broken = await fetch(`${server.url}/api/slack/auth.test`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bot.token}` }, body: '{' });
    expect(await broken.json()).toEqual({ ok: false, error: 'invalid_json' });
    const unknown = await fetch(`${server.url}/api/slack/chat.unknownMethod`, { method: 'POST', headers: { authorization: `Bearer ${bot.token}` } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ ok: false, error: 'unknown_method' });
  });

  test('empty post answers no_text', async () => {
    expect(await slackErrorOf(slack.chat.postMessage({ channel: team.generalId, text: '' }))).toBe('no_text');
    expect(await slackErrorOf(slack.chat.postMessage({ channel: team.generalId, text: 'x', blocks: 'not json' as never }))).toBe('invalid_blocks');
  });
});

describe('slack web api denials', () => {
  test('missing and bad tokens', async () => {
    expect(await slackErrorOf(slackClient(server.url, undefined).auth.test())).toBe('not_authed');
    expect(await slackErrorOf(slackClient(server.url, 'xoxb-nonsense').auth.test())).toBe('invalid_auth');
    expect(await slackErrorOf(slackClient(server.url, owner.token).auth.test())).toBe('invalid_auth');
  });

  test('upload url needs the announcing bot', async () => {
    const announced = await slack.files.getUploadURLExternal({ filename: 'a.txt', length: 3 });
    const anonymous = await fetch(announced.upload_url!, { method: 'POST', body: 'abc' });
    expect([anonymous.status, await anonymous.text()]).toEqual([401, 'not_authed']);

    const other = await buildBot(owner, team.id);
    const foreign = await fetch(announced.upload_url!, { method: 'POST', headers: { authorization: `Bearer ${other.token}` }, body: 'abc' });
    expect([foreign.status, await foreign.text()]).toEqual([404, 'file_not_found']);
    const tooLong = await fetch(announced.upload_url!, { method: 'POST', headers: { authorization: `Bearer ${bot.token}` }, body: 'abcd' });
    expect([tooLong.status, await tooLong.text()]).toEqual([413, 'file_too_large']);
    expect(await slackErrorOf(slack.files.completeUploadExternal({ files: [{ id: announced.file_id! }], channel_id: team.generalId }))).toBe('file_not_found');
  });

  test('revoked token', async () => {
    const other = await buildBot(owner, team.id);
    const client = slackClient(server.url, other.token);
    expect((await client.auth.test()).ok).toBe(true);
    await owner.api.delete(`/api/teams/${team.id}/bots/${other.id}/tokens`);
    expect(await slackErrorOf(client.auth.test())).toBe('token_revoked');
    expect(await slackErrorOf(client.chat.postMessage({ channel: team.generalId, text: 'still here?' }))).toBe('token_revoked');

    const audit = await owner.api.get<{ entries: Array<{ action: string; target_id: string }> }>(`/api/teams/${team.id}/audit-log?limit=200`);
    const botEntries = audit.entries.filter((entry) => entry.target_id === other.id).map((entry) => entry.action);
    expect(botEntries).toContain('bot.token_created');
    expect(botEntries).toContain('bot.tokens_revoked');
  });

  test('bot removed from team', async () => {
    const other = await buildBot(owner, team.id);
    const client = slackClient(server.url, other.token);
    await owner.api.delete(`/api/teams/${team.id}/members/${other.id}`);
    expect(await slackErrorOf(client.auth.test())).toBe('account_inactive');
  });

  test("other team's channel", async () => {
    const stranger = await buildUser(server.url, 'stranger');
    const otherTeam = await buildTeam(stranger);
    const otherChannel = await buildChannel(stranger, otherTeam.id);
    expect(await slackErrorOf(slack.chat.postMessage({ channel: otherTeam.generalId, text: 'hi' }))).toBe('channel_not_found');
    expect(await slackErrorOf(slack.conversations.history({ channel: otherChannel.id }))).toBe('channel_not_found');
    expect(await slackErrorOf(slack.conversations.join({ channel: otherChannel.id }))).toBe('channel_not_found');
    expect(await slackErrorOf(slack.users.info({ user: stranger.id }))).toBe('user_not_found');
    expect(await slackErrorOf(slack.chat.postMessage({ channel: stranger.id, text: 'hi' }))).toBe('channel_not_found');
    expect(await slackErrorOf(slack.conversations.open({ users: stranger.id }))).toBe('user_not_found');

    const otherBot = await buildBot(stranger, otherTeam.id);
    const posted = await slackClient(server.url, otherBot.token).chat.postMessage({ channel: otherTeam.generalId, text: 'secret' });
    expect(await slackErrorOf(slack.reactions.add({ channel: otherTeam.generalId, timestamp: posted.ts!, name: 'eyes' }))).toBe('channel_not_found');
  });

  test('downloads with a bot token', async () => {
    const secret = await buildChannel(owner, team.id, { private: true });
    await owner.api.post(`/api/conversations/${secret.id}/members`, { user_ids: [bot.id] });
    const upload = await fetch(`${server.url}/api/conversations/${secret.id}/files?name=plan.txt`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'text/plain' },
      body: 'the plan',
    });
    const { id: fileId } = (await upload.json()) as { id: string };
    await owner.api.post(`/api/conversations/${secret.id}/messages`, { text: 'plan', file_ids: [fileId] });
    const url = `${server.url}/api/files/${fileId}/content`;
    const download = (token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const codeOf = async (response: Response) => ((await response.json()) as { error: { code: string } }).error.code;
    expect((await download(bot.token)).status).toBe(200);

    // Another team's bot, and a bot of this team outside the private channel, see no file.
    const stranger = await buildUser(server.url, 'stranger');
    const otherTeam = await buildTeam(stranger);
    const foreign = await download((await buildBot(stranger, otherTeam.id)).token);
    expect([foreign.status, await codeOf(foreign)]).toEqual([404, 'FILE_NOT_FOUND']);
    const outsider = await download((await buildBot(owner, team.id)).token);
    expect([outsider.status, await codeOf(outsider)]).toEqual([404, 'FILE_NOT_FOUND']);

    // Access is checked on every download: the bot removed from the channel loses the file.
    await owner.api.delete(`/api/conversations/${secret.id}/members/${bot.id}`);
    const removed = await download(bot.token);
    expect([removed.status, await codeOf(removed)]).toEqual([404, 'FILE_NOT_FOUND']);

    const revokedBot = await buildBot(owner, team.id);
    await owner.api.post(`/api/conversations/${secret.id}/members`, { user_ids: [revokedBot.id] });
    expect((await download(revokedBot.token)).status).toBe(200);
    await owner.api.delete(`/api/teams/${team.id}/bots/${revokedBot.id}/tokens`);
    const revoked = await download(revokedBot.token);
    expect([revoked.status, await codeOf(revoked)]).toEqual([401, 'UNAUTHENTICATED']);
    const forged = await download('xoxb-not-a-token');
    expect([forged.status, await codeOf(forged)]).toEqual([401, 'UNAUTHENTICATED']);
  });

  test('private channel without the bot', async () => {
    const secret = await buildChannel(owner, team.id, { private: true });
    expect(await slackErrorOf(slack.conversations.info({ channel: secret.id }))).toBe('channel_not_found');
    expect(await slackErrorOf(slack.conversations.history({ channel: secret.id }))).toBe('channel_not_found');
    expect(await slackErrorOf(slack.chat.postMessage({ channel: secret.id, text: 'hi' }))).toBe('channel_not_found');
    expect(await slackErrorOf(slack.conversations.join({ channel: secret.id }))).toBe('channel_not_found');
    const listed = await slack.conversations.list({ types: 'public_channel,private_channel' });
    expect(listed.channels!.map((channel) => channel.id)).not.toContain(secret.id);
  });

  test("another author's message", async () => {
    const channel = await buildChannel(owner, team.id);
    await slack.conversations.join({ channel: channel.id });
    await owner.api.post(`/api/conversations/${channel.id}/messages`, { text: 'human words' });
    const history = await slack.conversations.history({ channel: channel.id });
    const human = history.messages!.find((message) => message.text === 'human words')!;
    expect(await slackErrorOf(slack.chat.update({ channel: channel.id, ts: human.ts!, text: 'bot words' }))).toBe('cant_update_message');
    expect(await slackErrorOf(slack.chat.delete({ channel: channel.id, ts: human.ts! }))).toBe('cant_delete_message');
  });

  test('bot cannot log in', async () => {
    const users = await slack.users.info({ user: bot.id });
    const response = await member.api.raw('POST', '/api/auth/login', { login: users.user!.name!, password: 'correct horse battery' });
    expect(response.status).toBe(401);
    expect((response.body as { error: { code: string } }).error.code).toBe('INVALID_CREDENTIALS');
  });

  test('bot admin routes need a team admin', async () => {
    const response = await member.api.raw('POST', `/api/teams/${team.id}/bots`, { username: 'sneaky_bot', display_name: 'Sneaky' });
    expect(response.status).toBe(403);
    expect((response.body as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    const revoke = await member.api.raw('DELETE', `/api/teams/${team.id}/bots/${bot.id}/tokens`);
    expect(revoke.status).toBe(403);

    const self = await slack.auth.test();
    const taken = await owner.api.raw('POST', `/api/teams/${team.id}/bots`, { username: self.user, display_name: 'Twin' });
    expect(taken.status).toBe(409);
    expect((taken.body as { error: { code: string } }).error.code).toBe('USERNAME_TAKEN');
  });
});
