/**
 * The sidebar benchmark, started by `npm run bench:sidebar`. It seeds a fresh
 * SQLite database with bulk SQL: 1,000,000 messages by default, over 400
 * conversations, 200 of which the measured user belongs to. Then it times the
 * sidebar (every conversation of the user with unread and mention counts) as
 * a direct function call and over HTTP, and prints p50, p95 and p99.
 *
 * Options (environment): SIDEBAR_MESSAGES (total messages), SIDEBAR_CALLS
 * (timed calls per case). docs/benchmarks.md ("Sidebar") records results.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { ApiClient } from '../src/client/api.js';
import { buildChatterBox } from '../src/http/app.js';
import { buildConfig } from '../src/platform/config.js';
import { createLogger } from '../src/platform/logger.js';
import { COUNT_CAP, buildConversationCountsQuery, buildThreadCountsQuery, listConversationCounts, listThreadCounts } from '../src/reads/queries.js';

const TOTAL_MESSAGES = Number(process.env.SIDEBAR_MESSAGES ?? 1_000_000);
const CALLS = Number(process.env.SIDEBAR_CALLS ?? 500);
const CONVERSATIONS = 400;
/** Conversations the measured user belongs to: the first MEMBER_OF of the seeded ones. */
const MEMBER_OF = 200;
/** Other members of each of the user's conversations, drawn from this many seeded users. */
const OTHER_USERS = 2_000;
const MEMBERS_PER_CONVERSATION = 200;
/** Share of messages that are thread replies, that mention the user, and that use @channel. */
const REPLY_SHARE = 0.1;
const MENTION_SHARE = 0.02;
const BROADCAST_SHARE = 0.005;
const TARGET_MS = 20;

interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

async function time(calls: number, run: () => Promise<unknown>): Promise<Percentiles> {
  for (let index = 0; index < Math.min(50, calls); index += 1) await run();
  const samples: number[] = [];
  for (let index = 0; index < calls; index += 1) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  return percentiles(samples);
}

/** Deterministic pseudo-random numbers (mulberry32), so every run seeds the same shape. */
function createRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let value = Math.imul(state ^ (state >>> 15), 1 | state);
    value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value;
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

interface Seeded {
  userId: string;
  token: string;
  teamId: string;
}

/** Registers the measured user and their team through the API, so the session is a real one. */
async function createAccount(dataDir: string): Promise<Seeded> {
  const server = await buildChatterBox(buildConfig({ port: 0, dataDir }), createLogger('warn'));
  const url = await server.listen();
  const api = new ApiClient(url);
  const session = await api.post<{ user: { id: string }; token: string }>('/api/auth/register', {
    email: 'reader@bench.example',
    username: 'reader',
    password: 'bench password 123',
    display_name: 'Reader',
  });
  api.token = session.token;
  const team = await api.post<{ id: string }>('/api/teams', { name: 'Bench' });
  await server.close();
  return { userId: session.user.id, token: session.token, teamId: team.id };
}

/**
 * Fills the database with bulk SQL in a few large transactions. Events are not
 * seeded: the sidebar never reads them.
 */
