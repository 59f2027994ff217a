import type { ApiClient } from './api.js';
import type { EventFrame } from './realtime.js';

/**
 * A client's view of what it may see, kept current by real-time events. The
 * web client and the test harness use the same reducer, and the harness
 * checks that the reduced state equals `loadState` run fresh.
 */
export interface UserView {
  id: string;
  username: string;
  display_name: string;
  status_text: string;
  time_zone: string;
}

export interface ConversationView {
  id: string;
  team_id: string;
  kind: string;
  name: string | null;
  topic: string;
  purpose: string;
  created_by: string;
  archived: boolean;
  is_general: boolean;
}

export interface MessageView {
  id: string;
  conversation_id: string;
  seq: number;
  author_id: string;
  text: string;
  thread_root_id: string | null;
  also_in_channel: boolean;
  reply_count: number;
  reply_users: string[];
  last_reply_at: string | null;
  edited_at: string | null;
  deleted: boolean;
}

export interface TeamState {
  id: string;
  name: string;
  role: string;
  members: Record<string, { user: UserView; role: string }>;
  /** The team's public channels, joined or not. */
  directory: Record<string, ConversationView>;
}

export interface ConversationState {
  conversation: ConversationView;
  memberIds: string[];
  /** Every message the user can read: channel timeline and thread replies. */
  messages: Record<string, MessageView>;
}

export interface ClientState {
  me: UserView & { email: string };
  teams: Record<string, TeamState>;
  conversations: Record<string, ConversationState>;
}

/** Work a reducer cannot do alone: loading a newly visible scope over HTTP. */
export type Effect = { kind: 'loadTeam'; teamId: string } | { kind: 'loadConversation'; conversationId: string };

const pickConversation = (raw: Record<string, unknown>): ConversationView => ({
  id: raw.id as string,
  team_id: raw.team_id as string,
  kind: raw.kind as string,
  name: (raw.name as string | null) ?? null,
  topic: raw.topic as string,
  purpose: raw.purpose as string,
  created_by: raw.created_by as string,
  archived: raw.archived as boolean,
  is_general: raw.is_general as boolean,
});

const pickUser = (raw: Record<string, unknown>): UserView => ({
  id: raw.id as string,
  username: raw.username as string,
  display_name: raw.display_name as string,
  status_text: raw.status_text as string,
  time_zone: raw.time_zone as string,
});

const pickMessage = (raw: Record<string, unknown>): MessageView => ({
  id: raw.id as string,
  conversation_id: raw.conversation_id as string,
  seq: raw.seq as number,
  author_id: raw.author_id as string,
  text: raw.text as string,
  thread_root_id: (raw.thread_root_id as string | null) ?? null,
  also_in_channel: raw.also_in_channel as boolean,
  reply_count: raw.reply_count as number,
  reply_users: raw.reply_users as string[],
  last_reply_at: (raw.last_reply_at as string | null) ?? null,
  edited_at: (raw.edited_at as string | null) ?? null,
  deleted: raw.deleted as boolean,
});

/** Applies one event to the state in place and returns the loads it needs. */
export function applyEvent(state: ClientState, frame: EventFrame): Effect[] {
  const data = frame.data;
  const teamId = frame.stream.startsWith('t:') ? frame.stream.slice(2) : undefined;
  const conversationId = frame.stream.startsWith('c:') ? frame.stream.slice(2) : undefined;
  const team = teamId === undefined ? undefined : state.teams[teamId];
  const conversation = conversationId === undefined ? undefined : state.conversations[conversationId];

  switch (frame.event) {
    case 'user.updated':
      state.me = { ...pickUser(data.user as Record<string, unknown>), email: (data.user as { email: string }).email };
      return [];
    case 'team.joined': {
      const raw = data.team as { id: string; name: string; role: string };
      if (state.teams[raw.id] !== undefined) return [];
      state.teams[raw.id] = { id: raw.id, name: raw.name, role: raw.role, members: {}, directory: {} };
      return [{ kind: 'loadTeam', teamId: raw.id }];
    }
    case 'team.updated': {
      const raw = data.team as { id: string; role: string; name: string };
      const existing = state.teams[raw.id];
      if (existing !== undefined) Object.assign(existing, { role: raw.role, name: raw.name });
      return [];
    }
    case 'team.left': {
      const leftTeam = data.team_id as string;
      delete state.teams[leftTeam];
      for (const [id, entry] of Object.entries(state.conversations)) {
        if (entry.conversation.team_id === leftTeam) delete state.conversations[id];
      }
      return [];
    }
    case 'team.member_joined':
      if (team !== undefined) {
        const user = pickUser(data.user as Record<string, unknown>);
        team.members[user.id] = { user, role: data.role as string };
      }
      return [];
    case 'team.member_left':
      if (team !== undefined) delete team.members[data.user_id as string];
      return [];
    case 'team.member_updated': {
      const member = team?.members[data.user_id as string];
      if (member !== undefined) member.role = data.role as string;
      return [];
    }
    case 'team.user_updated': {
      const user = pickUser(data.user as Record<string, unknown>);
      const member = team?.members[user.id];
      if (member !== undefined) member.user = user;
      return [];
    }
    case 'channel.created':
    case 'channel.updated':
      if (team !== undefined) {
        const view = pickConversation(data.conversation as Record<string, unknown>);
        team.directory[view.id] = view;
      }
      return [];
    case 'conversation.joined': {
      const view = pickConversation(data.conversation as Record<string, unknown>);
      if (state.conversations[view.id] !== undefined) return [];
      state.conversations[view.id] = { conversation: view, memberIds: [], messages: {} };
      return [{ kind: 'loadConversation', conversationId: view.id }];
    }
    case 'conversation.left':
      delete state.conversations[data.conversation_id as string];
      return [];
    case 'conversation.updated':
      if (conversation !== undefined) conversation.conversation = pickConversation(data.conversation as Record<string, unknown>);
      return [];
    case 'member.joined':
      if (conversation !== undefined && !conversation.memberIds.includes(data.user_id as string)) {
        conversation.memberIds = [...conversation.memberIds, data.user_id as string].sort();
      }
      return [];
    case 'member.left':
      if (conversation === undefined) return [];
      if (data.user_id === state.me.id && conversationId !== undefined) {
        delete state.conversations[conversationId];
      } else {
        conversation.memberIds = conversation.memberIds.filter((id) => id !== data.user_id);
      }
      return [];
    case 'message.posted':
    case 'message.edited': {
      const message = pickMessage(data.message as Record<string, unknown>);
      if (conversation !== undefined) conversation.messages[message.id] = message;
      return [];
    }
    case 'message.deleted': {
      const message = conversation?.messages[data.message_id as string];
      if (conversation === undefined || message === undefined) return [];
      // A deleted root stays as a placeholder while it has replies.
      if (message.reply_count > 0) Object.assign(message, { deleted: true, text: '' });
      else delete conversation.messages[message.id];
      return [];
    }
    case 'thread.updated': {
      const root = conversation?.messages[data.root_id as string];
      if (conversation === undefined || root === undefined) return [];
      Object.assign(root, {
        reply_count: data.reply_count as number,
        reply_users: data.reply_users as string[],
        last_reply_at: (data.last_reply_at as string | null) ?? null,
      });
      if (root.deleted && root.reply_count === 0) delete conversation.messages[root.id];
      return [];
    }
    default:
      return [];
  }
}

