import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectError } from '../helpers/assertions.js';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { ApiClient } from '../../src/client/api.js';
import { insertFile } from './corpus.js';

interface Result {
  message: { id: string; text: string; thread_root_id: string | null };
  conversation: { id: string; team_id: string; kind: string; name: string | null };
  author: { id: string; username: string } | null;
  highlights: Array<{ offset: number; length: number }>;
  score: number | null;
  thread_root: { id: string; text: string } | null;
  history_path: string;
  thread_path: string | null;
}

interface Page<T = Result> {
  results: T[];
  next_cursor: string | null;
  total: number | null;
  total_capped: boolean;
}

interface FileResult {
  file: { id: string; name: string; mime_type: string; message_id: string };
  conversation: { id: string };
  highlights: Array<{ offset: number; length: number }>;
}

let server: TestServer;
let ada: TestUser;
let bob: TestUser;
let cy: TestUser;
let team: TestTeam;

beforeAll(async () => {
  server = await startServer();
  ada = await buildUser(server.url, 'ada');
  bob = await buildUser(server.url, 'bob');
  cy = await buildUser(server.url, 'cy');
  team = await buildTeam(ada, [bob, cy]);
});

afterAll(async () => {
  await server.close();
});

function search(user: TestUser, q: string, extra = ''): Promise<Page> {
  return user.api.get<Page>(`/api/search?q=${encodeURIComponent(q)}${extra}`);
}

function searchRaw(user: TestUser, q: string, extra = '') {
  return user.api.raw('GET', `/api/search?q=${encodeURIComponent(q)}${extra}`);
}

async function post(user: TestUser, conversationId: string, text: string, extra: Record<string, unknown> = {}): Promise<string> {
  return (await user.api.post<{ id: string }>(`/api/conversations/${conversationId}/messages`, { text, ...extra })).id;
}

describe('search errors', () => {
  test('search without session', async () => {
    const response = await new ApiClient(server.url).raw('GET', '/api/search?q=hello');
    expectError(response, 401, 'UNAUTHENTICATED');
  });

  const badQueries: Array<[string, string]> = [
    ['foo:bar', 'foo:bar'],
    ['deploy wibble:yes', 'wibble:yes'],
    ['before:2024-13-01', 'before:2024-13-01'],
    ['after:2024-02-30', 'after:2024-02-30'],
    ['on:yesterdayy', 'on:yesterdayy'],
    ['during:24', 'during:24'],
    ['-before:2024-01-01 deploy', '-before:2024-01-01'],
    ['has:cheese', 'has:cheese'],
    ['is:pinned', 'is:pinned'],
    ['"unclosed phrase', '"unclosed phrase'],
    ['a* deploy', 'a*'],
    ['-deploy', '-deploy'],
    ['!!! ???', '!!! ???'],
    ['from:@', 'from:@'],
    ['in:#', 'in:#'],
  ];
  for (const [q, term] of badQueries) {
    test(`query ${q} names its term`, async () => {
      const response = await searchRaw(ada, q);
      expectError(response, 400, 'INVALID_SEARCH_QUERY', 'q');
      expect((response.body as { error: { term: string } }).error.term).toBe(term);
    });
  }

  test('too many terms', async () => {
    const response = await searchRaw(ada, Array.from({ length: 33 }, (_, index) => `w${index}`).join(' '));
    expectError(response, 400, 'INVALID_SEARCH_QUERY', 'q');
    expect((response.body as { error: { max: number } }).error.max).toBe(32);
  });

  test('invalid parameters name the field', async () => {
    expectError(await ada.api.raw('GET', '/api/search'), 400, 'VALIDATION_FAILED', 'q');
    expectError(await searchRaw(ada, 'x'.repeat(1001)), 400, 'VALIDATION_FAILED', 'q');
    expectError(await searchRaw(ada, 'deploy', '&limit=0'), 400, 'VALIDATION_FAILED', 'limit');
    expectError(await searchRaw(ada, 'deploy', '&limit=101'), 400, 'VALIDATION_FAILED', 'limit');
    expectError(await searchRaw(ada, 'deploy', '&sort=oldest'), 400, 'VALIDATION_FAILED', 'sort');
    expectError(await searchRaw(ada, 'deploy', '&colour=red'), 400, 'VALIDATION_FAILED', 'colour');
  });

  test('malformed cursor', async () => {
    expectError(await searchRaw(ada, 'deploy', '&cursor=not-a-cursor'), 400, 'INVALID_CURSOR', 'cursor');
    const forged = Buffer.from(JSON.stringify(['d', 'x', 'y', 1, null, null])).toString('base64url');
    expectError(await searchRaw(ada, 'deploy', `&cursor=${forged}`), 400, 'INVALID_CURSOR', 'cursor');
  });

  test('message filters rejected for files', async () => {
    const response = await ada.api.raw('GET', `/api/search/files?q=${encodeURIComponent('report has:link')}`);
    expectError(response, 400, 'INVALID_SEARCH_QUERY', 'q');
    expect((response.body as { error: { term: string } }).error.term).toBe('has:link');
  });
});

