import { useEffect } from 'react';
import { useStore } from '../app/hooks.js';
import { displayName } from '../lib/names.js';
import type { PresenceStatus } from '../lib/presence.js';
import { Modal } from './Dialogs.js';
import { Avatar } from './MessageItem.js';

const STATUS_LABELS: Record<PresenceStatus, string> = { online: 'online', away: 'away', dnd: 'do not disturb', offline: 'offline' };

/** Watches the presence of the given users while the calling component is shown. */
export function usePresence(userIds: string[]): void {
  const store = useStore();
  // One string dependency: a new array with the same ids must not subscribe again.
  const key = [...new Set(userIds)].sort().join(',');
  useEffect(() => {
    if (key === '') return undefined;
    return store.signals.watch(key.split(','));
  }, [store, key]);
}

/** Returns a watched user's status; users not reported yet count as offline. */
export function presenceOf(store: ReturnType<typeof useStore>, userId: string): PresenceStatus {
  return store.signals.presence.get(userId) ?? 'offline';
}

export function PresenceDot({ userId }: { userId: string }) {
  const store = useStore();
  const status = presenceOf(store, userId);
  return <span className={`presence-dot ${status}`} data-presence={status} role="img" aria-label={STATUS_LABELS[status]} title={STATUS_LABELS[status]} />;
}

/** Says who is typing in a conversation's timeline, or in a thread when threadRootId is given. */
export function TypingIndicator({ teamId, conversationId, threadRootId }: { teamId: string; conversationId: string; threadRootId: string | null }) {
  const store = useStore();
  const names = store.signals.typingIn(conversationId, threadRootId).map((userId) => displayName(store, teamId, userId));
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  return (
    <div className="typing-indicator muted small" aria-live="polite">
      {text}
    </div>
  );
}

/** Lists the members of a conversation with their presence, online first. */
export function MembersDialog({ teamId, memberIds, title, onClose }: { teamId: string; memberIds: string[]; title: string; onClose: () => void }) {
  const store = useStore();
  usePresence(memberIds);
  const rank: Record<PresenceStatus, number> = { online: 0, dnd: 1, away: 2, offline: 3 };
  const members = memberIds
    .map((id) => ({ id, name: displayName(store, teamId, id), status: presenceOf(store, id) }))
    .sort((a, b) => rank[a.status] - rank[b.status] || a.name.localeCompare(b.name));
  return (
    <Modal title={`Members of ${title}`} onClose={onClose}>
      <ul className="member-list">
        {members.map((member) => (
          <li key={member.id} className="member-row" data-user-id={member.id}>
            <span className="avatar-with-dot">
              <Avatar userId={member.id} name={member.name} size={28} />
              <PresenceDot userId={member.id} />
            </span>
            <span>{member.name}</span>
            {member.id === store.state?.me.id && <span className="muted small">(you)</span>}
          </li>
        ))}
      </ul>
    </Modal>
  );
}