/** Loads one team's members and public channel directory. */
export async function loadTeam(api: ApiClient, teamId: string, role: string, name: string): Promise<TeamState> {
  const { members } = await api.get<{ members: Array<{ user: Record<string, unknown>; role: string }> }>(`/api/teams/${teamId}/members`);
  const { conversations } = await api.get<{ conversations: Array<Record<string, unknown>> }>(`/api/teams/${teamId}/channels`);
  const team: TeamState = { id: teamId, name, role, members: {}, directory: {} };
  for (const member of members) {
    const user = pickUser(member.user);
    team.members[user.id] = { user, role: member.role };
  }
  for (const raw of conversations) team.directory[raw.id as string] = pickConversation(raw);
  return team;
}

/** Loads one conversation: its members, its whole timeline and every thread in it. */
export async function loadConversation(api: ApiClient, conversationId: string): Promise<ConversationState> {
  const raw = await api.get<Record<string, unknown>>(`/api/conversations/${conversationId}`);
  const { user_ids: memberIds } = await api.get<{ user_ids: string[] }>(`/api/conversations/${conversationId}/members`);
  const state: ConversationState = { conversation: pickConversation(raw), memberIds: [...memberIds].sort(), messages: {} };

  let after = 0;
  for (;;) {
    const page = await api.get<{ messages: Array<Record<string, unknown>>; has_more_after: boolean }>(
      `/api/conversations/${conversationId}/messages?after=${after}&limit=200`,
    );
    for (const message of page.messages) {
      const view = pickMessage(message);
      state.messages[view.id] = view;
      after = view.seq;
    }
    if (!page.has_more_after) break;
  }

  for (const root of Object.values(state.messages)) {
    if (root.reply_count === 0 || root.thread_root_id !== null) continue;
    let afterReply = 0;
    for (;;) {
      const thread = await api.get<{ replies: Array<Record<string, unknown>>; has_more: boolean }>(
        `/api/messages/${root.id}/thread?after=${afterReply}&limit=200`,
      );
      for (const reply of thread.replies) {
        const view = pickMessage(reply);
        state.messages[view.id] = view;
        afterReply = view.seq;
      }
      if (!thread.has_more) break;
    }
  }
  return state;
}

/** Loads everything the user can see, fresh, over HTTP. */
export async function loadState(api: ApiClient): Promise<ClientState> {
  const me = await api.get<Record<string, unknown>>('/api/users/me');
  const { teams } = await api.get<{ teams: Array<{ id: string; name: string; role: string }> }>('/api/teams');
  const { conversations } = await api.get<{ conversations: Array<{ id: string }> }>('/api/conversations');

  const state: ClientState = { me: { ...pickUser(me), email: me.email as string }, teams: {}, conversations: {} };
  for (const team of teams) state.teams[team.id] = await loadTeam(api, team.id, team.role, team.name);
  for (const conversation of conversations) state.conversations[conversation.id] = await loadConversation(api, conversation.id);
  return state;
}

/** Runs the loads an event asked for, as a client would after joining a team or conversation. */
export async function runEffects(api: ApiClient, state: ClientState, effects: Effect[]): Promise<void> {
  for (const effect of effects) {
    if (effect.kind === 'loadTeam') {
      const team = state.teams[effect.teamId];
      if (team !== undefined) state.teams[effect.teamId] = await loadTeam(api, effect.teamId, team.role, team.name);
    } else if (state.conversations[effect.conversationId] !== undefined) {
      state.conversations[effect.conversationId] = await loadConversation(api, effect.conversationId);
    }
  }
}
