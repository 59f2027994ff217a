import type { Db } from '../../storage/database.js';
import type { ConversationKind } from '../../storage/schema.js';

/**
 * Conversations of a team a bot may list: public channels, and those of the
 * requested kinds it belongs to, ordered by id after `afterId`.
 */
export function listVisibleConversations(
  db: Db,
  input: { teamId: string; botUserId: string; kinds: readonly ConversationKind[]; excludeArchived: boolean; afterId: string | undefined; limit: number },
) {
  let query = db
    .selectFrom('conversations as c')
    .leftJoin('conversation_members as cm', (join) => join.onRef('cm.conversation_id', '=', 'c.id').on('cm.user_id', '=', input.botUserId))
    .innerJoin('teams as t', 't.id', 'c.team_id')
    .selectAll('c')
    .select(['cm.user_id as member_id', 't.general_conversation_id'])
    .where('c.team_id', '=', input.teamId)
    .where('c.kind', 'in', input.kinds)
    .where((eb) => eb.or([eb('c.kind', '=', 'public'), eb('cm.user_id', 'is not', null)]));
  if (input.excludeArchived) query = query.where('c.archived_at', 'is', null);
  if (input.afterId !== undefined) query = query.where('c.id', '>', input.afterId);
  return query.orderBy('c.id').limit(input.limit).execute();
}

/** Member ids of a conversation after `afterId`, in id order. */
export async function listMemberPage(db: Db, conversationId: string, afterId: string | undefined, limit: number): Promise<string[]> {
  let query = db.selectFrom('conversation_members').select('user_id').where('conversation_id', '=', conversationId);
  if (afterId !== undefined) query = query.where('user_id', '>', afterId);
  const rows = await query.orderBy('user_id').limit(limit).execute();
  return rows.map((row) => row.user_id);
}

export async function countMembers(db: Db, conversationId: string): Promise<number> {
  const row = await db
    .selectFrom('conversation_members')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('conversation_id', '=', conversationId)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Members of a team with their roles after `afterId`, in id order. */
export function listTeamUserPage(db: Db, teamId: string, afterId: string | undefined, limit: number) {
  let query = db.selectFrom('team_members as tm').innerJoin('users as u', 'u.id', 'tm.user_id').selectAll('u').select('tm.role').where('tm.team_id', '=', teamId);
  if (afterId !== undefined) query = query.where('u.id', '>', afterId);
  return query.orderBy('u.id').limit(limit).execute();
}

export function findTeamUser(db: Db, teamId: string, userId: string) {
  return db
    .selectFrom('team_members as tm')
    .innerJoin('users as u', 'u.id', 'tm.user_id')
    .selectAll('u')
    .select('tm.role')
    .where('tm.team_id', '=', teamId)
    .where('u.id', '=', userId)
    .executeTakeFirst();
}

export async function hasReaction(db: Db, messageId: string, emoji: string, userId: string): Promise<boolean> {
  const row = await db
    .selectFrom('reactions')
    .select('user_id')
    .where('message_id', '=', messageId)
    .where('emoji', '=', emoji)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row !== undefined;
}

export function findMessagesByIds(db: Db, ids: readonly string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('messages').selectAll().where('id', 'in', ids).execute();
}

export function findConversationsByIds(db: Db, ids: readonly string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('conversations').select(['id', 'name', 'kind']).where('id', 'in', [...new Set(ids)]).execute();
}
