import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { generateSlackExport } from '../../scripts/lib/slack-export-generator.js';
import { MESSAGE_BATCH_SIZE } from '../../src/slack/import/messages.js';
import { emptyReport } from '../../src/slack/import/report.js';
import { RUN_STALE_MS } from '../../src/slack/import/run.js';
import { sweepImportLeftovers } from '../../src/slack/import/sweep.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { countExport, countTeam, FIXTURES, importPath, waitForRun, type RunView } from './import-helpers.js';

let server: TestServer;
let admin: TestUser;
let jon: TestUser;
let scratch: string;

beforeAll(async () => {
  server = await startServer();
  // The first registered account is the server admin.
  admin = await buildUser(server.url, 'admin');
  // jon@example.com is the e-mail of Slack user U061A1R2R in slack-dm-sample, so imports merge into this account.
  jon = await buildUser(server.url, 'jon');
  await server.server.ctx.storage.db.updateTable('users').set({ email: 'jon@example.com', email_key: 'jon@example.com' }).where('id', '=', jon.id).execute();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-slack-'));
});

afterAll(async () => {
  await server.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe.each(['slack-export-sample', 'irc-disentanglement-sample', 'slack-dm-sample'])('import of %s', (fixture) => {
  const folder = path.join(FIXTURES, fixture);
  let teamId: string;
  let first: RunView;

  beforeAll(async () => {
    teamId = (await buildTeam(admin, [], fixture)).id;
    first = await importPath(admin, teamId, folder);
  });

  it('matches counts from the JSON', async () => {
    const expected = countExport(folder);
    const actual = await countTeam(server.server.ctx.storage.db, teamId);
    expect(first.status).toBe('done');
    expect(first.report.counts.users!.imported + first.report.counts.users!.merged).toBe(expected.users);
    expect(first.report.counts.channels!.imported + first.report.counts.channels!.merged).toBe(expected.channels);
    expect(actual.messages).toBe(expected.messages);
    expect(first.report.counts.messages!.imported).toBe(expected.messages);
    expect(actual.replies).toBe(expected.replies);
    expect(actual.threads).toBe(expected.threads);
    expect(actual.edits).toBe(expected.edits);
    expect(actual.reactions).toBe(first.report.counts.reactions!.imported);
    const reactions = first.report.counts.reactions!;
    expect(reactions.imported + reactions.merged + reactions.skipped).toBe(expected.reactions);
  });

  it('adds nothing the second time', async () => {
    const before = await countTeam(server.server.ctx.storage.db, teamId);
    const second = await importPath(admin, teamId, folder);
    expect(second.status).toBe('done');
    expect(await countTeam(server.server.ctx.storage.db, teamId)).toEqual(before);
    expect(second.report.counts.messages!.imported).toBe(0);
    expect(second.report.counts.messages!.existing).toBe(first.report.counts.messages!.imported);
    expect(second.report.counts.users!.imported).toBe(0);
    expect(second.report.created_accounts).toEqual([]);
  });

  it('numbers messages in ts order', async () => {
    const rows = await server.server.ctx.storage.db
      .selectFrom('messages')
      .innerJoin('conversations', 'conversations.id', 'messages.conversation_id')
      .select(['messages.conversation_id', 'messages.seq', 'messages.slack_ts'])
      .where('conversations.team_id', '=', teamId)
      .where('messages.slack_ts', 'is not', null)
      .orderBy('messages.conversation_id')
      .orderBy('messages.seq')
      .execute();
    for (let i = 1; i < rows.length; i += 1) {
      if (rows[i]!.conversation_id !== rows[i - 1]!.conversation_id) continue;
      expect(Number(rows[i]!.slack_ts)).toBeGreaterThan(Number(rows[i - 1]!.slack_ts));
    }
  });
});

describe('imported content', () => {
  let teamId: string;
  let run: RunView;

  beforeAll(async () => {
    teamId = (await buildTeam(admin, [], 'dm-content')).id;
    run = await importPath(admin, teamId, path.join(FIXTURES, 'slack-dm-sample'));
  });

  it('merges accounts by e-mail', async () => {
    // Jon's own account, and ada@example.com when an earlier test imported the same export into another team.
    expect(run.report.counts.users!.merged).toBeGreaterThanOrEqual(1);
    expect(run.report.created_accounts.map((account) => account.user_id)).not.toContain(jon.id);
    const member = await server.server.ctx.storage.db.selectFrom('team_members').select('user_id').where('team_id', '=', teamId).where('user_id', '=', jon.id).executeTakeFirst();
    expect(member).toBeDefined();
  });

  it('creates accounts without a usable password', async () => {
    const jane = run.report.created_accounts.find((account) => !account.is_bot)!;
    expect(jane.email).toMatch(/\.invalid$/);
    const login = await admin.api.raw('POST', '/api/auth/login', { login: jane.username, password: 'correct horse battery' });
    expect(login.status).toBe(401);
    const bots = run.report.created_accounts.filter((account) => account.is_bot).length;
    const botRows = await server.server.ctx.storage.db.selectFrom('users').select('id').where('id', 'in', run.report.created_accounts.map((a) => a.user_id)).where('is_bot', '=', 1).execute();
    expect(botRows.length).toBe(bots);
    expect(bots).toBeGreaterThanOrEqual(2);
  });

  it('imports DMs and group DMs', async () => {
    const rows = await server.server.ctx.storage.db.selectFrom('conversations').select(['id', 'kind', 'dm_key']).where('team_id', '=', teamId).where('kind', 'in', ['dm', 'group']).execute();
    // Four DMs, one a self-DM, and one of the three group DMs, which has only two people.
    expect(rows.filter((row) => row.kind === 'dm').length).toBe(5);
    expect(rows.filter((row) => row.kind === 'group').length).toBe(2);
    const dm = await jon.api.get<{ messages: Array<{ text: string; reply_count: number; edited_at: string | null }> }>(
      `/api/conversations/${rows.find((row) => row.kind === 'dm' && row.dm_key!.includes(jon.id))!.id}/messages?limit=50`,
    );
    expect(dm.messages.map((message) => message.text)).toContain('moved to 6 & told @channel');
    expect(dm.messages[0]!.reply_count).toBe(2);
  });

  it('imports private channels', async () => {
    const db = server.server.ctx.storage.db;
    const channel = await db.selectFrom('conversations').selectAll().where('team_id', '=', teamId).where('name', '=', 'secret-plans').executeTakeFirstOrThrow();
    expect(channel.kind).toBe('private');
    expect(channel.purpose).toBe('Plans');
    expect(channel.topic).toMatch(/^Only for @\S+ and me$/);
    const members = await db.selectFrom('conversation_members').select('user_id').where('conversation_id', '=', channel.id).execute();
    expect(members.length).toBe(2);
    const history = await jon.api.get<{ messages: Array<{ text: string }> }>(`/api/conversations/${channel.id}/messages`);
    expect(history.messages.map((message) => message.text)).toEqual([expect.stringMatching(/has joined the group$/), 'the plan is in #general']);
  });

  it('keeps archive state', async () => {
    const random = await server.server.ctx.storage.db.selectFrom('conversations').select('archived_at').where('team_id', '=', teamId).where('name', '=', 'random').executeTakeFirstOrThrow();
    expect(random.archived_at).not.toBeNull();
  });

  it('keeps subtypes, pins and reactions', async () => {
    const db = server.server.ctx.storage.db;
    const subtypes = (await db.selectFrom('messages').select('subtype').where('slack_ts', 'is not', null).where('subtype', 'is not', null).execute()).map((row) => row.subtype);
    expect(subtypes).toEqual(expect.arrayContaining(['bot_message', 'me_message']));
    const broadcast = await db.selectFrom('messages').select(['also_in_channel', 'root_id']).where('slack_ts', '=', '1556700120.000300').executeTakeFirstOrThrow();
    expect(broadcast.also_in_channel).toBe(1);
    expect(broadcast.root_id).not.toBeNull();
    const tombstone = await db.selectFrom('messages').select(['deleted_at', 'reply_count']).where('slack_ts', '=', '1556790000.000100').executeTakeFirstOrThrow();
    expect(tombstone.deleted_at).not.toBeNull();
    expect(Number(tombstone.reply_count)).toBe(1);
    const root = await db.selectFrom('messages').select('id').where('slack_ts', '=', '1556700000.000100').executeTakeFirstOrThrow();
    expect((await db.selectFrom('pins').select('message_id').where('message_id', '=', root.id).execute()).length).toBe(1);
    const reactions = await db.selectFrom('reactions').select(['emoji', 'user_id']).where('message_id', '=', root.id).execute();
    // "+1" by two users, and one of them again with a skin tone, which merges into the same reaction.
    expect(reactions.map((row) => row.emoji)).toEqual(['👍', '👍']);
    expect(run.report.counts.reactions!.merged).toBe(1);
    expect(run.report.problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'reactions', reason: 'unknown emoji partyparrot' })]));
  });

  it('reports unknown users', () => {
    expect(run.report.problems).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: 'messages', path: 'random/2017-06-25.json', ts: '1498401071.279035', reason: 'unknown user U6006P1CN' })]),
    );
    expect(run.report.counts.messages!.skipped).toBe(2);
  });

  it('makes messages searchable', async () => {
    const result = await jon.api.get<{ results: Array<{ message?: { text: string } }> }>(`/api/teams/${teamId}/search?q=runbook`);
    expect(result.results.length).toBe(1);
  });

  it('converts mentions to entities', async () => {
    const row = await server.server.ctx.storage.db
      .selectFrom('messages')
      .innerJoin('conversations', 'conversations.id', 'messages.conversation_id')
      .select(['messages.id', 'messages.text', 'messages.entities'])
      .where('conversations.team_id', '=', teamId)
      .where('messages.slack_ts', '=', '1556700000.000100')
      .executeTakeFirstOrThrow();
    const entities = JSON.parse(row.entities) as { mentions: Array<{ type: string; user_id?: string }> };
    expect(row.text).toMatch(/^Hi @\S+, the deploy is at 5$/);
    expect(entities.mentions).toEqual([expect.objectContaining({ type: 'user', offset: 3 })]);
    const mentioned = await server.server.ctx.storage.db.selectFrom('message_mentions').select('user_id').where('message_id', '=', row.id).execute();
    expect(mentioned.map((mention) => mention.user_id)).toEqual([entities.mentions[0]!.user_id]);
  });
});

