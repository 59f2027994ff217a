/**
 * The raw storage baseline: better-sqlite3 on a copy of ChatterBox's own
 * database file, with the pragmas ChatterBox sets (WAL, synchronous=NORMAL,
 * foreign keys on). It runs in its own process so it can be pinned like the
 * server, and prints one JSON line with its result.
 *
 *   raw-sqlite.js insert <db file> <conversation id> <author id> <seconds> <text bytes>
 *     Inserts message rows one per autocommit transaction, as fast as it can.
 *   raw-sqlite.js history <db file> <conversation id> <seconds>
 *     Runs the query behind "latest 50 messages" of a channel in a loop.
 */
import { randomUUID } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { LatencyHistogram } from './lib/stats.js';
import { buildPayload } from './lib/payload.js';

function openDatabase(file: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

function runInserts(file: string, conversationId: string, authorId: string, seconds: number, textBytes: number): object {
  const db = openDatabase(file);
  const insert = db.prepare(
    `insert into messages (id, conversation_id, seq, author_id, text, root_id, also_in_channel, reply_count, reply_users,
       last_reply_at, edited_at, deleted_at, created_at, client_msg_id)
     values (?, ?, ?, ?, ?, null, 0, 0, '[]', null, null, null, ?, null)`,
  );
  const maxSeq = db.prepare('select coalesce(max(seq), 0) as seq from messages where conversation_id = ?').get(conversationId) as { seq: number };
  let seq = Number(maxSeq.seq);
  const histogram = new LatencyHistogram();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let count = 0;

  while (performance.now() < deadline) {
    const before = performance.now();
    seq += 1;
    insert.run(randomUUID(), conversationId, seq, authorId, buildPayload(count, Date.now(), textBytes), Date.now());
    histogram.record(performance.now() - before);
    count += 1;
  }

  const elapsedS = (performance.now() - started) / 1000;
  db.close();
  return { count, perSecond: count / elapsedS, ...histogram.summary() };
}

function runHistory(file: string, conversationId: string, seconds: number): object {
  const db = openDatabase(file);
  // The SQL that listMessagesBefore in src/messages/queries.ts builds for "latest page, limit 50" (one extra row for has_more).
  const latest = db.prepare(
    `select * from messages where conversation_id = ?
       and (root_id is null or also_in_channel = 1)
       and (deleted_at is null or reply_count > 0)
     order by seq desc limit 51`,
  );
  const histogram = new LatencyHistogram();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let count = 0;
  let rows = 0;

  while (performance.now() < deadline) {
    const before = performance.now();
    rows = latest.all(conversationId).reverse().length;
    histogram.record(performance.now() - before);
    count += 1;
  }

  const elapsedS = (performance.now() - started) / 1000;
  db.close();
  return { count, perSecond: count / elapsedS, rowsPerQuery: rows, ...histogram.summary() };
}

const [mode, file, ...rest] = process.argv.slice(2);
if (mode === 'insert' && file !== undefined && rest.length === 4) {
  console.log(JSON.stringify(runInserts(file, rest[0]!, rest[1]!, Number(rest[2]), Number(rest[3]))));
} else if (mode === 'history' && file !== undefined && rest.length === 2) {
  console.log(JSON.stringify(runHistory(file, rest[0]!, Number(rest[1]))));
} else {
  console.error('usage: raw-sqlite.js insert <db file> <conversation id> <author id> <seconds> <text bytes>');
  console.error('       raw-sqlite.js history <db file> <conversation id> <seconds>');
  process.exit(2);
}