describe('search visibility', () => {
  test('edit and delete apply at once', async () => {
    const id = await post(ada, team.generalId, 'narwhal original wording');
    expect((await search(ada, 'narwhal')).results.map((result) => result.message.id)).toEqual([id]);

    await ada.api.patch(`/api/messages/${id}`, { text: 'narwhal revised wording' });
    expect((await search(ada, 'original')).results).toEqual([]);
    const revised = await search(ada, 'revised');
    expect(revised.results.map((result) => result.message.text)).toEqual(['narwhal revised wording']);

    await ada.api.delete(`/api/messages/${id}`);
    const afterDelete = await search(ada, 'narwhal');
    expect(afterDelete.results).toEqual([]);
    expect(afterDelete.total).toBe(0);
  });

  test('private channel hidden from non-member', async () => {
    const channel = await buildChannel(bob, team.id, { name: 'vault', private: true, members: [cy] });
    await post(bob, channel.id, 'quokka payroll numbers');
    const forAda = await search(ada, 'quokka');
    expect(forAda.results).toEqual([]);
    expect(forAda.total).toBe(0);
    expect((await search(ada, 'quokka in:#vault')).total).toBe(0);
    expect((await search(cy, 'quokka')).total).toBe(1);
  });

  test('team owner sees no private channel', async () => {
    const channel = await buildChannel(cy, team.id, { name: 'cy-only', private: true });
    await post(cy, channel.id, 'wombat diary');
    const page = await search(ada, 'wombat');
    expect(page.results).toEqual([]);
    expect(page.total).toBe(0);
  });

  test('removed member loses results', async () => {
    const channel = await buildChannel(bob, team.id, { name: 'leaving-soon', private: true, members: [ada] });
    await post(bob, channel.id, 'ocelot budget draft');
    expect((await search(ada, 'ocelot')).total).toBe(1);

    await bob.api.delete(`/api/conversations/${channel.id}/members/${ada.id}`);
    const page = await search(ada, 'ocelot');
    expect(page.results).toEqual([]);
    expect(page.total).toBe(0);
  });

  test('member who left a team loses its results', async () => {
    const dee = await buildUser(server.url, 'dee');
    const otherTeam = await buildTeam(bob, [dee], 'Side');
    await post(bob, otherTeam.generalId, 'pangolin side project');
    expect((await search(dee, 'pangolin')).total).toBe(1);

    await dee.api.post(`/api/teams/${otherTeam.id}/leave`);
    expect((await search(dee, 'pangolin')).total).toBe(0);
  });

  test('another team never shows', async () => {
    const outsider = await buildUser(server.url, 'out');
    const ownTeam = await buildTeam(outsider, [], 'Outside');
    await post(ada, team.generalId, 'axolotl public announcement');
    await post(outsider, ownTeam.generalId, 'axolotl outsider note');
    expect((await search(outsider, 'axolotl')).results.map((result) => result.message.text)).toEqual(['axolotl outsider note']);
    expect((await search(ada, 'axolotl')).results.map((result) => result.message.text)).toEqual(['axolotl public announcement']);

    const foreign = await ada.api.raw('GET', `/api/teams/${ownTeam.id}/search?q=axolotl`);
    expectError(foreign, 404, 'TEAM_NOT_FOUND');
  });

  test('team scope and all teams', async () => {
    const second = await buildTeam(ada, [], 'Second');
    await post(ada, second.generalId, 'capybara in the second team');
    await post(ada, team.generalId, 'capybara in the first team');

    expect((await search(ada, 'capybara')).total).toBe(2);
    const scoped = await ada.api.get<Page>(`/api/teams/${second.id}/search?q=capybara`);
    expect(scoped.results.map((result) => result.conversation.team_id)).toEqual([second.id]);
  });
});

