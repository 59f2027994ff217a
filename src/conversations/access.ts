import { sql } from 'kysely';
import { AppError } from '../platform/errors.js';
import type { Db, Tx } from '../storage/database.js';
import { PreparedListQuery, prepareQuery, type Param } from '../storage/compiled-query.js';
import type { GroupReads } from '../storage/group-reads.js';
import { memberNotifiedOfAllQuery } from '../notifications/queries.js';
import type { ConversationRow, TeamMemberRow, TeamRow } from '../storage/schema.js';
import { isTeamAdmin } from '../teams/access.js';

export interface ConversationAccess {
  conversation: ConversationRow;
  team: TeamRow;
  teamMembership: TeamMemberRow;
  isMember: boolean;
}

/**
 * The access a caller needs. `read` lets any team member read a public
 * channel. `member` requires membership of the conversation, and `write` also
 * requires the conversation not to be archived.
 */
export type ConversationNeed = 'read' | 'member' | 'write';

/**
 * Loads a conversation and checks the caller may use it. A conversation the
 * caller may not see raises CONVERSATION_NOT_FOUND, exactly as a missing one
 * does, so its existence does not leak.
 */
export async function accessConversation(
  db: Db | Tx,
  conversationId: string,
  userId: string,
  need: ConversationNeed,
): Promise<ConversationAccess> {
  return checkAccess(await findConversationWithCaller(db, conversationId, userId), need);
}

/** Applies the rules of `need` to a conversation read with its caller's memberships, or undefined when none was found. */
function checkAccess(found: ConversationWithCaller | undefined, need: ConversationNeed): ConversationAccess {
  // Errors are built only when thrown: capturing a stack trace on every call showed in profiles.
  const notFound = () => new AppError('CONVERSATION_NOT_FOUND', 'Conversation not found');
  if (found === undefined) throw notFound();

  const { conversation, team, teamMembership, isMember } = found;
  if (teamMembership === undefined) throw notFound();
  if (!isMember && conversation.kind !== 'public') throw notFound();

  if (!isMember && need !== 'read') {
    throw new AppError('NOT_IN_CONVERSATION', 'Join the channel first');
  }
  if (need === 'write' && conversation.archived_at !== null) {
    throw new AppError('CONVERSATION_ARCHIVED', 'This channel is archived and read-only');
  }
  return { conversation, team, teamMembership, isMember };
}

/**
 * Loads a conversation for a new post by `userId`, with the checks of the
 * `write` need, and reads in the same statement whether a member other than
 * the author is notified of every message there (see memberNotifiedOfAllQuery).
 * On PostgreSQL that saves a round trip per post.
 */
export async function accessConversationToPost(
  db: Db | Tx,
  conversationId: string,
  userId: string,
  reads?: GroupReads,
): Promise<ConversationAccess & { memberNotifiedOfAll: boolean }> {
  const row = await findPostAccessRow(db, conversationId, userId, reads);
  if (row === undefined) return { ...checkAccess(undefined, 'write'), memberNotifiedOfAll: false };
  // SQLite returns EXISTS as 0 or 1, PostgreSQL as a boolean.
  const { notified_of_all, ...caller } = row;
  return { ...checkAccess(splitCallerRow(caller, userId), 'write'), memberNotifiedOfAll: Boolean(notified_of_all) };
}

/**
 * Reads the post access row of `userId`. A keyed CommitGroup's units are posts to one conversation,
 * with their authors as hints. Given its `reads`, the first caller reads the rows of every author
 * in one statement and the later ones reuse them, which saves a round trip per post on PostgreSQL.
 * Pass `reads` only while the transaction holds the conversation's `streams` row lock, so that no
 * change of access can commit between the read and the last post.
 */
async function findPostAccessRow(db: Db | Tx, conversationId: string, userId: string, reads: GroupReads | undefined): Promise<PostAccessRow | undefined> {
  if (reads !== undefined && reads.hints.length > 1 && reads.hints.includes(userId)) {
    const rows = await reads.once(`post-access:${conversationId}`, () => readPostAccessOfAuthors(db, conversationId, [...new Set(reads.hints)]));
    const row = rows.get(userId);
    if (row !== undefined) return row;
  }
  return (await conversationToPostQuery.execute(db, { conversationId, userId })).rows[0];
}

/**
 * Reads what accessConversationToPost reads for one author, for each of `authorIds` in one
 * statement, by author. The map is empty when the conversation does not exist.
 */
async function readPostAccessOfAuthors(db: Db | Tx, conversationId: string, authorIds: readonly string[]): Promise<Map<string, PostAccessRow>> {
  const { rows } = await postAccessOfAuthorsQuery.execute(db, authorIds, { conversationId });
  const byAuthor = new Map<string, PostAccessRow>();
  for (const { author_id, ...row } of rows) byAuthor.set(author_id, row);
  return byAuthor;
}

