import type { CompiledQuery } from 'kysely';
import type { Auth } from '../accounts/actions.js';
import { accessConversation, accessConversationToPost } from '../conversations/access.js';
import { commitWithEvents, type AppContext } from '../platform/context.js';
import { AppError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { conversationStream } from '../realtime/events.js';
import { prepareQuery } from '../storage/compiled-query.js';
import type { Db, Tx } from '../storage/database.js';
import type { MessageRow } from '../storage/schema.js';
import type { EventWriter } from '../storage/streams.js';
import type { GroupReads } from '../storage/group-reads.js';
import { isTeamAdmin } from '../teams/access.js';
import { findMessage, findMessageByClientId, MAX_REPLY_USERS, summariseThread } from './queries.js';
import { presentMessage, type PostMessageBody } from './schemas.js';
import { checkMessageText } from './text.js';
import { parseMessageText } from '../mentions/parse.js';
import { recordMentions, resolveMentions } from '../mentions/resolve.js';
import { authorReadStatements, followMentionedMembers, recordPostReads } from '../reads/post-hooks.js';
import { checkChangeWindow, findTeamSettings } from '../teams/settings.js';
import { forgetMessageExtras } from './cleanup.js';
import { recordVersion } from './versions.js';
import { claimMessageFiles, deleteMessageFiles, removeBlobs } from '../files/actions.js';
import { presentFile, presentFilesOfMessages } from '../files/present.js';
import type { FileView } from '../files/schemas.js';
import { enqueueThumbnails } from '../files/thumbnails.js';
import { indexFile, indexMessage, indexNewMessage } from '../search/indexing.js';
import { enqueueEditNotifications, mayNotify, messageNotificationsStatement } from '../notifications/enqueue.js';

/** Origin of a message that is not a plain user post: its Slack subtype, and the name and icon a bot chose. */
export interface MessageOrigin {
  subtype: string;
  /** Display name and icon the post chose (JSON object), or null to show the author's profile. */
  botProfile: Record<string, string> | null;
}

export interface PostResult {
  message: MessageRow;
  /** False when a retry with a known client_msg_id returned the first message. */
  created: boolean;
  /** The message's attached files, in the order posted. */
  files: FileView[];
  /** JSON of the message with its files, as its message.posted event carries it. */
  json: string;
}

/**
 * Posts a message, or a thread reply when `thread_root_id` is set (a reply to
 * a reply attaches to its root). With a client_msg_id, a retry returns the
 * message first stored: the unique index on (author, client id) decides a race.
 */
export async function postMessage(
  ctx: AppContext,
  auth: Auth,
  conversationId: string,
  body: PostMessageBody,
  address: string,
  origin?: MessageOrigin,
): Promise<PostResult> {
  const fileIds = body.file_ids ?? [];
  // A message that carries files may have no text.
  const text = fileIds.length > 0 && body.text.trim() === '' ? '' : checkMessageText(body.text, ctx.config.maxMessageChars);
  await ctx.rateLimits.consume([
    ['postPerUser', auth.user.id],
    ['postPerAddress', address],
  ]);
  const parsed = parseMessageText(text);

  if (body.client_msg_id !== undefined) {
    const earlier = await findRetried(ctx, auth, conversationId, body.client_msg_id);
    if (earlier !== undefined) return retried(ctx, earlier);
  }

  for (let attempt = 1; ; attempt += 1) {
    try {
      return await storePost(ctx, auth, conversationId, { body, text, fileIds, parsed, origin });
    } catch (error) {
      if (body.client_msg_id === undefined || !ctx.storage.dialect.isUniqueViolation(error)) throw error;
      const earlier = await findRetried(ctx, auth, conversationId, body.client_msg_id);
      if (earlier !== undefined) return retried(ctx, earlier);
      // The post that held this client_msg_id rolled back after this one failed on it, so the id is free
      // again. That happens when both share a group whose second run fails (see CommitGroup).
      if (attempt >= 2) throw new AppError('UNAVAILABLE', 'Another post with this client_msg_id is still being stored; try again shortly', { retryAfterSeconds: 1 });
    }
  }
}

/** The checked parts of a new post that storePost stores. */
interface PostInput {
  body: PostMessageBody;
  /** The checked text, empty for a message of files alone. */
  text: string;
  fileIds: string[];
  parsed: ReturnType<typeof parseMessageText>;
  origin: MessageOrigin | undefined;
}

/** Stores a checked post with its events, in its conversation's commit group. */
async function storePost(ctx: AppContext, auth: Auth, conversationId: string, input: PostInput): Promise<PostResult> {
  const { body, text, fileIds, parsed, origin } = input;
  // Posts to one conversation wait for its `streams` row lock in turn, so on PostgreSQL those
  // arriving together share one transaction and one commit (the group key is that stream).
  const { message, json, files, jobs } = await commitWithEvents(ctx, async (tx, events, now, deferred, reads) => {
    const access = await accessToPost(tx, events, reads, conversationId, auth.user.id);
    const root = body.thread_root_id === undefined ? undefined : await findThreadRoot(tx, conversationId, body.thread_root_id);
    const mentions = await resolveMentions(tx, access, auth.user.id, parsed);
    const entities = JSON.stringify(mentions.entities);
    const id = newId();
    const claimed = await claimMessageFiles(tx, { fileIds, messageId: id, conversationId, uploaderId: auth.user.id });
    for (const file of claimed) await indexFile(ctx, tx, file);
    await enqueueThumbnails(ctx, tx, claimed, now);
    const files = claimed.map(presentFile);
    const draft = draftMessage({ id, conversationId, authorId: auth.user.id, text, entities, root, alsoInChannel: body.also_in_channel ?? false, clientMsgId: body.client_msg_id, origin }, now);
    // On SQLite the index entry is written here, and its FTS5 row just before the commit. On PostgreSQL
    // its one statement joins the message's insert, which saves a round trip while the conversation's
    // `streams` row lock is held.
    const indexing = await indexNewMessage(ctx, tx, draft, access.conversation.team_id, deferred);
    const notify = mayNotify(draft, access.conversation, mentions.entities.mentions, access.memberNotifiedOfAll);
    const extra = notify ? [...indexing, messageNotificationsStatement(tx, draft, now)] : indexing;
    const { message, json } = await insertMessage(tx, events, draft, root, files, extra, now);
    await recordMentions(tx, events, message, mentions, { replacing: false });
    await recordPostReads(tx, events, message, root, mentions.memberIds, now);
    return { message, json, files, jobs: notify || claimed.length > 0 };
  }, { groupKey: conversationStream(conversationId), groupHint: auth.user.id });
  // Each poke costs the runner a scan, so only a post that enqueued a job wakes it.
  if (jobs) ctx.jobs.poke();
  return { message, created: true, files, json };
}

/**
 * Reads the access of a new post. A removal or archiving appends to the conversation's stream.
 * So once the transaction holds the stream's `streams` row lock, such a change has either
 * committed or waits for this commit, and the posts of a group share one read of their authors'
 * access (the group's hints). A keyed group (PostgreSQL) takes that lock before its first post
 * runs. Read earlier, a removal committed between the read and the post's insert would let the
 * post in after the member.left event.
 */
export function accessToPost(tx: Tx, events: EventWriter, reads: GroupReads, conversationId: string, userId: string) {
  const shared = events.holdsRowLock(conversationStream(conversationId)) ? reads : undefined;
  return accessConversationToPost(tx, conversationId, userId, shared);
}

async function retried(ctx: AppContext, message: MessageRow): Promise<PostResult> {
  const files = (await presentFilesOfMessages(ctx.storage.db, [message.id])).get(message.id) ?? [];
  return { message, created: false, files, json: JSON.stringify(messageView(message, files)) };
}

/** Builds a message as the API and its message.posted event show it, with its files. */
function messageView(message: MessageRow, files: FileView[]) {
  return { ...presentMessage(message), files };
}

async function findRetried(ctx: AppContext, auth: Auth, conversationId: string, clientMsgId: string): Promise<MessageRow | undefined> {
  const earlier = await findMessageByClientId(ctx.storage.db, auth.user.id, clientMsgId);
  if (earlier === undefined) return undefined;
  if (earlier.conversation_id !== conversationId) {
    throw new AppError('CLIENT_MESSAGE_ID_REUSED', 'This client_msg_id was already used for another conversation', { field: 'client_msg_id' });
  }
  // The caller must still have access: a retry after removal is denied like any post.
  await accessConversation(ctx.storage.db, conversationId, auth.user.id, 'member');
  return earlier;
}

/** Resolves the root a reply attaches to: replying to a reply attaches to that reply's root. */
async function findThreadRoot(tx: Tx, conversationId: string, messageId: string): Promise<MessageRow> {
  let root = await findMessage(tx, messageId);
  if (root?.root_id) root = await findMessage(tx, root.root_id);
  if (root === undefined || root.conversation_id !== conversationId || root.deleted_at !== null) {
    throw new AppError('MESSAGE_NOT_FOUND', 'The thread root was not found in this conversation', { field: 'thread_root_id' });
  }
  return root;
}

interface NewMessage {
  id: string;
  conversationId: string;
  authorId: string;
  text: string;
  /** JSON of the resolved mention and link entities. */
  entities: string;
  root: MessageRow | undefined;
  alsoInChannel: boolean;
  clientMsgId: string | undefined;
  origin: MessageOrigin | undefined;
}

/** Builds the row of a new message, all but the sequence number that insertMessage takes. */
function draftMessage(input: NewMessage, now: number): Omit<MessageRow, 'seq'> {
  return {
    id: input.id,
    conversation_id: input.conversationId,
    author_id: input.authorId,
    text: input.text,
    root_id: input.root?.id ?? null,
    also_in_channel: input.root !== undefined && input.alsoInChannel ? 1 : 0,
    reply_count: 0,
    reply_users: '[]',
    last_reply_at: null,
    edited_at: null,
    deleted_at: null,
    created_at: now,
    client_msg_id: input.clientMsgId ?? null,
    entities: input.entities,
    ...(input.origin !== undefined && {
      subtype: input.origin.subtype,
      bot_profile: input.origin.botProfile === null ? null : JSON.stringify(input.origin.botProfile),
    }),
  };
}

/**
 * Takes the conversation's next sequence number and stores the message with
 * its message.posted event, its author's read position and the `extra`
 * statements, in one statement on PostgreSQL. `files` are the files claimed
 * for it in the same transaction. Returns the message and its view's JSON,
 * which the event stores and its frame and the socket's ack reuse.
 */
async function insertMessage(
  tx: Tx,
  events: EventWriter,
  draft: Omit<MessageRow, 'seq'>,
  root: MessageRow | undefined,
  files: FileView[],
  extra: CompiledQuery[],
  now: number,
): Promise<{ message: MessageRow; json: string }> {
  let message: MessageRow | undefined;
  let json = '';
  await events.appendWith(conversationStream(draft.conversation_id), 'message.posted', (seq) => {
    message = { ...draft, seq };
    const insert = insertMessageQuery.compile(tx, { ...message, subtype: message.subtype ?? null, bot_profile: message.bot_profile ?? null });
    const view = messageView(message, files);
    json = JSON.stringify(view);
    return { data: { message: view }, json: `{"message":${json}}`, statements: [insert, ...authorReadStatements(tx, message), ...extra] };
  });
  if (message === undefined) throw new Error('message.posted event was not written');

  if (root !== undefined) await recordReply(tx, events, root, draft.author_id, now);
  return { message, json };
}

// Prepared because every post runs it. A new message has no replies, edits or import fields yet.
const insertMessageQuery = prepareQuery<Omit<MessageRow, 'slack_ts' | 'reply_count' | 'reply_users' | 'last_reply_at' | 'edited_at' | 'deleted_at'>>()((db, param) =>
  db.insertInto('messages').values({
    id: param('id'),
    conversation_id: param('conversation_id'),
    seq: param('seq'),
    author_id: param('author_id'),
    text: param('text'),
    root_id: param('root_id'),
    also_in_channel: param('also_in_channel'),
    reply_count: 0,
    reply_users: '[]',
    last_reply_at: null,
    edited_at: null,
    deleted_at: null,
    created_at: param('created_at'),
    client_msg_id: param('client_msg_id'),
    entities: param('entities'),
    subtype: param('subtype'),
    bot_profile: param('bot_profile'),
  }),
);

/** Updates a thread root for a new reply without rescanning the thread. */
async function recordReply(tx: Tx, events: EventWriter, root: MessageRow, authorId: string, now: number): Promise<void> {
  const replyUsers = JSON.parse(root.reply_users) as string[];
  if (!replyUsers.includes(authorId) && replyUsers.length < MAX_REPLY_USERS) replyUsers.push(authorId);

  const updated = await tx
    .updateTable('messages')
    .set((eb) => ({ reply_count: eb('reply_count', '+', 1), last_reply_at: now, reply_users: JSON.stringify(replyUsers) }))
    .where('id', '=', root.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await appendThreadUpdated(events, updated);
}

function appendThreadUpdated(events: EventWriter, root: MessageRow) {
  const view = presentMessage(root);
  return events.append(conversationStream(root.conversation_id), 'thread.updated', {
    root_id: root.id,
    reply_count: view.reply_count,
    reply_users: view.reply_users,
    last_reply_at: view.last_reply_at,
  });
}

/** Loads a live message the caller can read; a hidden one raises MESSAGE_NOT_FOUND. */
export async function accessMessage(db: Db | Tx, userId: string, messageId: string) {
  const message = await findMessage(db, messageId);
  const notFound = new AppError('MESSAGE_NOT_FOUND', 'Message not found');
  if (message === undefined) throw notFound;
  try {
    const access = await accessConversation(db, message.conversation_id, userId, 'read');
    return { message, access };
  } catch (error) {
    if (error instanceof AppError && error.code === 'CONVERSATION_NOT_FOUND') throw notFound;
    throw error;
  }
}

/**
 * Edits a message's text: only its author may, within the team's edit window.
 * The replaced text is kept as a version, and mentions are resolved again.
 */
export async function editMessage(ctx: AppContext, auth: Auth, messageId: string, rawText: string): Promise<MessageRow> {
  const text = checkMessageText(rawText, ctx.config.maxMessageChars);
  const parsed = parseMessageText(text);

  const edited = await commitWithEvents(ctx, async (tx, events, now) => {
    const { message } = await accessMessage(tx, auth.user.id, messageId);
    if (message.deleted_at !== null) throw new AppError('MESSAGE_NOT_FOUND', 'Message not found');
    if (message.author_id !== auth.user.id) throw new AppError('FORBIDDEN', 'Only the author can edit a message');
    const access = await accessConversation(tx, message.conversation_id, auth.user.id, 'write');
    checkChangeWindow(await findTeamSettings(tx, access.conversation.team_id), 'edit', message.created_at, now);
    const mentions = await resolveMentions(tx, access, auth.user.id, parsed);
    await recordVersion(tx, message, now);

    const updated = await tx
      .updateTable('messages')
      .set({ text, edited_at: now, entities: JSON.stringify(mentions.entities) })
      .where('id', '=', messageId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordMentions(tx, events, updated, mentions, { replacing: true });
    await indexMessage(ctx, tx, updated, access.conversation.team_id);
    if (updated.root_id !== null) {
      const root = await findMessage(tx, updated.root_id);
      if (root !== undefined) await followMentionedMembers(tx, events, root, mentions.memberIds, now);
    }
    await events.append(conversationStream(message.conversation_id), 'message.edited', { message: presentMessage(updated) });
    await enqueueEditNotifications(tx, updated, now);
    return updated;
  });
  ctx.jobs.poke();
  return edited;
}

/**
 * Deletes a message: its author (within the team's delete window) or a team
 * admin may. The row stays with its text erased, so a deleted thread root
 * keeps its replies readable.
 */
export async function deleteMessage(ctx: AppContext, auth: Auth, messageId: string): Promise<void> {
  const blobs = await commitWithEvents(ctx, async (tx, events, now) => {
    const { message, access } = await accessMessage(tx, auth.user.id, messageId);
    if (message.deleted_at !== null) throw new AppError('MESSAGE_NOT_FOUND', 'Message not found');
    if (message.author_id !== auth.user.id && !isTeamAdmin(access.teamMembership.role)) {
      throw new AppError('FORBIDDEN', 'Only the author or a team admin can delete a message');
    }
    if (access.conversation.archived_at !== null) {
      throw new AppError('CONVERSATION_ARCHIVED', 'This channel is archived and read-only');
    }
    if (!isTeamAdmin(access.teamMembership.role)) {
      checkChangeWindow(await findTeamSettings(tx, access.conversation.team_id), 'delete', message.created_at, now);
    }

    await tx.updateTable('messages').set({ text: '', deleted_at: now }).where('id', '=', messageId).execute();
    await forgetMessageExtras(tx, messageId);
    const blobs = await deleteMessageFiles(tx, messageId);
    await events.append(conversationStream(message.conversation_id), 'message.deleted', {
      message_id: message.id,
      thread_root_id: message.root_id,
    });

    if (message.root_id !== null) {
      const summary = await summariseThread(tx, message.root_id);
      const root = await tx
        .updateTable('messages')
        .set({ reply_count: summary.replyCount, last_reply_at: summary.lastReplyAt, reply_users: JSON.stringify(summary.replyUsers) })
        .where('id', '=', message.root_id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendThreadUpdated(events, root);
    }
    return blobs;
  });
  // Blobs go after the commit: a rollback must not lose the files of a message that stays.
  await removeBlobs(ctx, blobs);
}
