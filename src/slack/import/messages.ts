import { sql } from 'kysely';
import { newId } from '../../platform/ids.js';
import { findEmoji } from '../../reactions/emoji.js';
import { conversationStream } from '../../realtime/events.js';
import { indexNewMessages } from '../../search/indexing.js';
import type { Tx } from '../../storage/database.js';
import type { MessageMentionRow, MessageRow, PinRow, ReactionRow } from '../../storage/schema.js';
import type { MentionEntity } from '../../mentions/entities.js';
import type { SlackMessage } from './export-types.js';
import { discardStoredBytes, recordFiles, storeFileBytes, type FileWork } from './files.js';
import { classifySubtype, convertMessage, filesOf, TS_PATTERN, tsKey, tsToMillis, type SubtypeClass } from './message-rows.js';
import { JsonArrayError, readJsonArray } from './json-array.js';
import { findImportedTs } from './queries.js';
import { reportProblem } from './report.js';
import type { ImportState, MappedConversation, MappedUser } from './state.js';
import { findOrCreateBot, SLACKBOT_ID } from './users.js';

/**
 * Messages written per transaction. Larger batches cost fewer commits, and a
 * batch is the most a killed run loses. Memory keeps one batch plus the day
 * file being read: whole when it is small, otherwise up to this many entries.
 */
export const MESSAGE_BATCH_SIZE = 5000;

/** Largest entry of a day file; a larger one is reported as damage. Slack caps a message's text at 40,000 characters. */
export const MAX_ENTRY_BYTES = 4 * 1024 * 1024;

const MAX_REPLY_USERS = 10;

interface PendingMessage {
  message: SlackMessage;
  path: string;
}

/**
 * Imports a conversation's day files in date order. Each batch is one
 * transaction that takes the next block of the stream's sequence numbers, so
 * messages are numbered in ts order after whatever the conversation holds.
 * A message whose ts the conversation already keeps is left alone, which makes
 * a second run add nothing and a killed run continue where it stopped.
 */
export async function importConversationMessages(state: ImportState, slackId: string, conversation: MappedConversation): Promise<void> {
  const prefix = `${conversation.folder}/`;
  const dayFiles = state.source.paths.filter((file) => file.startsWith(prefix) && /^\d{4}-\d{2}-\d{2}\.json$/.test(file.slice(prefix.length))).sort();
  if (dayFiles.length === 0) {
    reportProblem(state.report, { kind: 'messages', path: conversation.folder, reason: `no day files for conversation ${slackId}` }, { skipped: false });
  }

  let batch: PendingMessage[] = [];
  for (const path of dayFiles) {
    for await (const messages of readDayFile(state, path)) {
      for (const message of messages) {
        batch.push({ message, path });
        if (batch.length >= MESSAGE_BATCH_SIZE) {
          await writeBatch(state, slackId, conversation, batch);
          batch = [];
        }
      }
    }
  }
  if (batch.length > 0) await writeBatch(state, slackId, conversation, batch);
}

/**
 * Reads one day file and yields its valid messages in blocks, each sorted by
 * ts. A file of at most `slackImportWholeFileMaxBytes` is parsed whole and is one block.
 * A larger file is read entry by entry. Then a day of at most
 * MESSAGE_BATCH_SIZE entries is one block, read in one pass, and a larger day
 * is read three times: to find that it is
 * larger, to check the whole file, and to yield it in blocks of
 * MESSAGE_BATCH_SIZE. So memory never holds more than one block, and a damaged
 * file is skipped whole at any size. A bad entry is reported and skipped.
 */
