import { createChannel, inviteMembers, joinChannel, openDirectMessage } from '../../conversations/actions.js';
import { readHistory, readThread } from '../../messages/history.js';
import type { ConversationKind, MessageRow } from '../../storage/schema.js';
import { findMessageByTs, isTs, tsToMillis } from './ts.js';
import { optionalBoolean, optionalString, readLimit, requireString, SlackApiError } from './args.js';
import { accessChannelArg, requireMessageByTs, type SlackCall, type SlackMethod } from './call.js';
import { decodeNumberCursor, decodeSlackCursor, encodeSlackCursor, responseMetadata } from './cursor.js';
import { presentSlackMessages } from './messages.js';
import { presentSlackChannel } from './present.js';
import { countMembers, listMemberPage, listVisibleConversations } from './queries.js';
import { withForbidden } from './chat.js';

/** Largest history page our history action reads at once. */
const MAX_HISTORY_PAGE = 200;

const KINDS_BY_TYPE: Record<string, ConversationKind> = { public_channel: 'public', private_channel: 'private', im: 'dm', mpim: 'group' };

function readKinds(call: SlackCall): ConversationKind[] {
  const types = (optionalString(call.args, 'types') ?? 'public_channel').split(',').map((type) => type.trim()).filter((type) => type !== '');
  const kinds = types.map((type) => KINDS_BY_TYPE[type]);
  if (kinds.length === 0 || kinds.some((kind) => kind === undefined)) throw new SlackApiError('invalid_types', 'types');
  return kinds as ConversationKind[];
}

