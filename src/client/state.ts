import type { ApiClient } from './api.js';
import { recount } from './counts.js';
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
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  entities: {
    mentions: Array<{ type: string; user_id?: string; username?: string; offset: number; length: number }>;
    links: Array<{ url: string; offset: number; length: number }>;
  };
  /** Grouped by emoji in code unit order; users in the order they reacted. */
  reactions: ReactionView[];
  /** Attached files in the order posted; thumbnails arrive later through file.updated. */
  files: FileAttachmentView[];
  /** 'bot_message' for posts of bots and incoming webhooks; absent for plain user posts. */
  subtype?: string;
  /** Name (`username`) and icon (`icon_url`, `icon_emoji`) a bot post chose, shown in place of its author's. */
  bot_profile?: Record<string, string>;
}

export interface FileAttachmentView {
  id: string;
  message_id: string | null;
  name: string;
  size: number;
  mime_type: string;
  width: number | null;
  height: number | null;
  url: string;
  thumbnail_url: string | null;
}

export interface ReactionView {
  emoji: string;
  shortcode: string;
  count: number;
  user_ids: string[];
}

export interface PinView {
  message_id: string;
  pinned_by: string;
  pinned_at: string;
}

/** A followed thread: its read position and counts of unread replies and mentions. */
export interface ThreadView {
  conversation_id: string;
  last_read_seq: number;
  unread_count: number;
  mention_count: number;
}

export interface TeamState {
  id: string;
  name: string;
  role: string;
  members: Record<string, { user: UserView; role: string }>;
  /** The team's public channels, joined or not. */
  directory: Record<string, ConversationView>;
  settings: Record<string, unknown>;
}

export interface ConversationState {
  conversation: ConversationView;
  memberIds: string[];
  /** Every message the user can read: channel timeline and thread replies. */
  messages: Record<string, MessageView>;
  lastReadSeq: number;
  unreadCount: number;
  mentionCount: number;
  /** Pinned messages, oldest pin first. */
  pins: PinView[];
  /** Set by a client that holds only the newest part of the history; absent when every message is held. */
  window?: HistoryWindow;
}

/**
 * The server's counts for the messages a client does not hold. A client that
 * loads history in pages (the web client) holds every message above
 * `baselineSeq` and only some below it, so counts.ts adds these counts to its
 * own count of the held messages above `baselineSeq`.
 */
export interface HistoryWindow {
  /** Head of the conversation stream when the counts below were read (`last_seq` of GET /api/sidebar). */
  baselineSeq: number;
  /** The read position the counts were read at; once the position moves below baselineSeq they are stale. */
  baselineReadSeq: number;
  unreadCount: number;
  mentionCount: number;
  /** The same for followed threads of the conversation, by root id. */
  threads: Record<string, { readSeq: number; unreadCount: number; mentionCount: number }>;
}

export interface ClientState {
  me: UserView & { email: string };
  teams: Record<string, TeamState>;
  conversations: Record<string, ConversationState>;
  /** Followed threads by root id. */
  threads: Record<string, ThreadView>;
  /** Saved messages by id. */
  saved: Record<string, { conversation_id: string; saved_at: string }>;
}

/** Work a reducer cannot do alone: loading a newly visible scope over HTTP. */
export type Effect = { kind: 'loadTeam'; teamId: string } | { kind: 'loadConversation'; conversationId: string };

