import { addReaction, removeReaction } from '../../reactions/actions.js';
import { findEmoji } from '../../reactions/emoji.js';
import { runSearch } from '../../search/run-search.js';
import { accessTeam } from '../../teams/access.js';
import { tsOf } from './ts.js';
import { optionalString, readLimit, requireString, SlackApiError } from './args.js';
import { accessChannelArg, requireMessageByTs, type SlackCall, type SlackMethod } from './call.js';
import { decodeSlackCursor, encodeSlackCursor, responseMetadata } from './cursor.js';
import { presentSlackMessages } from './messages.js';
import { presentSlackUser } from './present.js';
import { findConversationsByIds, findMessagesByIds, findTeamUser, hasReaction, listTeamUserPage } from './queries.js';

const authTestMethod: SlackMethod = async (call) => {
  const { team } = await accessTeam(call.ctx.storage.db, call.auth.teamId, call.auth.user.id);
  return {
    url: `${call.baseUrl}/`,
    team: team.name,
    user: call.auth.user.username,
    team_id: team.id,
    user_id: call.auth.user.id,
    bot_id: call.auth.user.id,
    is_enterprise_install: false,
  };
};

const usersListMethod: SlackMethod = async (call) => {
  const limit = readLimit(call.args, 'limit', 100, 1000);
  const rows = await listTeamUserPage(call.ctx.storage.db, call.auth.teamId, decodeSlackCursor('users', optionalString(call.args, 'cursor')), limit + 1);
  const page = rows.slice(0, limit);
  return {
    members: page.map(({ role, ...user }) => presentSlackUser(user, call.auth.teamId, role)),
    cache_ts: Math.floor(call.ctx.now() / 1000),
    ...responseMetadata(rows.length > limit ? encodeSlackCursor('users', page.at(-1)!.id) : undefined),
  };
};

const usersInfoMethod: SlackMethod = async (call) => {
  const userId = requireString(call.args, 'user', 'user_not_found');
  // Users outside the bot's team are reported as unknown ones.
  const found = await findTeamUser(call.ctx.storage.db, call.auth.teamId, userId.toLowerCase());
  if (found === undefined) throw new SlackApiError('user_not_found', 'user');
  const { role, ...user } = found;
  return { user: presentSlackUser(user, call.auth.teamId, role) };
};

/** Loads the message of a reactions call: `channel` and `timestamp`. */
async function reactionTarget(call: SlackCall) {
  const access = await accessChannelArg(call, 'read');
  const message = await requireMessageByTs(call, access.conversation.id, 'timestamp', 'message_not_found');
  const name = requireString(call.args, 'name', 'invalid_name');
  const emoji = findEmoji(name);
  if (emoji === undefined) throw new SlackApiError('invalid_name', 'name');
  return { message, emoji };
}

const reactionsAddMethod: SlackMethod = async (call) => {
  const { message, emoji } = await reactionTarget(call);
  const { added } = await addReaction(call.ctx, call.auth, message.id, emoji.emoji);
  if (!added) throw new SlackApiError('already_reacted');
  return {};
};

const reactionsRemoveMethod: SlackMethod = async (call) => {
  const { message, emoji } = await reactionTarget(call);
  if (!(await hasReaction(call.ctx.storage.db, message.id, emoji.emoji, call.auth.user.id))) throw new SlackApiError('no_reaction');
  await removeReaction(call.ctx, call.auth, message.id, emoji.emoji);
  return {};
};

/**
 * search.messages over the bot's team, with the permissions of the bot. Pages
 * follow response_metadata.next_cursor; Slack's `page` numbers are not read.
 */
const searchMessagesMethod: SlackMethod = async (call) => {
  const query = requireString(call.args, 'query', 'no_query');
  const count = readLimit(call.args, 'count', 20, 100);
  const sort = optionalString(call.args, 'sort') === 'timestamp' ? 'date' : 'relevance';
  const outcome = await runSearch(call.ctx, call.auth, {
    q: query,
    sort,
    kind: 'messages',
    limit: count,
    cursor: decodeSlackCursor('search', optionalString(call.args, 'cursor')),
    teamId: call.auth.teamId,
  });
  const db = call.ctx.storage.db;
  const rows = await findMessagesByIds(db, outcome.hits.flatMap((hit) => (hit.messageId === null ? [] : [hit.messageId])));
  const byId = new Map(rows.map((row) => [row.id, row]));
  const ordered = outcome.hits.flatMap((hit) => {
    const row = hit.messageId === null ? undefined : byId.get(hit.messageId);
    return row === undefined ? [] : [row];
  });
  const messages = await presentSlackMessages(db, ordered, call.baseUrl);
  const channels = await findConversationsByIds(db, ordered.map((row) => row.conversation_id));
  const channelOf = new Map(channels.map((channel) => [channel.id, { id: channel.id, name: channel.name ?? channel.id, is_private: channel.kind !== 'public' }]));
  const total = outcome.total ?? ordered.length;

  return {
    query,
    messages: {
      total,
      matches: ordered.map((row, index) => ({
        ...messages[index],
        ts: tsOf(row),
        channel: channelOf.get(row.conversation_id),
        team: call.auth.teamId,
        permalink: `${call.baseUrl}/api/messages/${row.id}`,
      })),
      paging: { count, total, page: 1, pages: Math.max(1, Math.ceil(total / count)) },
    },
    ...responseMetadata(outcome.nextCursor === null ? undefined : encodeSlackCursor('search', outcome.nextCursor)),
  };
};

export const otherMethods: Record<string, SlackMethod> = {
  'auth.test': authTestMethod,
  'users.list': usersListMethod,
  'users.info': usersInfoMethod,
  'reactions.add': reactionsAddMethod,
  'reactions.remove': reactionsRemoveMethod,
  'search.messages': searchMessagesMethod,
};