async function* readDayFile(state: ImportState, path: string): AsyncGenerator<SlackMessage[]> {
  const size = await state.source.sizeOf(path);
  if (size !== undefined && size <= state.ctx.config.slackImportWholeFileMaxBytes) {
    const entries = await readWholeDayFile(state, path);
    if (entries !== undefined) yield validMessages(state, path, entries);
    return;
  }

  const head: unknown[] = [];
  const complete = await readEntries(state, path, (entry) => {
    head.push(entry);
    return head.length <= MESSAGE_BATCH_SIZE;
  });
  if (complete === undefined) return;
  if (complete) {
    yield validMessages(state, path, head);
    return;
  }
  head.length = 0;

  let lastTs = '';
  let ordered = true;
  const checked = await readEntries(state, path, (entry) => {
    const ts = (entry as SlackMessage | null)?.ts;
    if (typeof ts !== 'string' || !TS_PATTERN.test(ts)) return true;
    if (tsKey(ts) < lastTs) ordered = false;
    lastTs = tsKey(ts);
    return true;
  });
  if (checked === undefined) return;
  if (!ordered) {
    const reason = `more than ${MESSAGE_BATCH_SIZE} entries out of ts order; each block of ${MESSAGE_BATCH_SIZE} is numbered in ts order, the blocks in file order`;
    reportProblem(state.report, { kind: 'messages', path, reason }, { skipped: false });
  }

  let block: unknown[] = [];
  // The file was checked, but a folder's file may change meanwhile: damage found now ends the file after the blocks before it.
  try {
    for await (const entry of entriesOf(state, path)) {
      block.push(entry);
      if (block.length < MESSAGE_BATCH_SIZE) continue;
      const full = block;
      block = [];
      yield validMessages(state, path, full);
    }
  } catch (error) {
    reportDamage(state, path, error);
    return;
  }
  if (block.length > 0) yield validMessages(state, path, block);
}

/** Reads a small day file in one piece; returns undefined after reporting a damaged or unreadable file. */
async function readWholeDayFile(state: ImportState, path: string): Promise<unknown[] | undefined> {
  let text: string | undefined;
  try {
    text = await state.source.readText(path);
  } catch (error) {
    reportDamage(state, path, error);
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text ?? '[]');
  } catch (error) {
    reportDamage(state, path, new JsonArrayError((error as Error).message));
    return undefined;
  }
  if (!Array.isArray(parsed)) {
    reportDamage(state, path, new JsonArrayError('the file is not a JSON array', true));
    return undefined;
  }
  return parsed;
}

/**
 * Passes each entry of a day file to `onEntry` until it returns false.
 * Returns true when the file was read to its end, false when `onEntry`
 * stopped early, and undefined after reporting a damaged or unreadable file.
 */
async function readEntries(state: ImportState, path: string, onEntry: (entry: unknown) => boolean): Promise<boolean | undefined> {
  try {
    for await (const entry of entriesOf(state, path)) {
      if (!onEntry(entry)) return false;
    }
    return true;
  } catch (error) {
    reportDamage(state, path, error);
    return undefined;
  }
}

/** Yields the entries of a day file; stopping early closes the file's stream. */
async function* entriesOf(state: ImportState, path: string): AsyncGenerator<unknown> {
  const stream = await state.source.openStream(path);
  if (stream === undefined) return;
  try {
    yield* readJsonArray(stream, MAX_ENTRY_BYTES);
  } finally {
    stream.destroy();
  }
}

function reportDamage(state: ImportState, path: string, error: unknown): void {
  const reason =
    error instanceof JsonArrayError
      ? error.notArray
        ? 'the day file is not a JSON array'
        : `invalid JSON: ${error.message}`
      : `the file could not be read: ${(error as Error).message}`;
  reportProblem(state.report, { kind: 'messages', path, reason });
}

/** Returns the messages among a day file's entries, sorted by ts; an entry without a valid ts is reported and skipped. */
function validMessages(state: ImportState, path: string, entries: unknown[]): SlackMessage[] {
  const messages: SlackMessage[] = [];
  for (const entry of entries) {
    const message = entry as SlackMessage;
    if (typeof message !== 'object' || message === null || typeof message.ts !== 'string' || !TS_PATTERN.test(message.ts)) {
      reportProblem(state.report, { kind: 'messages', path, reason: 'an entry has no valid ts' });
      continue;
    }
    if (message.type !== undefined && message.type !== 'message') continue;
    messages.push(message);
  }
  return messages.sort((a, b) => (tsKey(a.ts) < tsKey(b.ts) ? -1 : tsKey(a.ts) > tsKey(b.ts) ? 1 : 0));
}

/** A message ready to write: its author, subtype and the work for its files. */
interface ResolvedMessage {
  pending: PendingMessage;
  author: MappedUser;
  subtype: NonNullable<SubtypeClass>;
  files: FileWork[];
}