describe('broken export', () => {
  let run: RunView;
  let broken: string;

  beforeAll(async () => {
    broken = path.join(scratch, 'broken');
    fs.cpSync(path.join(FIXTURES, 'irc-disentanglement-sample'), broken, { recursive: true });
    const day = path.join(broken, 'mediawiki', '2019-02-27.json');
    fs.writeFileSync(day, fs.readFileSync(day, 'utf8').slice(0, 500));
    const other = path.join(broken, 'mediawiki', '2019-02-28.json');
    const messages = JSON.parse(fs.readFileSync(other, 'utf8')) as Array<Record<string, unknown>>;
    messages.push({ type: 'message', user: 'UNOBODY01', text: 'who am I', ts: '1551398400.999998' });
    messages.push({ type: 'message', subtype: 'future_feature', user: messages[0]!.user, text: 'new', ts: '1551398400.999999' });
    messages.push({ type: 'message', user: messages[0]!.user, text: 'reply to a lost thread', ts: '1551398400.999997', thread_ts: '1551312000.000001' });
    fs.writeFileSync(other, JSON.stringify(messages));
    // A missing day file: its messages are absent, and the other days import.
    fs.rmSync(path.join(broken, 'mediawiki', '2019-02-26.json'));
    const teamId = (await buildTeam(admin, [], 'broken')).id;
    run = await importPath(admin, teamId, broken);
  });

  it('reports each problem with its path', () => {
    expect(run.status).toBe('done');
    const reasons = run.report.problems.map((problem) => `${problem.path} ${problem.reason.split(':')[0]}`);
    expect(reasons).toContain('mediawiki/2019-02-27.json invalid JSON');
    expect(reasons).toContain('mediawiki/2019-02-28.json unknown user UNOBODY01');
    expect(reasons).toContain('mediawiki/2019-02-28.json unknown subtype future_feature');
    expect(reasons).toContain('mediawiki/2019-02-28.json thread 1551312000.000001 is not in the export; imported as a message');
  });

  it('imports the rest', () => {
    const files = ['2019-02-28.json', '2019-03-01.json', '2019-03-02.json'];
    const valid = files.flatMap((file) => JSON.parse(fs.readFileSync(path.join(broken, 'mediawiki', file), 'utf8')) as unknown[]).length - 2;
    expect(run.report.counts.messages!.imported).toBe(valid);
    expect(run.report.counts.messages!.skipped).toBe(3);
  });
});

