import type { Db, Tx } from '../storage/database.js';
import type { ConversationKind, ConversationRow } from '../storage/schema.js';

export function findConversation(db: Db | Tx, id: string): Promise<ConversationRow | undefined> {
  return db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function isConversationMember(db: Db | Tx, conversationId: string, userId: string): Promise<boolean> {
  const row = await db
    .selectFrom('conversation_members')
    .select('user_id')
    .where('conversation_id', '=', conversationId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row !== undefined;
}

export async function listMemberIds(db: Db | Tx, conversationId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('conversation_members')
    .select('user_id')
    .where('conversation_id', '=', conversationId)
    .orderBy('joined_at')
    .orderBy('user_id')
    .execute();
  return rows.map((row) => row.user_id);
}

/** Member ids of many conversations at once, for direct-message listings. */
export async function listMemberIdsOf(db: Db, conversationIds: readonly string[]): Promise<Map<string, string[]>> {
  const members = new Map<string, string[]>();
  if (conversationIds.length === 0) return members;
  const rows = await db
    .selectFrom('conversation_members')
    .select(['conversation_id', 'user_id'])
    .where('conversation_id', 'in', conversationIds)
    .orderBy('joined_at')
    .orderBy('user_id')
    .execute();
  for (const row of rows) {
    const list = members.get(row.conversation_id) ?? [];
    list.push(row.user_id);
    members.set(row.conversation_id, list);
  }
  return members;
}

/**
 * Conversations the user belongs to, in teams they still belong to. Team
 * membership is part of the condition, so direct messages of a team the
 * user left are never listed.
 */
export function listConversationsOfUser(db: Db | Tx, userId: string, teamId?: string) {
  let query = db
    .selectFrom('conversation_members as cm')
    .innerJoin('conversations as c', 'c.id', 'cm.conversation_id')
    .innerJoin('team_members as tm', (join) => join.onRef('tm.team_id', '=', 'c.team_id').on('tm.user_id', '=', userId))
    .innerJoin('teams as t', 't.id', 'c.team_id')
    .selectAll('c')
    .select('t.general_conversation_id')
    .where('cm.user_id', '=', userId);
  if (teamId !== undefined) query = query.where('c.team_id', '=', teamId);
  return query.orderBy('c.created_at').orderBy('c.id').execute();
}

export function listPublicChannels(db: Db, teamId: string) {
  return db
    .selectFrom('conversations')
    .selectAll()
    .where('team_id', '=', teamId)
    .where('kind', '=', 'public')
    .orderBy('name')
    .execute();
}

/** Conversations of the given kinds in one team that the user belongs to. */
export function listConversationsOfUserInTeam(db: Db | Tx, userId: string, teamId: string, kinds: readonly ConversationKind[]) {
  return db
    .selectFrom('conversation_members as cm')
    .innerJoin('conversations as c', 'c.id', 'cm.conversation_id')
    .selectAll('c')
    .where('cm.user_id', '=', userId)
    .where('c.team_id', '=', teamId)
    .where('c.kind', 'in', kinds)
    .execute();
}

export function findConversationByDmKey(db: Db | Tx, dmKey: string): Promise<ConversationRow | undefined> {
  return db.selectFrom('conversations').selectAll().where('dm_key', '=', dmKey).executeTakeFirst();
}