async function writeBatch(state: ImportState, slackId: string, conversation: MappedConversation, batch: PendingMessage[]): Promise<void> {
  if (state.signal?.aborted) throw new Error('The import was stopped');
  const db = state.ctx.storage.db;
  const known = await findImportedTs(db, conversation.id, [...new Set(batch.map((item) => item.message.ts))]);

  const resolved: ResolvedMessage[] = [];
  const seen = new Set<string>();
  for (const item of batch) {
    if (known.has(item.message.ts) || seen.has(item.message.ts)) {
      state.report.counts.messages.existing += 1;
      continue;
    }
    seen.add(item.message.ts);
    const ready = await resolveMessage(state, conversation, item);
    if (ready !== undefined) resolved.push(ready);
  }

  if (resolved.length > 0) {
    try {
      await db.transaction().execute((tx) => insertBatch(state, tx, slackId, conversation, resolved));
    } catch (error) {
      await discardStoredBytes(state, resolved.flatMap((item) => item.files));
      throw error;
    }
  }
  await state.onProgress?.();
}

/** Finds the author and subtype of a message and stores its files' bytes; returns undefined after reporting a skip. */
async function resolveMessage(state: ImportState, conversation: MappedConversation, item: PendingMessage): Promise<ResolvedMessage | undefined> {
  const { message, path } = item;
  const subtype = classifySubtype(message.subtype);
  if (subtype === undefined) {
    reportProblem(state.report, { kind: 'messages', path, ts: message.ts, reason: `unknown subtype ${String(message.subtype)}` });
    return undefined;
  }
  const author = await resolveAuthor(state, message);
  if (author === undefined) {
    reportProblem(state.report, { kind: 'messages', path, ts: message.ts, reason: `unknown user ${String(message.user ?? message.bot_id)}` });
    return undefined;
  }
  const files = await storeFileBytes(state, conversation, filesOf(message), path);
  return { pending: item, author, subtype: message.bot_id !== undefined && subtype.stored === null && message.user === undefined ? { stored: 'bot_message', deleted: false } : subtype, files };
}

/** Returns the account of a message's author; bots get an account of their own on first use. */
async function resolveAuthor(state: ImportState, message: SlackMessage): Promise<MappedUser | undefined> {
  const slackUser = message.user ?? message.comment?.user;
  const user = slackUser === undefined ? undefined : state.users.get(slackUser);
  if (user !== undefined) return user;
  if (message.user === SLACKBOT_ID) return findOrCreateBot(state, SLACKBOT_ID, 'slackbot');
  if (slackUser !== undefined && message.subtype !== 'bot_message') return undefined;

  const botKey = message.bot_id ?? (message.username !== undefined ? `name:${message.username}` : undefined);
  if (botKey === undefined) return undefined;
  return findOrCreateBot(state, botKey, message.bot_profile?.name ?? message.username ?? message.bot_id ?? 'bot');
}

/** Thread summary changes of one root, gathered over a batch. */
interface ThreadChange {
  count: number;
  lastReplyAt: number;
  users: string[];
}