describe('day files larger than a batch', () => {
  // A server that reads every day file entry by entry, as it does files too large to parse whole.
  let streaming: TestServer;
  const runs = new Map<'whole' | 'streamed', { run: RunView; teamId: string; server: TestServer }>();
  let perChannel: number;

  beforeAll(async () => {
    streaming = await startServer({ slackImportWholeFileMaxBytes: 0 });
    const streamingAdmin = await buildUser(streaming.url, 'admin');
    const folder = path.join(scratch, 'large-days');
    // One day file per channel, each longer than a batch, so a streamed one is read in blocks.
    perChannel = MESSAGE_BATCH_SIZE + 50;
    generateSlackExport(folder, { messages: perChannel * 3, channels: 3, users: 10, messagesPerDay: perChannel });
    const damaged = path.join(folder, 'channel-1', '2017-01-01.json');
    fs.writeFileSync(damaged, fs.readFileSync(damaged, 'utf8').slice(0, -100));
    const unordered = path.join(folder, 'channel-2', '2017-01-01.json');
    fs.writeFileSync(unordered, JSON.stringify((JSON.parse(fs.readFileSync(unordered, 'utf8')) as unknown[]).reverse()));

    const wholeTeam = (await buildTeam(admin, [], 'large-days')).id;
    runs.set('whole', { run: await importPath(admin, wholeTeam, folder), teamId: wholeTeam, server });
    const streamedTeam = (await buildTeam(streamingAdmin, [], 'large-days')).id;
    runs.set('streamed', { run: await importPath(streamingAdmin, streamedTeam, folder), teamId: streamedTeam, server: streaming });
  });
  afterAll(async () => streaming.close());

  async function importedIn(kind: 'whole' | 'streamed', channel: string): Promise<number> {
    const { teamId, server: target } = runs.get(kind)!;
    const rows = await target.server.ctx.storage.db
      .selectFrom('messages')
      .innerJoin('conversations', 'conversations.id', 'messages.conversation_id')
      .select('messages.id')
      .where('conversations.team_id', '=', teamId)
      .where('conversations.name', '=', channel)
      .execute();
    return rows.length;
  }

  it.each(['whole', 'streamed'] as const)('imports an intact day (%s)', async (kind) => {
    expect(runs.get(kind)!.run.status).toBe('done');
    expect(await importedIn(kind, 'channel-0')).toBe(perChannel);
  });

  it.each(['whole', 'streamed'] as const)('skips a damaged day (%s)', async (kind) => {
    expect(await importedIn(kind, 'channel-1')).toBe(0);
    const problem = runs.get(kind)!.run.report.problems.find((entry) => entry.path === 'channel-1/2017-01-01.json');
    expect(problem?.reason).toMatch(/^invalid JSON: /);
  });

  it('sorts a whole day out of ts order', async () => {
    expect(await importedIn('whole', 'channel-2')).toBe(perChannel);
    const problem = runs.get('whole')!.run.report.problems.find((entry) => entry.path === 'channel-2/2017-01-01.json');
    expect(problem).toBeUndefined();
  });

  it('reports a streamed day out of ts order', async () => {
    const { run } = runs.get('streamed')!;
    expect(await importedIn('streamed', 'channel-2')).toBe(perChannel);
    const problem = run.report.problems.find((entry) => entry.path === 'channel-2/2017-01-01.json');
    expect(problem?.reason).toMatch(/out of ts order/);
    expect(run.report.counts.messages!.skipped).toBe(1);
  });
});

