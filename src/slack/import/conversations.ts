import { insertChannel } from '../../conversations/actions.js';
import { addConversationMember } from '../../conversations/membership.js';
import { findConversation } from '../../conversations/queries.js';
import { commitWithEvents } from '../../platform/context.js';
import { newId } from '../../platform/ids.js';
import type { Tx } from '../../storage/database.js';
import type { ConversationRow } from '../../storage/schema.js';
import type { EventWriter } from '../../storage/streams.js';
import { MAX_CHANNEL_NAME_CHARS } from '../../conversations/schemas.js';
import { slackToMarkdown } from '../markup.js';
import type { ConversationListKind, SlackConversation } from './export-types.js';
import { insertMappedId, loadIdMap } from './queries.js';
import { reportProblem } from './report.js';
import type { ImportState, MappedConversation } from './state.js';

/**
 * Imports one conversation list. Channels (channels.json, groups.json) keep
 * their name, topic, purpose, members and archive state, and a channel whose
 * name the team already uses is merged into it. Direct messages (dms.json)
 * and group DMs (mpims.json) merge into the team's conversation of the same
 * people. Archiving waits until the messages are in (see `finishConversation`).
 */
export async function importConversations(state: ImportState, kind: ConversationListKind, list: SlackConversation[], path: string): Promise<void> {
  const mapped = await loadIdMap(state.ctx.storage.db, state.team.id, 'conversation');
  const reportKind = kind === 'channels' || kind === 'groups' ? 'channels' : 'direct_messages';

  for (const entry of list) {
    if (typeof entry?.id !== 'string') {
      reportProblem(state.report, { kind: reportKind, path, reason: 'an entry has no id' });
      continue;
    }
    const folder = kind === 'dms' ? entry.id : entry.name ?? entry.id;
    const memberIds = memberIdsOf(state, entry, path, reportKind);
    const localId = mapped.get(entry.id);
    if (localId !== undefined) {
      const row = await findConversation(state.ctx.storage.db, localId);
      if (row !== undefined) {
        state.report.counts[reportKind].existing += 1;
        state.conversations.set(entry.id, mappedOf(row, folder, entry, memberIds));
        continue;
      }
    }

    const direct = kind === 'dms' || kind === 'mpims';
    if (direct && memberIds.length === 0) {
      reportProblem(state.report, { kind: reportKind, path, reason: `conversation ${entry.id} has no known member` });
      continue;
    }
    const { row, merged } = await commitWithEvents(state.ctx, async (tx, events, now) => {
      const result = direct ? await upsertDirect(state, tx, memberIds, entry, now) : await upsertChannel(state, tx, events, entry, kind === 'groups', now);
      for (const userId of memberIds) await ensureMember(tx, events, state, result.row, userId, now);
      await insertMappedId(tx, { team_id: state.team.id, kind: 'conversation', slack_id: entry.id, local_id: result.row.id });
      return result;
    });
    state.report.counts[reportKind][merged ? 'merged' : 'imported'] += 1;
    state.conversations.set(entry.id, mappedOf(row, folder, entry, memberIds));
  }
}

function mappedOf(row: ConversationRow, folder: string, entry: SlackConversation, memberIds: string[]): MappedConversation {
  return { id: row.id, name: row.name ?? undefined, folder, archived: entry.is_archived === true, memberIds };
}

function memberIdsOf(state: ImportState, entry: SlackConversation, path: string, kind: 'channels' | 'direct_messages'): string[] {
  const ids = new Set<string>();
  for (const slackId of Array.isArray(entry.members) ? entry.members : []) {
    const user = state.users.get(slackId);
    if (user === undefined) {
      reportProblem(state.report, { kind, path, reason: `member ${slackId} of ${entry.id} is not in users.json; left out` }, { skipped: false });
      continue;
    }
    ids.add(user.id);
  }
  return [...ids].sort();
}

/** Converts a Slack channel name to ours, which allows the same characters but only lowercase. */
function channelNameOf(entry: SlackConversation): string {
  const name = (entry.name ?? entry.id)
    .toLowerCase()
    .replace(/[^\p{Ll}\p{Lo}\p{Lm}\p{N}_-]/gu, '-')
    .slice(0, MAX_CHANNEL_NAME_CHARS);
  return name === '' ? entry.id.toLowerCase() : name;
}

async function upsertChannel(state: ImportState, tx: Tx, events: EventWriter, entry: SlackConversation, isPrivate: boolean, now: number) {
  const generalId = state.team.general_conversation_id;
  const name = channelNameOf(entry);
  const sameName = await tx.selectFrom('conversations').selectAll().where('team_id', '=', state.team.id).where('name', '=', name).executeTakeFirst();
  const general = entry.is_general === true && generalId !== null ? await findConversation(tx, generalId) : undefined;
  const existing = general ?? sameName;
  if (existing !== undefined) return { row: existing, merged: true };

  const creatorId = (entry.creator !== undefined && state.users.get(entry.creator)?.id) || state.team.created_by;
  const row = await insertChannel(
    tx,
    events,
    {
      teamId: state.team.id,
      name,
      isPrivate,
      topic: slackToMarkdown(entry.topic?.value ?? '').slice(0, 250),
      purpose: slackToMarkdown(entry.purpose?.value ?? '').slice(0, 250),
      creatorId,
    },
    generalId,
    now,
  );
  const created = timeOf(entry.created) ?? now;
  await tx.updateTable('conversations').set({ created_at: created }).where('id', '=', row.id).execute();
  return { row, merged: false };
}

async function upsertDirect(state: ImportState, tx: Tx, memberIds: string[], entry: SlackConversation, now: number) {
  const dmKey = `${state.team.id}:${memberIds.join(',')}`;
  const existing = await tx.selectFrom('conversations').selectAll().where('dm_key', '=', dmKey).executeTakeFirst();
  if (existing !== undefined) return { row: existing, merged: true };

  const row: ConversationRow = {
    id: newId(),
    team_id: state.team.id,
    kind: memberIds.length <= 2 ? 'dm' : 'group',
    name: null,
    topic: '',
    purpose: '',
    dm_key: dmKey,
    created_by: memberIds[0] ?? state.team.created_by,
    created_at: timeOf(entry.created) ?? now,
    updated_at: now,
    archived_at: null,
  };
  // Members join through ensureMember, whose events announce the conversation to each of them.
  await tx.insertInto('conversations').values(row).execute();
  return { row, merged: false };
}

async function ensureMember(tx: Tx, events: EventWriter, state: ImportState, row: ConversationRow, userId: string, now: number): Promise<void> {
  const member = await tx
    .selectFrom('conversation_members')
    .select('user_id')
    .where('conversation_id', '=', row.id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (member === undefined) await addConversationMember(tx, events, row, userId, state.team.general_conversation_id, now);
}

/** Reads Slack's `created`, seconds as a number or a string; undefined when absent or invalid. */
function timeOf(value: number | string | undefined): number | undefined {
  const seconds = typeof value === 'string' ? Number(value) : value;
  return seconds !== undefined && Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : undefined;
}