async function insertBatch(state: ImportState, tx: Tx, slackId: string, conversation: MappedConversation, messages: ResolvedMessage[]): Promise<void> {
  const firstSeq = await takeSeqs(tx, conversation.id, messages.length);

  const roots = await findRoots(tx, conversation.id, messages);
  const rowsByTs = new Map<string, MessageRow>();
  const rows: MessageRow[] = [];
  const threads = new Map<string, ThreadChange>();
  const reactions: ReactionRow[] = [];
  const pins: PinRow[] = [];
  const mentionRows: MessageMentionRow[] = [];

  messages.forEach((item, index) => {
    const { message, path } = item.pending;
    const createdAt = tsToMillis(message.ts);
    const converted = item.subtype.deleted ? { text: '', entities: '{"mentions":[],"links":[]}', mentions: [] } : convertMessage(message, state, item.files.filter((file) => file.stored === undefined).map((file) => file.slack));
    const threadTs = typeof message.thread_ts === 'string' && message.thread_ts !== message.ts ? message.thread_ts : undefined;
    const rootId = threadTs === undefined ? null : (rowsByTs.get(threadTs)?.id ?? roots.get(threadTs) ?? null);
    if (threadTs !== undefined && rootId === null) {
      reportProblem(state.report, { kind: 'messages', path, ts: message.ts, reason: `thread ${threadTs} is not in the export; imported as a message` }, { skipped: false });
    }

    const row: MessageRow = {
      id: newId(),
      conversation_id: conversation.id,
      seq: firstSeq + index,
      author_id: item.author.id,
      text: converted.text,
      root_id: rootId,
      also_in_channel: rootId !== null && message.subtype === 'thread_broadcast' ? 1 : 0,
      reply_count: 0,
      reply_users: '[]',
      last_reply_at: null,
      edited_at: typeof message.edited?.ts === 'string' && TS_PATTERN.test(message.edited.ts) ? tsToMillis(message.edited.ts) : null,
      deleted_at: item.subtype.deleted ? createdAt : null,
      created_at: createdAt,
      client_msg_id: null,
      entities: converted.entities,
      subtype: item.subtype.stored,
      slack_ts: message.ts,
    };
    rows.push(row);
    rowsByTs.set(message.ts, row);
    collectMentions(conversation, row, converted.mentions, mentionRows);
    if (rootId !== null) {
      state.report.replies += 1;
      noteReply(threads, rootId, row);
    }
    collectReactions(state, message, row, path, reactions);
    if (Array.isArray(message.pinned_to) && message.pinned_to.includes(slackId)) {
      pins.push({ conversation_id: conversation.id, message_id: row.id, pinned_by: row.author_id, seq: row.seq, pinned_at: createdAt });
    }
  });

  // Roots written in this batch carry their summary in the row itself; older roots are updated.
  const olderRoots = applyThreadChanges(rows, threads);
  const dialect = state.ctx.storage.dialect;
  await dialect.insertMany(tx, 'messages', rows);
  await updateOlderRoots(tx, olderRoots);
  await dialect.insertMany(tx, 'reactions', reactions, { ignoreConflicts: true });
  await dialect.insertMany(tx, 'pins', pins, { ignoreConflicts: true });
  await dialect.insertMany(tx, 'message_mentions', mentionRows, { ignoreConflicts: true });
  await indexNewMessages(state.ctx, tx, rows, state.team.id);
  await recordFiles(state, tx, conversation, messages.map((item, index) => ({ files: item.files, message: rows[index]! })));

  state.report.counts.messages.imported += rows.length;
  state.report.counts.reactions.imported += reactions.length;
  state.report.counts.pins.imported += pins.length;
}

/** Takes `count` sequence numbers of the conversation's stream and returns the first. */
async function takeSeqs(tx: Tx, conversationId: string, count: number): Promise<number> {
  const stream = conversationStream(conversationId);
  const { last_seq: last } = await tx
    .insertInto('streams')
    .values({ id: stream, last_seq: count, min_seq: 1 })
    .onConflict((conflict) => conflict.column('id').doUpdateSet({ last_seq: sql`streams.last_seq + ${count}` }))
    .returning('last_seq')
    .executeTakeFirstOrThrow();
  return Number(last) - count + 1;
}

/** Looks up the roots, written by earlier batches, of the batch's replies: Slack ts to message id. */
async function findRoots(tx: Tx, conversationId: string, messages: ResolvedMessage[]): Promise<Map<string, string>> {
  const threadTs = new Set<string>();
  for (const { pending } of messages) {
    const ts = pending.message.thread_ts;
    if (typeof ts === 'string' && ts !== pending.message.ts) threadTs.add(ts);
  }
  const found = await findImportedTs(tx, conversationId, [...threadTs]);
  return new Map([...found].map(([ts, row]) => [ts, row.id]));
}

function noteReply(threads: Map<string, ThreadChange>, rootId: string, reply: MessageRow): void {
  const change = threads.get(rootId) ?? { count: 0, lastReplyAt: 0, users: [] };
  change.count += 1;
  change.lastReplyAt = Math.max(change.lastReplyAt, reply.created_at);
  if (!change.users.includes(reply.author_id)) change.users.push(reply.author_id);
  threads.set(rootId, change);
}