describe('search results', () => {
  test('newest-first pages', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 25; index += 1) ids.push(await post(bob, team.generalId, `walrus number ${index}`));

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await search(ada, 'walrus', `&sort=date&limit=10${cursor === null ? '' : `&cursor=${cursor}`}`);
      expect(page.total).toBe(pages === 0 ? 25 : null);
      seen.push(...page.results.map((result) => result.message.id));
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor !== null);

    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  test('relevance pages', async () => {
    await post(bob, team.generalId, 'lemur lemur lemur lemur');
    for (let index = 0; index < 14; index += 1) await post(bob, team.generalId, `lemur sighting number ${index} near the river bank today`);

    const first = await search(ada, 'lemur', '&limit=6');
    expect(first.total).toBe(15);
    expect(first.results[0]!.message.text).toBe('lemur lemur lemur lemur');
    const seen = first.results.map((result) => result.message.id);
    const scores = first.results.map((result) => result.score!);

    let cursor = first.next_cursor;
    await post(bob, team.generalId, 'lemur posted between pages');
    while (cursor !== null) {
      const page: Page = await search(ada, 'lemur', `&limit=6&cursor=${cursor}`);
      seen.push(...page.results.map((result) => result.message.id));
      scores.push(...page.results.map((result) => result.score!));
      cursor = page.next_cursor;
    }

    expect(seen).toHaveLength(15);
    expect(new Set(seen).size).toBe(15);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  test('same query shape with other values', async () => {
    // Searches of one shape share their compiled SQL on SQLite, so each must still bind its own ids.
    const north = await buildChannel(ada, team.id, { name: 'tapir-north' });
    const south = await buildChannel(ada, team.id, { name: 'tapir-south', members: [bob] });
    const inNorth = await post(ada, north.id, 'tapir spotted up north');
    const inSouth = await post(bob, south.id, 'tapir spotted down south');
    const ids = async (q: string) => (await search(ada, q, '&sort=date')).results.map((result) => result.message.id);

    expect(await ids('tapir in:#tapir-north')).toEqual([inNorth]);
    expect(await ids('tapir in:#tapir-south')).toEqual([inSouth]);
    expect(await ids('tapir -in:#tapir-north')).toEqual([inSouth]);
    expect(await ids('tapir -in:#tapir-south')).toEqual([inNorth]);
    expect(await ids(`tapir from:@${ada.username}`)).toEqual([inNorth]);
    expect(await ids(`tapir from:@${bob.username}`)).toEqual([inSouth]);
    expect(await ids('tapir in:#tapir-north in:#tapir-south')).toEqual([inSouth, inNorth]);
    expect(await ids('tapir after:2000-01-01')).toEqual([inSouth, inNorth]);
    expect(await ids('tapir after:2999-01-01')).toEqual([]);
    expect((await search(cy, `tapir from:@${bob.username}`, '&sort=date')).results.map((result) => result.message.id)).toEqual([inSouth]);
  });

  test('cursor of another search', async () => {
    for (let index = 0; index < 3; index += 1) await post(bob, team.generalId, `heron count ${index}`);
    const page = await search(ada, 'heron', '&sort=date&limit=1');
    expectError(await searchRaw(ada, 'egret', `&sort=date&cursor=${page.next_cursor}`), 400, 'INVALID_CURSOR', 'cursor');
    expectError(await searchRaw(ada, 'heron', `&sort=relevance&cursor=${page.next_cursor}`), 400, 'INVALID_CURSOR', 'cursor');
  });

  test('highlights and thread context', async () => {
    const root = await post(ada, team.generalId, 'Planning the Deployment of 東京 services');
    const reply = await post(bob, team.generalId, 'deploying now, 東京都 first', { thread_root_id: root });

    const page = await search(ada, 'deploy 東京', '&sort=date');
    const byId = new Map(page.results.map((result) => [result.message.id, result]));
    const replyResult = byId.get(reply)!;
    expect(replyResult.highlights).toEqual([
      { offset: 0, length: 9 },
      { offset: 15, length: 2 },
    ]);
    expect(replyResult.thread_root?.id).toBe(root);
    expect(replyResult.thread_path).toBe(`/api/messages/${root}/thread`);
    expect(replyResult.history_path).toBe(`/api/conversations/${team.generalId}/messages?around=${reply}`);
    expect(replyResult.author?.id).toBe(bob.id);

    const rootResult = byId.get(root)!;
    expect(rootResult.highlights).toEqual([
      { offset: 13, length: 10 },
      { offset: 27, length: 2 },
    ]);
    expect(rootResult.thread_root).toBeNull();
    expect(rootResult.thread_path).toBe(`/api/messages/${root}/thread`);
  });

  test('highlights of a phrase', async () => {
    const id = await post(ada, team.generalId, 'The rollback plan for the rollback');
    const page = await search(ada, '"rollback plan"');
    const result = page.results.find((item) => item.message.id === id)!;
    expect(result.highlights).toEqual([{ offset: 4, length: 13 }]);
  });

  test('date filters follow the user time zone', async () => {
    await ada.api.patch('/api/users/me', { time_zone: 'Pacific/Auckland' });
    try {
      // 2024-03-09T11:30Z is 2024-03-10 00:30 in Auckland (UTC+13).
      const id = await post(ada, team.generalId, 'kakapo count');
      const db = server.server.ctx.storage.db;
      await db.updateTable('messages').set({ created_at: Date.UTC(2024, 2, 9, 11, 30) }).where('id', '=', id).execute();
      await db.updateTable('search_documents').set({ created_at: Date.UTC(2024, 2, 9, 11, 30) }).where('message_id', '=', id).execute();
      expect((await search(ada, 'kakapo on:2024-03-10')).total).toBe(1);
      expect((await search(ada, 'kakapo on:2024-03-09')).total).toBe(0);
    } finally {
      await ada.api.patch('/api/users/me', { time_zone: 'UTC' });
    }
  });
});

describe('file search', () => {
  test('names and types', async () => {
    const message = await post(bob, team.generalId, 'slides attached');
    const file = await insertFile(server, { team_id: team.id, conversation_id: team.generalId, uploader_id: bob.id, message_id: message, name: 'Roadmap_Überblick-2025.PDF', mime_type: 'application/pdf' });
    await insertFile(server, { team_id: team.id, conversation_id: team.generalId, uploader_id: bob.id, name: 'roadmap-unshared.pdf', mime_type: 'application/pdf' });
    const deletedFileMessage = await post(bob, team.generalId, 'old slides');
    await insertFile(server, { team_id: team.id, conversation_id: team.generalId, uploader_id: bob.id, message_id: deletedFileMessage, name: 'roadmap-old.pdf', mime_type: 'application/pdf', deleted_at: Date.now() });

    for (const q of ['roadmap', 'uberblick', 'pdf', 'application/pdf', 'roadmap_uberblick', `from:@${bob.username} roadmap`, 'road*']) {
      const page = await ada.api.get<Page<FileResult>>(`/api/search/files?q=${encodeURIComponent(q)}`);
      expect(page.results.map((result) => result.file.id), q).toEqual([file.id]);
    }
    const page = await ada.api.get<Page<FileResult>>(`/api/teams/${team.id}/search/files?q=roadmap`);
    expect(page.results[0]!.highlights).toEqual([{ offset: 0, length: 7 }]);
    expect(page.results[0]!.file.message_id).toBe(message);
  });

  test('file of a deleted message disappears', async () => {
    const message = await post(bob, team.generalId, 'chart shared');
    await insertFile(server, { team_id: team.id, conversation_id: team.generalId, uploader_id: bob.id, message_id: message, name: 'flamingo-chart.png', mime_type: 'image/png' });
    expect((await ada.api.get<Page<FileResult>>('/api/search/files?q=flamingo')).total).toBe(1);
    expect((await ada.api.get<Page<FileResult>>('/api/search/files?q=flamingo image')).total).toBe(1);

    await bob.api.delete(`/api/messages/${message}`);
    expect((await ada.api.get<Page<FileResult>>('/api/search/files?q=flamingo')).total).toBe(0);
  });

  test('file in private channel hidden', async () => {
    const channel = await buildChannel(bob, team.id, { name: 'files-private', private: true });
    const message = await post(bob, channel.id, 'secret chart');
    await insertFile(server, { team_id: team.id, conversation_id: channel.id, uploader_id: bob.id, message_id: message, name: 'gecko-plan.xlsx', mime_type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' });
    expect((await bob.api.get<Page<FileResult>>('/api/search/files?q=gecko spreadsheet')).total).toBe(1);
    expect((await ada.api.get<Page<FileResult>>('/api/search/files?q=gecko')).total).toBe(0);
  });

  test('has:file needs a live file', async () => {
    const message = await post(bob, team.generalId, 'iguana photos');
    expect((await search(ada, 'iguana has:file')).total).toBe(0);
    const file = await insertFile(server, { team_id: team.id, conversation_id: team.generalId, uploader_id: bob.id, message_id: message, name: 'iguana.jpg', mime_type: 'image/jpeg' });
    expect((await search(ada, 'iguana has:file')).total).toBe(1);
    await server.server.ctx.storage.db.updateTable('files').set({ deleted_at: Date.now() }).where('id', '=', file.id).execute();
    expect((await search(ada, 'iguana has:file')).total).toBe(0);
  });
});

test('search routes in OpenAPI', async () => {
  const document = await ada.api.get<{ paths: Record<string, unknown> }>('/api/openapi.json');
  for (const route of ['/api/search', '/api/search/files', '/api/teams/{teamId}/search', '/api/teams/{teamId}/search/files']) {
    expect(document.paths[route], route).toBeDefined();
  }
});