describe('file bytes', () => {
  it('stores bytes found in the export', async () => {
    const folder = path.join(scratch, 'with-files');
    fs.cpSync(path.join(FIXTURES, 'slack-export-sample'), folder, { recursive: true });
    fs.mkdirSync(path.join(folder, '__uploads', 'F0VNAKDE2'), { recursive: true });
    fs.writeFileSync(path.join(folder, '__uploads', 'F0VNAKDE2', '100_cities.js'), 'const cities = 100;\n');
    const teamId = (await buildTeam(admin, [], 'files')).id;
    const run = await importPath(admin, teamId, folder);

    expect(run.report.counts.files!.imported).toBe(1);
    expect(run.report.file_placeholders).toBe(3);
    const file = await server.server.ctx.storage.db.selectFrom('files').selectAll().where('team_id', '=', teamId).executeTakeFirstOrThrow();
    expect(file.name).toBe('100_cities.js');
    expect(Number(file.size)).toBe(20);
    const download = await admin.api.raw('GET', `/api/files/${file.id}/content`);
    expect(download.body).toBe('const cities = 100;\n');
  });
});

describe('interrupted runs', () => {
  const folder = () => path.join(server.dataDir, 'slack-imports');

  /** Writes a run row directly, as a node that was killed at `updatedAt` leaves it. */
  async function insertRun(teamId: string, status: string, updatedAt: number): Promise<string> {
    const id = randomUUID();
    await server.server.ctx.storage.db
      .insertInto('slack_imports')
      .values({ id, team_id: teamId, started_by: null, status: status as 'running', source: 'uploaded zip', report: JSON.stringify(emptyReport()), error: null, created_at: updatedAt, updated_at: updatedAt, finished_at: null })
      .execute();
    return id;
  }

  /** Writes an uploaded zip of a run, last written `ageMs` ago. */
  function writeZip(runId: string, ageMs: number): string {
    fs.mkdirSync(folder(), { recursive: true });
    const file = path.join(folder(), `${runId}.zip`);
    fs.writeFileSync(file, 'zip bytes');
    const time = new Date(Date.now() - ageMs);
    fs.utimesSync(file, time, time);
    return file;
  }

  it('sweeps stale runs and their zips', async () => {
    const stale = Date.now() - RUN_STALE_MS - 60_000;
    const deadTeam = (await buildTeam(admin, [], 'dead-run')).id;
    const liveTeam = (await buildTeam(admin, [], 'live-run')).id;
    const dead = await insertRun(deadTeam, 'running', stale);
    const live = await insertRun(liveTeam, 'running', Date.now());
    const deadZip = writeZip(dead, RUN_STALE_MS + 60_000);
    const liveZip = writeZip(live, RUN_STALE_MS + 60_000);
    const orphanZip = writeZip(randomUUID(), RUN_STALE_MS + 60_000);
    // An upload still arriving has no run row yet.
    const arrivingZip = writeZip(randomUUID(), 0);

    const result = await sweepImportLeftovers(server.server.ctx);

    expect(result.interruptedRuns).toBe(1);
    expect(fs.existsSync(deadZip)).toBe(false);
    expect(fs.existsSync(orphanZip)).toBe(false);
    expect(fs.existsSync(liveZip)).toBe(true);
    expect(fs.existsSync(arrivingZip)).toBe(true);
    const run = await admin.api.get<RunView>(`/api/teams/${deadTeam}/slack-imports/${dead}`);
    expect(run.status).toBe('interrupted');
    expect((await admin.api.get<RunView>(`/api/teams/${liveTeam}/slack-imports/${live}`)).status).toBe('running');
    fs.rmSync(liveZip);
    fs.rmSync(arrivingZip);
  });

  it('rejects a second live run', async () => {
    const teamId = (await buildTeam(admin, [], 'busy')).id;
    const live = await insertRun(teamId, 'running', Date.now());
    const started = await admin.api.raw('POST', `/api/teams/${teamId}/slack-imports`, { path: path.join(FIXTURES, 'slack-dm-sample') });
    expect(started.status).toBe(409);
    expect((started.body as { error: { code: string } }).error.code).toBe('IMPORT_RUNNING');
    const uploaded = await fetch(`${server.url}/api/teams/${teamId}/slack-imports/zip`, { method: 'POST', headers: { authorization: `Bearer ${admin.token}` }, body: 'zip' });
    expect(uploaded.status).toBe(409);
    expect(fs.readdirSync(folder()).filter((name) => name.endsWith('.zip'))).toEqual([]);

    // A run goes stale RUN_STALE_MS after its last heartbeat; then a new run starts and resumes the import.
    await server.server.ctx.storage.db.updateTable('slack_imports').set({ updated_at: Date.now() - RUN_STALE_MS - 1000 }).where('id', '=', live).execute();
    const resumed = await importPath(admin, teamId, path.join(FIXTURES, 'slack-dm-sample'));
    expect(resumed.status).toBe('done');
    expect((await admin.api.get<RunView>(`/api/teams/${teamId}/slack-imports/${live}`)).status).toBe('interrupted');
  });

  it('deletes the zip of a failed run', async () => {
    const teamId = (await buildTeam(admin, [], 'bad-zip')).id;
    const response = await fetch(`${server.url}/api/teams/${teamId}/slack-imports/zip`, { method: 'POST', headers: { authorization: `Bearer ${admin.token}` }, body: 'not a zip' });
    expect(response.status).toBe(202);
    const run = await waitForRun(admin, teamId, ((await response.json()) as RunView).id);
    expect(run.status).toBe('failed');
    // The zip goes right after the run's final status is stored.
    await expect.poll(() => fs.existsSync(path.join(folder(), `${run.id}.zip`)), { timeout: 5000 }).toBe(false);
  });
});