/** Applies thread changes to roots among `rows`, and returns the changes of roots written earlier. */
function applyThreadChanges(rows: MessageRow[], threads: Map<string, ThreadChange>): Map<string, ThreadChange> {
  const rowsById = new Map(rows.map((row) => [row.id, row]));
  const older = new Map<string, ThreadChange>();
  for (const [rootId, change] of threads) {
    const root = rowsById.get(rootId);
    if (root === undefined) {
      older.set(rootId, change);
      continue;
    }
    root.reply_count = change.count;
    root.last_reply_at = change.lastReplyAt;
    root.reply_users = JSON.stringify(change.users.slice(0, MAX_REPLY_USERS));
  }
  return older;
}

async function updateOlderRoots(tx: Tx, changes: Map<string, ThreadChange>): Promise<void> {
  for (const [rootId, change] of changes) {
    const root = await tx.selectFrom('messages').select(['reply_count', 'reply_users', 'last_reply_at']).where('id', '=', rootId).executeTakeFirstOrThrow();
    const users = JSON.parse(root.reply_users) as string[];
    for (const user of change.users) if (!users.includes(user) && users.length < MAX_REPLY_USERS) users.push(user);
    await tx
      .updateTable('messages')
      .set({
        reply_count: Number(root.reply_count) + change.count,
        reply_users: JSON.stringify(users),
        last_reply_at: Math.max(Number(root.last_reply_at ?? 0), change.lastReplyAt),
      })
      .where('id', '=', rootId)
      .execute();
  }
}

/**
 * Records who a message mentions, as posting does: the mentioned members
 * other than the author, or everyone (user id '') for @channel and @team.
 * Search's mention filter reads these rows.
 */
function collectMentions(conversation: MappedConversation, row: MessageRow, mentions: MentionEntity[], out: MessageMentionRow[]): void {
  if (mentions.length === 0) return;
  const everyone = mentions.some((mention) => mention.type === 'channel' || mention.type === 'team');
  const members = new Set(conversation.memberIds);
  const userIds = everyone
    ? ['']
    : [...new Set(mentions.flatMap((mention) => (mention.type === 'user' && mention.user_id !== row.author_id && members.has(mention.user_id) ? [mention.user_id] : [])))];
  const inTimeline = row.root_id === null || row.also_in_channel === 1 ? 1 : 0;
  for (const userId of userIds) {
    out.push({ message_id: row.id, user_id: userId, conversation_id: row.conversation_id, thread_root_id: row.root_id, in_timeline: inTimeline, author_id: row.author_id, seq: row.seq });
  }
}

/** Converts a message's reactions; an emoji we do not know (a workspace's custom emoji) or an unknown user is reported and skipped. */
function collectReactions(state: ImportState, message: SlackMessage, row: MessageRow, path: string, out: ReactionRow[]): void {
  if (!Array.isArray(message.reactions)) return;
  // A skin-tone variant and its base emoji by one user become one reaction, counted as merged.
  const added = new Set<string>();
  for (const reaction of message.reactions) {
    const users = Array.isArray(reaction?.users) ? reaction.users : [];
    // Slack writes skin tones as a suffix ("thumbsup::skin-tone-2"); the reaction keeps its base emoji.
    const emoji = findEmoji((reaction?.name ?? '').replace(/::skin-tone-\d$/, ''));
    if (emoji === undefined) {
      for (let i = 0; i < users.length; i += 1) reportProblem(state.report, { kind: 'reactions', path, ts: message.ts, reason: `unknown emoji ${String(reaction?.name)}` });
      continue;
    }
    for (const slackUser of users) {
      const user = state.users.get(slackUser) ?? state.bots.get(slackUser);
      if (user === undefined) {
        reportProblem(state.report, { kind: 'reactions', path, ts: message.ts, reason: `unknown user ${slackUser}` });
        continue;
      }
      if (added.has(`${emoji.emoji} ${user.id}`)) {
        state.report.counts.reactions.merged += 1;
        continue;
      }
      added.add(`${emoji.emoji} ${user.id}`);
      out.push({ message_id: row.id, emoji: emoji.emoji, user_id: user.id, conversation_id: row.conversation_id, seq: row.seq, created_at: row.created_at });
    }
  }
}
