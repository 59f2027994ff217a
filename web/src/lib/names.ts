import type { ConversationState, UserView } from '../../../src/client/state.js';
import type { ChatStore } from './store.js';

/** Returns a member's profile from their team's member list, if the team is loaded and they are still in it. */
export function findUser(store: ChatStore, teamId: string, userId: string): UserView | undefined {
  if (store.state?.me.id === userId) return store.state.me;
  return store.state?.teams[teamId]?.members[userId]?.user;
}

export function displayName(store: ChatStore, teamId: string, userId: string): string {
  const user = findUser(store, teamId, userId);
  if (user === undefined) return 'Former member';
  return user.display_name || user.username;
}

/** Names a conversation as the sidebar shows it: "#name" for channels, the other members for direct messages. */
export function conversationTitle(store: ChatStore, entry: ConversationState): string {
  const conversation = entry.conversation;
  if (conversation.kind === 'public' || conversation.kind === 'private') return `#${conversation.name ?? ''}`;
  const me = store.state?.me.id;
  const others = entry.memberIds.filter((id) => id !== me);
  if (others.length === 0) return `${displayName(store, conversation.team_id, me ?? '')} (you)`;
  return others.map((id) => displayName(store, conversation.team_id, id)).join(', ');
}

export function isDirect(entry: ConversationState): boolean {
  return entry.conversation.kind === 'dm' || entry.conversation.kind === 'group';
}

const channelNameCache = new Map<string, { key: string; names: ReadonlySet<string> }>();

/**
 * Returns the names of the team's channels the user can see. The same Set is
 * returned while the names stay the same, so rendered messages that depend
 * on it are not rendered again on every change of the store.
 */
export function channelNamesOf(store: ChatStore, teamId: string): ReadonlySet<string> {
  const names = new Set<string>();
  for (const conversation of Object.values(store.state?.teams[teamId]?.directory ?? {})) if (conversation.name !== null) names.add(conversation.name);
  for (const entry of Object.values(store.state?.conversations ?? {})) {
    if (entry.conversation.team_id === teamId && entry.conversation.name !== null) names.add(entry.conversation.name);
  }
  const key = [...names].sort().join('\n');
  const cached = channelNameCache.get(teamId);
  if (cached !== undefined && cached.key === key) return cached.names;
  channelNameCache.set(teamId, { key, names });
  return names;
}

/** Returns a stable hue (0 to 359) for a user's avatar, from their id. */
export function avatarHue(userId: string): number {
  let hash = 0;
  for (let index = 0; index < userId.length; index += 1) hash = (hash * 31 + userId.charCodeAt(index)) >>> 0;
  return hash % 360;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter((part) => part !== '');
  const letters = parts.length > 1 ? [parts[0]!, parts[parts.length - 1]!].map((part) => [...part][0]) : [...(parts[0] ?? '?')].slice(0, 2);
  return letters.join('').toUpperCase();
}

/** Shows a count as the server caps it: 100 means "more than 99". */
export function formatCount(count: number): string {
  return count >= 100 ? '99+' : String(count);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

export function formatTime(iso: string): string {
  return timeFormat.format(new Date(iso));
}

export function formatDay(iso: string): string {
  const date = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86_400_000);
  if (date.toDateString() === today.toDateString()) return 'Today';
  if (date.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return dayFormat.format(date);
}

export function formatFull(iso: string): string {
  return fullFormat.format(new Date(iso));
}
