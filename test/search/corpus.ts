import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexFile } from '../../src/search/indexing.js';
import type { FileRow } from '../../src/storage/schema.js';
import { buildChannel, buildTeam, buildUser, type TestTeam, type TestUser } from '../helpers/factories.js';
import type { TestServer } from '../helpers/server.js';

/**
 * The fixed corpus of the search tests, built over HTTP: hand-written
 * messages that exercise each operator and each kind of text, and the
 * messages of a real Slack export (test/fixtures/slack-export-sample, MIT).
 * Every message has a key, so expected results are sets of keys.
 */
export interface Corpus {
  ada: TestUser;
  bob: TestUser;
  cy: TestUser;
  /** In another team only. */
  eve: TestUser;
  slackUsers: Map<string, TestUser>;
  team: TestTeam;
  otherTeam: TestTeam;
  channels: Record<'ops' | 'secret' | 'random' | 'leaving' | 'enrique' | 'sailor', string>;
  dmWithBob: string;
  /** Message id by key. */
  ids: Map<string, string>;
  /** Key by message id. */
  keys: Map<string, string>;
}

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'slack-export-sample');

/** Backdates a message (and its search document) through the server's database handle, as an import would. */
export async function backdate(server: TestServer, messageId: string, at: number): Promise<void> {
  const db = server.server.ctx.storage.db;
  await db.updateTable('messages').set({ created_at: at }).where('id', '=', messageId).execute();
  await db.updateTable('search_documents').set({ created_at: at }).where('message_id', '=', messageId).execute();
}

/** Inserts a shared file row directly, as the file upload API will, and indexes it in the same transaction. */
export async function insertFile(server: TestServer, values: Partial<FileRow> & Pick<FileRow, 'team_id' | 'conversation_id' | 'uploader_id' | 'name' | 'mime_type'>): Promise<FileRow> {
  const row: FileRow = {
    id: randomUUID(),
    message_id: null,
    size: 1234,
    sha256: '0'.repeat(64),
    blob_key: `blob-${randomUUID()}`,
    wrapped_key: null,
    master_key_id: null,
    width: null,
    height: null,
    thumbnail_key: null,
    thumbnail_wrapped_key: null,
    thumbnail_master_key_id: null,
    thumbnail_size: null,
    created_at: Date.now(),
    deleted_at: null,
    ...values,
  };
  const ctx = server.server.ctx;
  await ctx.storage.db.transaction().execute(async (tx) => {
    await tx.insertInto('files').values(row).execute();
    await indexFile(ctx, tx, row);
  });
  return row;
}

async function post(corpus: Corpus, user: TestUser, conversationId: string, key: string, text: string, extra: Record<string, unknown> = {}): Promise<string> {
  const message = await user.api.post<{ id: string }>(`/api/conversations/${conversationId}/messages`, { text, ...extra });
  corpus.ids.set(key, message.id);
  corpus.keys.set(message.id, key);
  return message.id;
}

/** Converts Slack's message markup: user mentions, links with labels, and HTML escapes. */
function convertSlackText(text: string, usernames: Map<string, string>): string {
  return text
    .replace(/<@(U[A-Z0-9]+)>/g, (_match, id: string) => `@${usernames.get(id) ?? id}`)
    .replace(/<([^<>|]+)\|([^<>]+)>/g, (_match, url: string, label: string) => `[${label}](${url})`)
    .replace(/<([^<>]+)>/g, (_match, url: string) => url)
    .replaceAll('&gt;', '>')
    .replaceAll('&lt;', '<')
    .replaceAll('&amp;', '&');
}

interface SlackMessage {
  user?: string;
  subtype?: string;
  text: string;
  ts: string;
}

/** Posts the export's messages by people (and their file shares) in time order, backdated to their Slack times. */
async function importSlack(server: TestServer, corpus: Corpus): Promise<void> {
  const users = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'users.json'), 'utf8')) as Array<{ id: string; name: string }>;
  const usernames = new Map<string, string>();
  for (const user of users) usernames.set(user.id, corpus.slackUsers.get(user.id)!.username);

  for (const [folder, channelId] of [['enrique', corpus.channels.enrique], ['traveling-sailor', corpus.channels.sailor]] as const) {
    const days = fs.readdirSync(path.join(FIXTURE, folder)).sort();
    for (const day of days) {
      const messages = JSON.parse(fs.readFileSync(path.join(FIXTURE, folder, day), 'utf8')) as SlackMessage[];
      for (const message of messages) {
        if (message.user === undefined || (message.subtype !== undefined && message.subtype !== 'file_share')) continue;
        const author = corpus.slackUsers.get(message.user)!;
        const key = `slack:${message.ts}`;
        const id = await post(corpus, author, channelId, key, convertSlackText(message.text, usernames));
        await backdate(server, id, Math.round(Number(message.ts) * 1000));
      }
    }
  }
}