// The padding '' is no user's id, so its row has neither membership and no post looks it up.
const postAccessOfAuthorsQuery = new PreparedListQuery<string, PostAccessRow & { author_id: string }, { conversationId: string }>('', (db, authorIds, param) =>
  db
    // A VALUES list names its column column1 on both SQLite and PostgreSQL.
    .selectFrom(sql<{ column1: string }>`(values ${sql.join(authorIds.map((id) => sql`(${id})`))})`.as('u'))
    .innerJoin('conversations as c', (join) => join.on('c.id', '=', param('conversationId')))
    .innerJoin('teams as t', 't.id', 'c.team_id')
    .leftJoin('team_members as tm', (join) => join.onRef('tm.team_id', '=', 'c.team_id').onRef('tm.user_id', '=', 'u.column1'))
    .leftJoin('conversation_members as cm', (join) => join.onRef('cm.conversation_id', '=', 'c.id').onRef('cm.user_id', '=', 'u.column1'))
    .select(CALLER_COLUMNS)
    .select((eb) => [eb.exists(memberNotifiedOfAllQuery(db, eb.ref('c.id'), eb.ref('u.column1'))).as('notified_of_all'), 'u.column1 as author_id']),
);

// Listed rather than `c.*`: on PostgreSQL the single-caller queries run as named prepared statements,
// which fail with "cached plan must not change result type" once a migration adds a column to the table.
const CALLER_COLUMNS = [
  'c.id',
  'c.team_id',
  'c.kind',
  'c.name',
  'c.topic',
  'c.purpose',
  'c.dm_key',
  'c.created_by',
  'c.created_at',
  'c.updated_at',
  'c.archived_at',
  't.name as team_name',
  't.created_by as team_created_by',
  't.created_at as team_created_at',
  't.general_conversation_id as team_general_conversation_id',
  'tm.role as team_role',
  'tm.joined_at as team_joined_at',
  'cm.user_id as member_id',
] as const;

function selectConversationWithCaller(db: Db | Tx, param: Param<{ conversationId: string; userId: string }>) {
  return db
    .selectFrom('conversations as c')
    .innerJoin('teams as t', 't.id', 'c.team_id')
    .leftJoin('team_members as tm', (join) => join.onRef('tm.team_id', '=', 'c.team_id').on('tm.user_id', '=', param('userId')))
    .leftJoin('conversation_members as cm', (join) => join.onRef('cm.conversation_id', '=', 'c.id').on('cm.user_id', '=', param('userId')))
    .select(CALLER_COLUMNS)
    .where('c.id', '=', param('conversationId'));
}

/** Reads a conversation, its team and the caller's two memberships in one query. */
const conversationWithCallerQuery = prepareQuery<{ conversationId: string; userId: string }>()(selectConversationWithCaller);

// Runs on every post, so it is built once.
const conversationToPostQuery = prepareQuery<{ conversationId: string; userId: string }>()((db, param) =>
  selectConversationWithCaller(db, param).select((eb) => eb.exists(memberNotifiedOfAllQuery(db, eb.ref('c.id'), param('userId'))).as('notified_of_all')),
);

type CallerRow = NonNullable<Awaited<ReturnType<typeof conversationWithCallerQuery.execute>>['rows'][number]>;
type PostAccessRow = NonNullable<Awaited<ReturnType<typeof conversationToPostQuery.execute>>['rows'][number]>;

interface ConversationWithCaller {
  conversation: ConversationRow;
  team: TeamRow;
  teamMembership: TeamMemberRow | undefined;
  isMember: boolean;
}

async function findConversationWithCaller(db: Db | Tx, conversationId: string, userId: string): Promise<ConversationWithCaller | undefined> {
  const row = (await conversationWithCallerQuery.execute(db, { conversationId, userId })).rows[0];
  return row === undefined ? undefined : splitCallerRow(row, userId);
}

function splitCallerRow(row: CallerRow, userId: string): ConversationWithCaller {
  const { team_name, team_created_by, team_created_at, team_general_conversation_id, team_role, team_joined_at, member_id, ...conversation } = row;
  const team: TeamRow = {
    id: conversation.team_id,
    name: team_name,
    created_by: team_created_by,
    created_at: team_created_at,
    general_conversation_id: team_general_conversation_id,
  };
  const teamMembership: TeamMemberRow | undefined =
    team_role === null || team_joined_at === null
      ? undefined
      : { team_id: conversation.team_id, user_id: userId, role: team_role, joined_at: team_joined_at };
  // Typed without a cast, so a column added to ConversationRow but not to the list above fails to compile.
  const complete: ConversationRow = conversation;
  return { conversation: complete, team, teamMembership, isMember: member_id !== null };
}

/** True for the channel's creator and for the team's owners and admins. */
export function canManageChannel(access: ConversationAccess, userId: string): boolean {
  return access.conversation.created_by === userId || isTeamAdmin(access.teamMembership.role);
}
