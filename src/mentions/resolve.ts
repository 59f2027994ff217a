import type { ConversationAccess } from '../conversations/access.js';
import { countConversationMembers, filterConversationMembers } from '../conversations/member-lookups.js';
import { usernameKey } from '../accounts/queries.js';
import { AppError } from '../platform/errors.js';
import { userStream } from '../realtime/events.js';
import type { Tx } from '../storage/database.js';
import type { MessageRow } from '../storage/schema.js';
import type { EventWriter } from '../storage/streams.js';
import { isTeamAdmin } from '../teams/access.js';
import { findTeamSettings } from '../teams/settings.js';
import type { MentionEntity, MessageEntities } from './entities.js';
import type { ParsedText } from './parse.js';
import { deleteMentionRows, findTeamUsersByUsername, insertMentionRows } from './queries.js';

/** Distinct usernames looked up per message; further ones stay plain text. */
export const MAX_RESOLVED_USERNAMES = 200;

export interface ResolvedMentions {
  entities: MessageEntities;
  /** Mentioned members of the conversation, the author excluded. */
  memberIds: string[];
  /** True for @channel or @team, which count as a mention of every member. */
  countsEveryone: boolean;
  /** Mentioned teammates who are not members of the conversation. */
  outsiders: Array<{ id: string; username: string }>;
}

/**
 * Resolves parsed mentions against the conversation's team: `@name` becomes a
 * user entity when a teammate has that username, and plain text otherwise, so
 * users of other teams cannot be probed. Throws BROADCAST_RESTRICTED when the
 * team limits broadcasts in channels of this size and the author is not an admin.
 */
export async function resolveMentions(tx: Tx, access: ConversationAccess, authorId: string, parsed: ParsedText): Promise<ResolvedMentions> {
  const conversation = access.conversation;
  const usernames = [...new Set(parsed.mentions.flatMap((token) => (token.kind === 'user' ? [token.username] : [])))].slice(
    0,
    MAX_RESOLVED_USERNAMES,
  );
  const users = await findTeamUsersByUsername(tx, conversation.team_id, usernames);

  const mentions: MentionEntity[] = [];
  for (const token of parsed.mentions) {
    if (token.kind !== 'user') {
      mentions.push({ type: token.kind, offset: token.offset, length: token.length });
      continue;
    }
    const user = users.get(usernameKey(token.username));
    if (user !== undefined) mentions.push({ type: 'user', user_id: user.id, username: user.username, offset: token.offset, length: token.length });
  }

  const broadcasts = new Set(mentions.flatMap((entity) => (entity.type === 'user' ? [] : [entity.type])));
  if (broadcasts.size > 0) await checkBroadcastAllowed(tx, access);

  const mentionedIds = [...new Set([...users.values()].map((user) => user.id))].filter((id) => id !== authorId);
  const members = await filterConversationMembers(tx, conversation.id, mentionedIds);
  return {
    entities: { mentions, links: parsed.links },
    memberIds: mentionedIds.filter((id) => members.has(id)),
    countsEveryone: broadcasts.has('channel') || broadcasts.has('team'),
    outsiders: [...users.values()].filter((user) => user.id !== authorId && !members.has(user.id)),
  };
}

async function checkBroadcastAllowed(tx: Tx, access: ConversationAccess): Promise<void> {
  if (isTeamAdmin(access.teamMembership.role)) return;
  const { broadcast_member_limit: limit } = await findTeamSettings(tx, access.conversation.team_id);
  if (limit === null) return;
  if ((await countConversationMembers(tx, access.conversation.id)) <= limit) return;
  throw new AppError(
    'BROADCAST_RESTRICTED',
    `Only team admins can use @channel, @here or @team in conversations of more than ${limit} members`,
    { field: 'text', max: limit },
  );
}

/**
 * Stores who a message mentions, replacing earlier rows on edit, and sends the
 * author a notice naming mentioned teammates outside the conversation. The
 * notice goes to the author's own stream only, so the outsiders learn nothing.
 */
export async function recordMentions(
  tx: Tx,
  events: EventWriter,
  message: MessageRow,
  resolved: ResolvedMentions,
  options: { replacing: boolean },
): Promise<void> {
  if (options.replacing) await deleteMentionRows(tx, message.id);
  // A broadcast row already counts every member, so a member named beside it gets no second row.
  const userIds = resolved.countsEveryone ? [''] : resolved.memberIds;
  await insertMentionRows(
    tx,
    userIds.map((userId) => ({
      message_id: message.id,
      user_id: userId,
      conversation_id: message.conversation_id,
      thread_root_id: message.root_id,
      in_timeline: message.root_id === null || Number(message.also_in_channel) === 1 ? 1 : 0,
      author_id: message.author_id,
      seq: Number(message.seq),
    })),
  );

  if (resolved.outsiders.length > 0) {
    await events.append(userStream(message.author_id), 'mention.not_in_channel', {
      conversation_id: message.conversation_id,
      message_id: message.id,
      users: resolved.outsiders,
    });
  }
}

/** Removes a deleted message's mentions from every count. */
export function forgetMentions(tx: Tx, messageId: string): Promise<void> {
  return deleteMentionRows(tx, messageId);
}