export const pickConversation = (raw: Record<string, unknown>): ConversationView => ({
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

export const pickUser = (raw: Record<string, unknown>): UserView => ({
  id: raw.id as string,
  username: raw.username as string,
  display_name: raw.display_name as string,
  status_text: raw.status_text as string,
  time_zone: raw.time_zone as string,
});

export const pickMessage = (raw: Record<string, unknown>): MessageView => ({
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
  created_at: raw.created_at as string,
  edited_at: (raw.edited_at as string | null) ?? null,
  deleted: raw.deleted as boolean,
  entities: raw.entities as MessageView['entities'],
  reactions: ((raw.reactions as ReactionView[] | undefined) ?? []).map((reaction) => ({
    emoji: reaction.emoji,
    shortcode: reaction.shortcode,
    count: reaction.count,
    user_ids: [...reaction.user_ids],
  })),
  files: ((raw.files as Array<Record<string, unknown>> | undefined) ?? []).map(pickFile),
  ...(typeof raw.subtype === 'string' && { subtype: raw.subtype }),
  ...(raw.bot_profile !== undefined && raw.bot_profile !== null && { bot_profile: { ...(raw.bot_profile as Record<string, string>) } }),
});

export const pickFile = (raw: Record<string, unknown>): FileAttachmentView => ({
  id: raw.id as string,
  message_id: (raw.message_id as string | null) ?? null,
  name: raw.name as string,
  size: raw.size as number,
  mime_type: raw.mime_type as string,
  width: (raw.width as number | null) ?? null,
  height: (raw.height as number | null) ?? null,
  url: raw.url as string,
  thumbnail_url: (raw.thumbnail_url as string | null) ?? null,
});

export const pickThread = (raw: Record<string, unknown>): ThreadView => ({
  conversation_id: raw.conversation_id as string,
  last_read_seq: raw.last_read_seq as number,
  unread_count: raw.unread_count as number,
  mention_count: raw.mention_count as number,
});

/** Applies one event to the state in place, updates the counts it affects, and returns the loads it needs. */
export function applyEvent(state: ClientState, frame: EventFrame): Effect[] {
  const effects = applyEventOnly(state, frame);
  const conversationId = frame.stream.startsWith('c:') ? frame.stream.slice(2) : (frame.data.conversation_id as string | undefined);
  recount(state, frame.stream.startsWith('t:') ? undefined : conversationId);
  return effects;
}

function applyEventOnly(state: ClientState, frame: EventFrame): Effect[] {
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
      state.teams[raw.id] = { id: raw.id, name: raw.name, role: raw.role, members: {}, directory: {}, settings: {} };
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
      state.conversations[view.id] = { conversation: view, memberIds: [], messages: {}, lastReadSeq: 0, unreadCount: 0, mentionCount: 0, pins: [] };
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
    case 'message.posted': {
      const message = pickMessage(data.message as Record<string, unknown>);
      if (conversation === undefined) return [];
      conversation.messages[message.id] = message;
      if (message.author_id === state.me.id) markOwnPostRead(state, conversation, message);
      return [];
    }
    case 'message.edited': {
      const message = pickMessage(data.message as Record<string, unknown>);
      if (conversation === undefined) return [];
      // Edit events leave reactions and files out: they are unchanged.
      message.reactions = conversation.messages[message.id]?.reactions ?? [];
      message.files = conversation.messages[message.id]?.files ?? [];
      conversation.messages[message.id] = message;
      return [];
    }
    case 'message.deleted': {
      const messageId = data.message_id as string;
      const message = conversation?.messages[messageId];
      if (conversation === undefined) return [];
      // The server drops reactions, files, pins and saved items of a deleted message, also of one this client does not hold.
      conversation.pins = conversation.pins.filter((pin) => pin.message_id !== messageId);
      delete state.saved[messageId];
      if (message === undefined) return [];
      message.reactions = [];
      message.files = [];
      // A deleted root stays as a placeholder while it has replies.
      if (message.reply_count > 0) {
        Object.assign(message, { deleted: true, text: '', entities: { mentions: [], links: [] } });
      } else {
        delete conversation.messages[message.id];
        delete state.threads[message.id];
      }
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
      if (root.deleted && root.reply_count === 0) {
        delete conversation.messages[root.id];
        delete state.threads[root.id];
      }
      return [];
    }
    default:
      return applyFeatureEvent(state, frame, team, conversation);
  }
}

/** Orders reaction groups as the server does: by emoji, comparing UTF-16 code units. */
function compareReactions(a: ReactionView, b: ReactionView): number {
  if (a.emoji < b.emoji) return -1;
  if (a.emoji > b.emoji) return 1;
  return 0;
}

/** Moves the author's own read positions to a message they posted, as the server does without an event. */
function markOwnPostRead(state: ClientState, conversation: ConversationState, message: MessageView): void {
  if (message.thread_root_id === null || message.also_in_channel) {
    conversation.lastReadSeq = Math.max(conversation.lastReadSeq, message.seq);
  }
  const thread = message.thread_root_id === null ? undefined : state.threads[message.thread_root_id];
  if (thread !== undefined) thread.last_read_seq = Math.max(thread.last_read_seq, message.seq);
}

/** Reactions, pins, read positions, follows, saved items, team settings and file changes. */
function applyFeatureEvent(state: ClientState, frame: EventFrame, team: TeamState | undefined, conversation: ConversationState | undefined): Effect[] {
  const data = frame.data;
  switch (frame.event) {
    case 'reaction.added': {
      const message = conversation?.messages[data.message_id as string];
      if (message === undefined) return [];
      let group = message.reactions.find((reaction) => reaction.emoji === data.emoji);
      if (group === undefined) {
        group = { emoji: data.emoji as string, shortcode: data.shortcode as string, count: 0, user_ids: [] };
        message.reactions = [...message.reactions, group].sort(compareReactions);
      }
      if (!group.user_ids.includes(data.user_id as string)) group.user_ids.push(data.user_id as string);
      group.count = group.user_ids.length;
      return [];
    }
    case 'reaction.removed': {
      const message = conversation?.messages[data.message_id as string];
      if (message === undefined) return [];
      for (const group of message.reactions) {
        if (group.emoji !== data.emoji) continue;
        group.user_ids = group.user_ids.filter((id) => id !== data.user_id);
        group.count = group.user_ids.length;
      }
      message.reactions = message.reactions.filter((group) => group.count > 0);
      return [];
    }
    case 'message.pinned':
      if (conversation !== undefined && !conversation.pins.some((pin) => pin.message_id === data.message_id)) {
        conversation.pins.push({ message_id: data.message_id as string, pinned_by: data.pinned_by as string, pinned_at: data.pinned_at as string });
      }
      return [];
    case 'message.unpinned':
      if (conversation !== undefined) conversation.pins = conversation.pins.filter((pin) => pin.message_id !== data.message_id);
      return [];
    case 'conversation.read': {
      const entry = state.conversations[data.conversation_id as string];
      if (entry !== undefined) entry.lastReadSeq = Math.max(entry.lastReadSeq, data.last_read_seq as number);
      return [];
    }
    case 'thread.read': {
      const thread = state.threads[data.thread_root_id as string];
      if (thread !== undefined) thread.last_read_seq = Math.max(thread.last_read_seq, data.last_read_seq as number);
      return [];
    }
    case 'thread.followed': {
      const existing = state.threads[data.thread_root_id as string];
      state.threads[data.thread_root_id as string] = {
        conversation_id: data.conversation_id as string,
        last_read_seq: Math.max(existing?.last_read_seq ?? 0, data.last_read_seq as number),
        unread_count: 0,
        mention_count: 0,
      };
      return [];
    }
    case 'thread.unfollowed':
      delete state.threads[data.thread_root_id as string];
      return [];
    case 'message.saved':
      state.saved[data.message_id as string] = { conversation_id: data.conversation_id as string, saved_at: data.saved_at as string };
      return [];
    case 'message.unsaved':
      delete state.saved[data.message_id as string];
      return [];
    case 'team.settings_updated':
      if (team !== undefined) team.settings = { ...(data.settings as Record<string, unknown>) };
      return [];
    case 'mention.not_in_channel':
      // A notice for the author to show; it changes no state.
      return [];
    case 'file.updated': {
      const file = pickFile(data.file as Record<string, unknown>);
      const message = file.message_id === null ? undefined : conversation?.messages[file.message_id];
      if (message !== undefined) message.files = message.files.map((existing) => (existing.id === file.id ? file : existing));
      return [];
    }
    case 'file.deleted': {
      const message = conversation?.messages[data.message_id as string];
      if (message !== undefined) message.files = message.files.filter((file) => file.id !== data.file_id);
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
  const settings = await api.get<Record<string, unknown>>(`/api/teams/${teamId}/settings`);
  const team: TeamState = { id: teamId, name, role, members: {}, directory: {}, settings };
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
  const { conversations: counts } = await api.get<{ conversations: Array<{ last_read_seq: number; unread_count: number; mention_count: number }> }>(
    `/api/sidebar?conversation_id=${conversationId}`,
  );
  const { pins } = await api.get<{ pins: PinView[] }>(`/api/conversations/${conversationId}/pins`);
  const state: ConversationState = {
    conversation: pickConversation(raw),
    memberIds: [...memberIds].sort(),
    messages: {},
    lastReadSeq: counts[0]?.last_read_seq ?? 0,
    unreadCount: counts[0]?.unread_count ?? 0,
    mentionCount: counts[0]?.mention_count ?? 0,
    pins,
  };

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

  const state: ClientState = { me: { ...pickUser(me), email: me.email as string }, teams: {}, conversations: {}, threads: {}, saved: {} };
  for (const team of teams) state.teams[team.id] = await loadTeam(api, team.id, team.role, team.name);
  for (const conversation of conversations) state.conversations[conversation.id] = await loadConversation(api, conversation.id);

  const { threads } = await api.get<{ threads: Array<Record<string, unknown>> }>('/api/threads?limit=1000');
  for (const thread of threads) state.threads[thread.thread_root_id as string] = pickThread(thread);
  const { items } = await api.get<{ items: Array<{ saved_at: string; message: { id: string; conversation_id: string } }> }>('/api/saved');
  for (const item of items) state.saved[item.message.id] = { conversation_id: item.message.conversation_id, saved_at: item.saved_at };
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