const listMethod: SlackMethod = async (call) => {
  const limit = readLimit(call.args, 'limit', 100, 1000);
  const rows = await listVisibleConversations(call.ctx.storage.db, {
    teamId: call.auth.teamId,
    botUserId: call.auth.user.id,
    kinds: readKinds(call),
    excludeArchived: optionalBoolean(call.args, 'exclude_archived') ?? false,
    afterId: decodeSlackCursor('conversations', optionalString(call.args, 'cursor')),
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  const channels = page.map(({ member_id, general_conversation_id, ...row }) =>
    presentSlackChannel(row, { generalId: general_conversation_id, isMember: member_id !== null }),
  );
  return { channels, ...responseMetadata(rows.length > limit ? encodeSlackCursor('conversations', page.at(-1)!.id) : undefined) };
};

const infoMethod: SlackMethod = async (call) => {
  const access = await accessChannelArg(call, 'read');
  const memberCount = optionalBoolean(call.args, 'include_num_members') ? await countMembers(call.ctx.storage.db, access.conversation.id) : undefined;
  return { channel: presentSlackChannel(access.conversation, { generalId: access.team.general_conversation_id, isMember: access.isMember, memberCount }) };
};

const createMethod: SlackMethod = async (call) => {
  const name = requireString(call.args, 'name', 'invalid_name_required');
  const channel = await createChannel(call.ctx, call.auth, call.auth.teamId, { name, private: optionalBoolean(call.args, 'is_private') ?? false });
  return { channel: presentSlackChannel(channel, { generalId: null, isMember: true }) };
};

const joinMethod: SlackMethod = async (call) => {
  const access = await accessChannelArg(call, 'read');
  const channel = await joinChannel(call.ctx, call.auth, access.conversation.id);
  return { channel: presentSlackChannel(channel, { generalId: access.team.general_conversation_id, isMember: true }), ...(access.isMember && { already_in_channel: true }) };
};

const inviteMethod: SlackMethod = async (call) => {
  const access = await accessChannelArg(call, 'read');
  const userIds = requireString(call.args, 'users', 'no_user').split(',').map((id) => id.trim()).filter((id) => id !== '');
  if (userIds.length === 0) throw new SlackApiError('no_user', 'users');
  if (userIds.length > 100) throw new SlackApiError('too_many_users', 'users');
  await withForbidden('method_not_supported_for_channel_type', () => inviteMembers(call.ctx, call.auth, access.conversation.id, [...new Set(userIds)]));
  return { channel: presentSlackChannel(access.conversation, { generalId: access.team.general_conversation_id, isMember: true }) };
};

/** conversations.open: opens (or finds) the direct message between the bot and the given teammates. */
const openMethod: SlackMethod = async (call) => {
  const userIds = requireString(call.args, 'users', 'users_list_not_supplied').split(',').map((id) => id.trim().toLowerCase()).filter((id) => id !== '');
  if (userIds.length === 0) throw new SlackApiError('users_list_not_supplied', 'users');
  const opened = await openDirectMessage(call.ctx, call.auth, call.auth.teamId, userIds);
  const channel = presentSlackChannel(opened.conversation, { generalId: null, isMember: true });
  return { channel, ...(!opened.created && { already_open: true }) };
};

const membersMethod: SlackMethod = async (call) => {
  const access = await accessChannelArg(call, 'read');
  const limit = readLimit(call.args, 'limit', 100, 1000);
  const ids = await listMemberPage(call.ctx.storage.db, access.conversation.id, decodeSlackCursor('members', optionalString(call.args, 'cursor')), limit + 1);
  const page = ids.slice(0, limit);
  return { members: page, ...responseMetadata(ids.length > limit ? encodeSlackCursor('members', page.at(-1)!) : undefined) };
};

/** A history bound: a message's seq when the ts names one, else a time in milliseconds. */
type Bound = { seq: number } | { millis: number };

async function readBound(call: SlackCall, conversationId: string, name: string): Promise<Bound | undefined> {
  const ts = optionalString(call.args, name);
  if (ts === undefined || ts === '' || ts === '0') return undefined;
  if (!isTs(ts) && !/^\d+(\.\d*)?$/.test(ts)) throw new SlackApiError('invalid_ts_' + name, name);
  const message = isTs(ts) ? await findMessageByTs(call.ctx.storage.db, conversationId, ts) : undefined;
  return message === undefined ? { millis: tsToMillis(ts) } : { seq: Number(message.seq) };
}

function isAfter(row: MessageRow, bound: Bound, inclusive: boolean): boolean {
  if ('seq' in bound) return inclusive ? Number(row.seq) >= bound.seq : Number(row.seq) > bound.seq;
  return inclusive ? Number(row.created_at) >= bound.millis : Number(row.created_at) > bound.millis;
}

/**
 * conversations.history: newest first, pages going back in time. `latest` and
 * `oldest` bound the page; a bound naming a message compares by seq, a time
 * compares by creation time.
 */
const historyMethod: SlackMethod = async (call) => {
  const access = await accessChannelArg(call, 'read');
  const conversationId = access.conversation.id;
  const limit = readLimit(call.args, 'limit', 100, MAX_HISTORY_PAGE);
  const inclusive = optionalBoolean(call.args, 'inclusive') ?? false;
  const latest = await readBound(call, conversationId, 'latest');
  const oldest = await readBound(call, conversationId, 'oldest');
  const cursorSeq = decodeNumberCursor('history', optionalString(call.args, 'cursor'));

  let before = cursorSeq;
  if (before === undefined && latest !== undefined && 'seq' in latest) before = inclusive ? latest.seq + 1 : latest.seq;
  // TODO: a `latest` time that names no message filters the page after reading, so such pages can come out short.
  const page = await readHistory(call.ctx, call.auth, conversationId, { ...(before !== undefined && { before }), limit });
  let rows = page.messages;
  if (cursorSeq === undefined && latest !== undefined && 'millis' in latest) rows = rows.filter((row) => !isAfter(row, latest, !inclusive));
  const beforeOldest = oldest !== undefined && rows.some((row) => !isAfter(row, oldest, inclusive));
  if (oldest !== undefined) rows = rows.filter((row) => isAfter(row, oldest, inclusive));

  const hasMore = page.hasMoreBefore && !beforeOldest;
  const newestFirst = [...rows].reverse();
  const lowest = page.messages[0];
  return {
    messages: await presentSlackMessages(call.ctx.storage.db, newestFirst, call.baseUrl),
    has_more: hasMore,
    pin_count: 0,
    ...responseMetadata(hasMore && lowest !== undefined ? encodeSlackCursor('history', Number(lowest.seq)) : undefined),
  };
};

/** conversations.replies: the thread root, then a page of replies, oldest first. */
const repliesMethod: SlackMethod = async (call) => {
  const access = await accessChannelArg(call, 'read');
  const named = await requireMessageByTs(call, access.conversation.id, 'ts', 'thread_not_found');
  const limit = readLimit(call.args, 'limit', 100, MAX_HISTORY_PAGE);
  const after = decodeNumberCursor('replies', optionalString(call.args, 'cursor'));
  const thread = await readThread(call.ctx, call.auth, named.id, { ...(after !== undefined && { after }), limit });
  const last = thread.replies.at(-1);
  return {
    messages: await presentSlackMessages(call.ctx.storage.db, [thread.root, ...thread.replies], call.baseUrl),
    has_more: thread.hasMore,
    ...responseMetadata(thread.hasMore && last !== undefined ? encodeSlackCursor('replies', Number(last.seq)) : undefined),
  };
};

export const conversationMethods: Record<string, SlackMethod> = {
  'conversations.list': listMethod,
  'conversations.info': infoMethod,
  'conversations.create': createMethod,
  'conversations.join': joinMethod,
  'conversations.invite': inviteMethod,
  'conversations.members': membersMethod,
  'conversations.open': openMethod,
  'conversations.history': historyMethod,
  'conversations.replies': repliesMethod,
};