describe('import permissions', () => {
  let owner: TestUser;
  let member: TestUser;
  let outsider: TestUser;
  let teamId: string;
  let zip: Buffer;

  beforeAll(async () => {
    owner = await buildUser(server.url, 'owner');
    member = await buildUser(server.url, 'member');
    outsider = await buildUser(server.url, 'outsider');
    teamId = (await buildTeam(owner, [member], 'owned')).id;
    await buildTeam(outsider, [], 'elsewhere');
    const zipFile = path.join(scratch, 'sample.zip');
    const { execFileSync } = await import('node:child_process');
    execFileSync('zip', ['-qr', zipFile, 'slack-export-sample'], { cwd: FIXTURES });
    zip = fs.readFileSync(zipFile);
  });

  const upload = (user: TestUser, body: Buffer, team = teamId) =>
    fetch(`${server.url}/api/teams/${team}/slack-imports/zip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/zip' },
      body,
    });

  it('lets the owner upload a zip', async () => {
    const response = await upload(owner, zip);
    expect(response.status).toBe(202);
    const started = (await response.json()) as RunView;
    const run = await waitForRun(owner, teamId, started.id);
    expect(run.status).toBe('done');
    expect(run.report.counts.messages!.imported).toBe(countExport(path.join(FIXTURES, 'slack-export-sample')).messages);
  });

  it('denies a member', async () => {
    const response = await upload(member, zip);
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
  });

  it('denies another team', async () => {
    const response = await upload(outsider, zip);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('TEAM_NOT_FOUND');
  });

  it('denies a server path to owners', async () => {
    const response = await owner.api.raw('POST', `/api/teams/${teamId}/slack-imports`, { path: '/etc' });
    expect(response.status).toBe(403);
    expect((response.body as { error: { code: string; field: string } }).error).toMatchObject({ code: 'FORBIDDEN', field: 'path' });
  });

  it('hides runs from other teams', async () => {
    const started = await admin.api.post<RunView>(`/api/teams/${teamId}/slack-imports`, { path: path.join(FIXTURES, 'slack-export-sample') });
    await waitForRun(admin, teamId, started.id);
    const response = await outsider.api.raw('GET', `/api/teams/${teamId}/slack-imports/${started.id}`);
    expect(response.status).toBe(404);
    expect((response.body as { error: { code: string } }).error.code).toBe('TEAM_NOT_FOUND');
    const byMember = await member.api.raw('GET', `/api/teams/${teamId}/slack-imports/${started.id}`);
    expect((byMember.body as { error: { code: string } }).error.code).toBe('FORBIDDEN');
  });

  it('rejects a missing path', async () => {
    const response = await admin.api.raw('POST', `/api/teams/${teamId}/slack-imports`, { path: path.join(scratch, 'nothing-here') });
    expect(response.status).toBe(400);
    expect((response.body as { error: { field: string } }).error.field).toBe('path');
  });

  it('rejects unknown runs', async () => {
    const response = await owner.api.raw('GET', `/api/teams/${teamId}/slack-imports/00000000-0000-4000-8000-000000000000`);
    expect((response.body as { error: { code: string } }).error.code).toBe('IMPORT_NOT_FOUND');
  });

  it('requires a session', async () => {
    const response = await fetch(`${server.url}/api/teams/${teamId}/slack-imports/zip`, { method: 'POST', body: zip });
    expect(response.status).toBe(401);
  });
});