function seed(file: string, account: Seeded, unreadMode: 'typical' | 'capped'): { messages: number; readRows: number } {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const random = createRandom(42);
  const now = Date.now();

  const userIds = Array.from({ length: OTHER_USERS }, () => randomUUID());
  const insertUser = db.prepare(
    `INSERT INTO users (id, email, email_key, username, username_key, display_name, password_hash, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, 'x', ?, ?)`,
  );
  const insertTeamMember = db.prepare(`INSERT INTO team_members (team_id, user_id, role, joined_at) VALUES (?, ?, 'member', ?)`);
  db.transaction(() => {
    userIds.forEach((id, index) => {
      insertUser.run(id, `u${index}@bench.example`, `u${index}@bench.example`, `u${index}`, `u${index}`, `User ${index}`, now, now);
      insertTeamMember.run(account.teamId, id, now);
    });
  })();

  const conversationIds = Array.from({ length: CONVERSATIONS }, () => randomUUID());
  const insertConversation = db.prepare(
    `INSERT INTO conversations (id, team_id, kind, name, created_by, created_at, updated_at) VALUES (?, ?, 'public', ?, ?, ?, ?)`,
  );
  const insertMember = db.prepare(`INSERT INTO conversation_members (conversation_id, user_id, joined_at, last_read_seq) VALUES (?, ?, ?, ?)`);
  const insertStream = db.prepare(`INSERT INTO streams (id, last_seq, min_seq) VALUES (?, ?, 1)`);
  const insertMessage = db.prepare(
    `INSERT INTO messages (id, conversation_id, seq, author_id, text, root_id, also_in_channel, created_at, entities)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertMention = db.prepare(
    `INSERT INTO message_mentions (message_id, user_id, conversation_id, thread_root_id, in_timeline, author_id, seq) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertThreadRead = db.prepare(
    `INSERT OR IGNORE INTO thread_reads (user_id, thread_root_id, conversation_id, following, last_read_seq, updated_at) VALUES (?, ?, ?, 1, ?, ?)`,
  );

  const perConversation = Math.floor(TOTAL_MESSAGES / CONVERSATIONS);
  let messages = 0;
  let readRows = 0;
  for (const [index, conversationId] of conversationIds.entries()) {
    const members = Array.from({ length: MEMBERS_PER_CONVERSATION }, (_, offset) => userIds[(index * 7 + offset) % OTHER_USERS]!);
    const isMine = index < MEMBER_OF;
    // Typical: up to 50 unread per conversation, a tenth with more than the count cap. Capped: nothing read.
    let unread = Math.floor(random() * 51);
    if (index % 10 === 0) unread = 1_500;
    if (unreadMode === 'capped') unread = perConversation;
    const lastReadSeq = Math.max(0, perConversation - unread);

    db.transaction(() => {
      insertConversation.run(conversationId, account.teamId, `bench-${index}`, account.userId, now, now);
      for (const memberId of members) insertMember.run(conversationId, memberId, now, perConversation);
      if (isMine) insertMember.run(conversationId, account.userId, now, lastReadSeq);
      insertStream.run(`c:${conversationId}`, perConversation);

      const roots: string[] = [];
      for (let seq = 1; seq <= perConversation; seq += 1) {
        const id = randomUUID();
        const author = members[Math.floor(random() * members.length)]!;
        const isReply = roots.length > 0 && random() < REPLY_SHARE;
        const rootId = isReply ? roots[Math.floor(random() * roots.length)]! : null;
        const mentionsReader = isMine && random() < MENTION_SHARE;
        const broadcast = !mentionsReader && random() < BROADCAST_SHARE;
        let text = `message ${seq} in ${index}`;
        let entities = '{"mentions":[],"links":[]}';
        if (mentionsReader) {
          text = '@reader have a look';
          entities = JSON.stringify({ mentions: [{ type: 'user', user_id: account.userId, username: 'reader', offset: 0, length: 7 }], links: [] });
        } else if (broadcast) {
          text = '@channel heads up';
          entities = JSON.stringify({ mentions: [{ type: 'channel', offset: 0, length: 8 }], links: [] });
        }
        insertMessage.run(id, conversationId, seq, author, text, rootId, 0, now - (perConversation - seq) * 1000, entities);
        if (!isReply) roots.push(id);
        if (mentionsReader || broadcast) {
          insertMention.run(id, mentionsReader ? account.userId : '', conversationId, rootId, isReply ? 0 : 1, author, seq);
        }
        if (isMine && isReply && readRows < 200 && random() < 0.05) {
          readRows += insertThreadRead.run(account.userId, rootId, conversationId, Math.max(0, seq - 5), now).changes;
        }
        messages += 1;
      }
    })();
  }
  db.close();
  return { messages, readRows };
}

function explain(file: string, query: { sql: string; parameters: readonly unknown[] }): string[] {
  const db = new BetterSqlite3(file, { readonly: true });
  const rows = db.prepare(`EXPLAIN QUERY PLAN ${query.sql}`).all(...query.parameters) as Array<{ detail: string }>;
  db.close();
  return rows.map((row) => row.detail);
}

async function runCase(unreadMode: 'typical' | 'capped'): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-sidebar-'));
  try {
    const account = await createAccount(dataDir);
    const file = path.join(dataDir, 'chatterbox.db');
    const seedStarted = performance.now();
    const seeded = seed(file, account, unreadMode);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    console.log(`[${unreadMode}] seeded ${seeded.messages} messages, ${seeded.readRows} followed threads in ${seedSeconds.toFixed(1)} s`);

    const server = await buildChatterBox(
      buildConfig({ port: 0, dataDir, rateLimits: { loginPerAddressPerMinute: 1_000_000 } }),
      createLogger('warn'),
    );
    const url = await server.listen();
    const db = server.ctx.storage.db;
    const api = new ApiClient(url, account.token);

    const rows = await listConversationCounts(db, account.userId);
    const unreadTotal = rows.reduce((sum, row) => sum + row.unread_count, 0);
    const mentionTotal = rows.reduce((sum, row) => sum + row.mention_count, 0);
    console.log(`[${unreadMode}] sidebar: ${rows.length} conversations, ${unreadTotal} unread, ${mentionTotal} mentions (counts stop at ${COUNT_CAP} each)`);

    const direct = await time(CALLS, () => listConversationCounts(db, account.userId));
    const http = await time(CALLS, () => api.get('/api/sidebar'));
    for (const [name, result] of [
      ['direct call', direct],
      ['HTTP GET /api/sidebar', http],
    ] as const) {
      const verdict = result.p99 < TARGET_MS ? 'under' : 'OVER';
      console.log(
        `[${unreadMode}] ${name}: p50 ${result.p50.toFixed(2)} ms, p95 ${result.p95.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, ` +
          `max ${result.max.toFixed(2)} ms over ${CALLS} calls (${verdict} the ${TARGET_MS} ms target at p99)`,
      );
    }

    const threads = await time(CALLS, () => listThreadCounts(db, account.userId));
    console.log(
      `[${unreadMode}] threads view, direct call (${(await listThreadCounts(db, account.userId)).length} followed threads): ` +
        `p50 ${threads.p50.toFixed(2)} ms, p95 ${threads.p95.toFixed(2)} ms, p99 ${threads.p99.toFixed(2)} ms`,
    );

    if (unreadMode === 'typical') {
      console.log('sidebar query plan (EXPLAIN QUERY PLAN):');
      for (const line of explain(file, buildConversationCountsQuery(db, account.userId).compile())) console.log(`  ${line}`);
      console.log('threads view query plan (EXPLAIN QUERY PLAN):');
      for (const line of explain(file, buildThreadCountsQuery(db, account.userId).compile())) console.log(`  ${line}`);
    }
    await server.close();
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${TOTAL_MESSAGES} messages`);
  await runCase('typical');
  await runCase('capped');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
