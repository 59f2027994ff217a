import type { ChatStore, RawMessage } from './store.js';
import { conversationTitle, displayName } from './names.js';

/** Returns true when the browser can show notifications and the user has not decided yet. */
export function canAskForNotifications(): boolean {
  return typeof Notification !== 'undefined' && Notification.permission === 'default';
}

/**
 * Shows a desktop notification for a new message that mentions the user or
 * arrives in a direct message, only while the tab is hidden or unfocused.
 * The body is plain text: the Notification API never renders markup.
 */
export function notifyIfHidden(store: ChatStore, raw: RawMessage): void {
  const state = store.state;
  if (state === undefined || typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  if (document.visibilityState === 'visible' && document.hasFocus()) return;
  if (raw.author_id === state.me.id) return;

  const entry = state.conversations[raw.conversation_id as string];
  if (entry === undefined) return;
  const mentions = (raw.entities as { mentions: Array<{ type: string; user_id?: string }> } | undefined)?.mentions ?? [];
  const direct = entry.conversation.kind === 'dm' || entry.conversation.kind === 'group';
  const mentioned = mentions.some((mention) => mention.user_id === state.me.id || mention.type === 'channel' || mention.type === 'team');
  if (!direct && !mentioned) return;

  const author = displayName(store, entry.conversation.team_id, raw.author_id as string);
  const notification = new Notification(`${author} in ${conversationTitle(store, entry)}`, {
    body: String(raw.text).slice(0, 200),
    tag: raw.id,
  });
  notification.onclick = () => window.focus();
}