/** Builds the corpus; docs of each message are in the comments of test/search/search-table.test.ts. */
export async function buildCorpus(server: TestServer): Promise<Corpus> {
  const ada = await buildUser(server.url, 'ada');
  const bob = await buildUser(server.url, 'bob');
  const cy = await buildUser(server.url, 'cy');
  const eve = await buildUser(server.url, 'eve');
  const slackUsers = new Map<string, TestUser>();
  for (const [id, prefix] of [['U0BMYT2FL', 'abilinski'], ['U0BMS113R', 'doubledeez'], ['U0BMQB6JE', 'hamza'], ['U0BMM2FEH', 'heroes']] as const) {
    slackUsers.set(id, await buildUser(server.url, prefix));
  }

  const team = await buildTeam(ada, [bob, cy, ...slackUsers.values()], 'Acme');
  const otherTeam = await buildTeam(eve, [], 'Elsewhere');
  const channels = {
    ops: (await buildChannel(bob, team.id, { name: 'ops', private: true, members: [ada] })).id,
    secret: (await buildChannel(cy, team.id, { name: 'secret', private: true })).id,
    random: (await buildChannel(cy, team.id, { name: 'random' })).id,
    leaving: (await buildChannel(bob, team.id, { name: 'leaving', private: true, members: [ada] })).id,
    enrique: (await buildChannel(ada, team.id, { name: 'enrique', members: [...slackUsers.values()] })).id,
    sailor: (await buildChannel(ada, team.id, { name: 'traveling-sailor', members: [...slackUsers.values()] })).id,
  };
  const dm = await bob.api.post<{ id: string }>(`/api/teams/${team.id}/dms`, { user_ids: [ada.id] });

  const corpus: Corpus = { ada, bob, cy, eve, slackUsers, team, otherTeam, channels, dmWithBob: dm.id, ids: new Map(), keys: new Map() };
  const general = team.generalId;

  await post(corpus, ada, general, 'deploying', 'Deploying the new servers to staging tonight');
  await post(corpus, bob, general, 'deployed', 'We deployed version 2.4 yesterday; the rollback plan is in the wiki');
  await post(corpus, cy, general, 'cafe', 'Café au lait at the Zürich office ☕ with a naïve façade');
  await post(corpus, bob, general, 'japanese', '東京都庁に行きました');
  await post(corpus, cy, general, 'korean', '서울특별시 회의는 내일입니다');
  await post(corpus, ada, general, 'chinese', '中文搜索测试：北京欢迎你');
  await post(corpus, bob, general, 'emoji', 'party time 🎉🎉 great work 👍🏽');
  await post(corpus, cy, general, 'path', 'Error in src/search/analyzer.ts:42, see https://example.com/docs/search?q=1 for details');
  await post(corpus, ada, general, 'code', 'run `npm install --save-dev vitest@4` then open C:\\Users\\ada\\notes.txt');
  await post(corpus, bob, general, 'mention', `@${ada.username} can you review the release notes?`);
  await post(corpus, cy, general, 'fox', 'The quick brown fox jumps over the lazy dog');
  await post(corpus, ada, general, 'bread', 'Brown bread recipe from grandma');
  const smoothie = await post(corpus, bob, general, 'edited', 'banana smoothie recipe');
  await bob.api.patch(`/api/messages/${smoothie}`, { text: 'mango smoothie recipe' });
  const deleted = await post(corpus, cy, general, 'deleted', 'pineapple secret plan');
  await cy.api.delete(`/api/messages/${deleted}`);
  const root = await post(corpus, ada, general, 'thread-root', 'Thread about the kubernetes upgrade');
  await post(corpus, bob, general, 'thread-reply', 'kubernetes nodes drained and ready', { thread_root_id: root });
  const reacted = await post(corpus, ada, general, 'reaction', 'xylophone lessons start monday');
  await bob.api.post(`/api/messages/${reacted}/reactions`, { emoji: '👍' });
  const withFile = await post(corpus, bob, general, 'file', 'quarterly report attached');
  await insertFile(server, { team_id: team.id, conversation_id: general, uploader_id: bob.id, message_id: withFile, name: 'Report-2024_Q1.pdf', mime_type: 'application/pdf' });
  const withDeletedFile = await post(corpus, bob, general, 'deleted-file', 'old attachment gone');
  await insertFile(server, { team_id: team.id, conversation_id: general, uploader_id: bob.id, message_id: withDeletedFile, name: 'obsolete-diagram.png', mime_type: 'image/png', deleted_at: Date.now() });
  await post(corpus, cy, general, 'dated-2023', 'annual budget review');
  await post(corpus, ada, general, 'dated-2022', 'annual budget planning');

  await post(corpus, bob, channels.ops, 'ops', 'zebra credentials rotation for the deploy');
  await post(corpus, cy, channels.secret, 'secret', 'zebra hidden from ada, deploy plans');
  await post(corpus, cy, channels.random, 'random', 'zebra crossing in a public channel ada never joined');
  await post(corpus, bob, channels.leaving, 'leaving', 'ocelot confidential notes');
  await post(corpus, bob, dm.id, 'dm', 'zebra lunch tomorrow?');
  await post(corpus, eve, otherTeam.generalId, 'other-team', 'zebra in another team');

  await backdate(server, corpus.ids.get('dated-2023')!, Date.UTC(2023, 4, 10, 12));
  await backdate(server, corpus.ids.get('dated-2022')!, Date.UTC(2022, 11, 31, 23, 30));
  await importSlack(server, corpus);
  return corpus;
}
