import { findUserByUsername, listTeamIdsOfUser } from '../accounts/queries.js';
import { findConversationByDmKey } from '../conversations/queries.js';
import { AppError } from '../platform/errors.js';
import type { Db } from '../storage/database.js';
import type { ConversationRef, SearchQuery, ValueFilter } from './query-parser.js';
import type { ResolvedSearch, SearchKind } from './search-index.js';
import { countTeams, findChannelIdsByName } from './queries.js';

export interface SearchScope {
  userId: string;
  /** One team, or undefined for every team of the user. */
  teamId: string | undefined;
  kind: SearchKind;
}

/**
 * Resolves the names in a parsed query to ids for one searcher. A name that
 * matches nothing matches no message: when every name of a positive filter
 * (such as `from:@nobody`) is unknown, this returns undefined and the search
 * is empty. Channel names are looked up in the searcher's teams only, and the
 * search checks access again, so a name never reveals a channel.
 */
export async function resolveSearch(db: Db, scope: SearchScope, query: SearchQuery): Promise<ResolvedSearch | undefined> {
  if (scope.kind === 'files') rejectMessageOnlyFilters(query);

  const authors = await resolveUsers(db, scope.userId, query.from);
  const mentions = await resolveUsers(db, scope.userId, query.mentions);
  const conversations = {
    any: await resolveConversations(db, scope, query.in.any),
    none: await resolveConversations(db, scope, query.in.none),
  };
  const unmatched = (filter: ValueFilter<unknown>, resolved: string[]) => filter.any.length > 0 && resolved.length === 0;
  if (unmatched(query.from, authors.any) || unmatched(query.mentions, mentions.any) || unmatched(query.in, conversations.any)) return undefined;
  if (query.createdFrom !== undefined && query.createdBefore !== undefined && query.createdFrom >= query.createdBefore) return undefined;

  return {
    kind: scope.kind,
    userId: scope.userId,
    teamId: scope.teamId,
    facetTeamIds: await narrowingTeamIds(db, scope),
    include: query.include,
    exclude: query.exclude,
    conversations,
    authors,
    mentions,
    has: query.has,
    is: query.is,
    createdFrom: query.createdFrom,
    createdBefore: query.createdBefore,
  };
}

/** Returns the teams searched when they are not every team of the server, and an empty list when they are. */
async function narrowingTeamIds(db: Db, scope: SearchScope): Promise<string[]> {
  const teamIds = scope.teamId === undefined ? await listTeamIdsOfUser(db, scope.userId) : [scope.teamId];
  return teamIds.length < (await countTeams(db)) ? teamIds : [];
}

/** Files have no links, reactions, threads or mentions of their own, so these filters are errors there. */
function rejectMessageOnlyFilters(query: SearchQuery): void {
  const terms = [
    ...[...query.has.all, ...query.has.none].map((value) => `has:${value}`),
    ...[...query.is.all, ...query.is.none].map((value) => `is:${value}`),
    ...[...query.mentions.any, ...query.mentions.none].map((name) => `mentions:@${name}`),
  ];
  if (terms.length > 0) {
    throw new AppError('INVALID_SEARCH_QUERY', `${terms[0]} applies to messages only, not to file search`, { field: 'q', term: terms[0] });
  }
}

async function resolveUserId(db: Db, userId: string, name: string): Promise<string | undefined> {
  if (name.toLowerCase() === 'me') return userId;
  return (await findUserByUsername(db, name))?.id;
}

async function resolveUsers(db: Db, userId: string, filter: ValueFilter<string>): Promise<ValueFilter<string>> {
  const resolve = async (names: string[]) => {
    const ids = await Promise.all(names.map((name) => resolveUserId(db, userId, name)));
    return [...new Set(ids.filter((id): id is string => id !== undefined))];
  };
  return { any: await resolve(filter.any), none: await resolve(filter.none) };
}

/** Resolves `#channel` in the searcher's teams and `@user` to the direct message between the searcher and that user. */
async function resolveConversations(db: Db, scope: SearchScope, refs: ConversationRef[]): Promise<string[]> {
  const ids = new Set<string>();
  const channelNames = refs.flatMap((ref) => (ref.kind === 'channel' ? [ref.name] : []));
  for (const id of await findChannelIdsByName(db, scope.userId, scope.teamId, channelNames)) ids.add(id);

  const usernames = refs.flatMap((ref) => (ref.kind === 'direct' ? [ref.username] : []));
  if (usernames.length === 0) return [...ids];
  const teamIds = scope.teamId === undefined ? await listTeamIdsOfUser(db, scope.userId) : [scope.teamId];
  for (const username of usernames) {
    const otherId = await resolveUserId(db, scope.userId, username);
    if (otherId === undefined) continue;
    // A direct message's key is its team and the sorted ids of its members; a note to oneself has one member.
    const memberKey = [...new Set([scope.userId, otherId])].sort().join(',');
    for (const teamId of teamIds) {
      const conversation = await findConversationByDmKey(db, `${teamId}:${memberKey}`);
      if (conversation !== undefined) ids.add(conversation.id);
    }
  }
  return [...ids];
}
