import { useCallback, useEffect, useState } from 'react';
import { useStore } from '../app/hooks.js';
import { navigate, paths } from '../app/routes.js';
import { useUi } from '../app/ui-context.js';
import { conversationTitle, isDirect } from '../lib/names.js';
import { Composer } from './Composer.js';
import { AddMembersDialog, Modal } from './Dialogs.js';
import { PinnedList } from './Lists.js';
import { Icon } from './Icon.js';
import { MessageList } from './MessageList.js';
import { MembersDialog, PresenceDot, TypingIndicator, usePresence } from './Presence.js';

/** Returns true while the user can see the page: the tab is visible and the window focused. */
function userIsLooking(): boolean {
  return document.visibilityState === 'visible' && document.hasFocus();
}

export function MenuButton({ onMenu }: { onMenu: () => void }) {
  const ui = useUi();
  if (!ui.isPhone) return null;
  return (
    <button type="button" className="icon-button menu-button" aria-label="Open the sidebar" onClick={onMenu}>
      <Icon name="menu" size={22} />
    </button>
  );
}

/** Renders an open conversation: header, timeline and composer. */
export function ConversationView({ conversationId, messageId, onMenu }: { conversationId: string; messageId: string | undefined; onMenu: () => void }) {
  const store = useStore();
  const ui = useUi();
  const entry = store.state?.conversations[conversationId];
  const [separatorSeq, setSeparatorSeq] = useState<number | undefined>(entry?.lastReadSeq);
  const [editingId, setEditingId] = useState<string | undefined>();
  const [panel, setPanel] = useState<'pins' | 'add' | 'leave' | 'members' | undefined>();
  const [highlightId, setHighlightId] = useState<string | undefined>(messageId);
  const known = entry !== undefined;
  // The header of a direct message shows the other person's presence.
  const partnerId = entry?.conversation.kind === 'dm' ? (entry.memberIds.find((id) => id !== store.state?.me.id) ?? store.state?.me.id) : undefined;
  usePresence(partnerId === undefined ? [] : [partnerId]);

  // The "new messages" line stays where the read position was when the conversation opened.
  useEffect(() => {
    if (known && separatorSeq === undefined) setSeparatorSeq(store.state?.conversations[conversationId]?.lastReadSeq);
  }, [known, separatorSeq, store, conversationId]);

  useEffect(() => {
    if (!known) return;
    setHighlightId(messageId);
    let load: Promise<void> | undefined;
    if (messageId !== undefined) load = store.loadAround(conversationId, messageId);
    else if (!store.history.has(conversationId)) load = store.loadLatest(conversationId);
    load?.catch((error: unknown) => store.fail('Loading messages', error));
  }, [known, conversationId, messageId, store]);

  const markRead = useCallback(() => {
    if (!userIsLooking()) return;
    store.markRead(conversationId).catch((error: unknown) => store.fail('Marking the conversation read', error));
  }, [store, conversationId]);

  // New messages in the open conversation count as read while the user is looking at its end.
  useEffect(() => {
    const onFocus = () => markRead();
    window.addEventListener('focus', onFocus);
    return () => window.removeEventListener('focus', onFocus);
  }, [markRead]);

  // Esc marks the conversation read and removes the "new messages" line.
  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if (event.key !== 'Escape' || event.defaultPrevented) return;
      setSeparatorSeq(Number.MAX_SAFE_INTEGER);
      store.markRead(conversationId).catch((error: unknown) => store.fail('Marking the conversation read', error));
    }
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store, conversationId]);

  if (entry === undefined) {
    return <NotJoined conversationId={conversationId} onMenu={onMenu} />;
  }

  const title = conversationTitle(store, entry);
  const conversation = entry.conversation;
  const channel = !isDirect(entry);
  const me = store.state!.me.id;

  function editLast() {
    const own = Object.values(entry!.messages)
      .filter((message) => message.author_id === me && !message.deleted && (message.thread_root_id === null || message.also_in_channel))
      .sort((a, b) => b.seq - a.seq)[0];
    if (own !== undefined) setEditingId(own.id);
  }

  return (
    <section className="conversation" aria-label={title}>
      <header className="conversation-header">
        <MenuButton onMenu={onMenu} />
        <div className="header-title">
          <h2>
            {partnerId !== undefined && (
              <>
                <PresenceDot userId={partnerId} />{' '}
              </>
            )}
            {title}
          </h2>
          {(conversation.topic || conversation.purpose) && <p className="muted topic">{conversation.topic || conversation.purpose}</p>}
        </div>
        <div className="header-actions">
          {entry.memberIds.length > 0 && (
            <button type="button" className="icon-button member-count" aria-label={`Members (${entry.memberIds.length})`} onClick={() => setPanel('members')}>
              <Icon name="users" size={16} /> <span className="small">{entry.memberIds.length}</span>
            </button>
          )}
          <button type="button" className="icon-button" aria-label={`Pinned messages (${entry.pins.length})`} onClick={() => setPanel('pins')}>
            <Icon name="pin" />
            {entry.pins.length > 0 && <span className="small">{entry.pins.length}</span>}
          </button>
          {channel && !conversation.archived && (
            <button type="button" className="icon-button" aria-label="Add people to this channel" onClick={() => setPanel('add')}>
              <Icon name="userPlus" />
            </button>
          )}
          {!conversation.is_general && (
            <button type="button" className="icon-button" aria-label={`Leave ${title}`} onClick={() => setPanel('leave')}>
              <Icon name="leave" />
            </button>
          )}
        </div>
      </header>

      <MessageList
        entry={entry}
        title={title}
        separatorSeq={separatorSeq}
        highlightId={highlightId}
        editingId={editingId}
        setEditingId={setEditingId}
        onSeenBottom={markRead}
      />

      <TypingIndicator teamId={ui.teamId} conversationId={conversationId} threadRootId={null} />

      {conversation.archived ? (
        <p className="archived-note">This channel is archived. Nobody can post in it.</p>
      ) : (
        <Composer
          key={conversationId}
          teamId={ui.teamId}
          conversationId={conversationId}
          label={`Message ${title}`}
          placeholder={`Message ${title}`}
          onEditLast={editLast}
        />
      )}

      {panel === 'pins' && (
        <Modal title={`Pinned in ${title}`} onClose={() => setPanel(undefined)}>
          <PinnedList
            entry={entry}
            onJump={(id) => {
              setPanel(undefined);
              ui.openConversation(conversationId, id);
            }}
          />
        </Modal>
      )}
      {panel === 'members' && <MembersDialog teamId={ui.teamId} memberIds={entry.memberIds} title={title} onClose={() => setPanel(undefined)} />}
      {panel === 'add' && <AddMembersDialog conversationId={conversationId} onClose={() => setPanel(undefined)} />}
      {panel === 'leave' && (
        <Modal title={`Leave ${title}?`} onClose={() => setPanel(undefined)}>
          <p>{conversation.kind === 'private' ? 'You will need an invitation to come back.' : 'You can join it again from the channel browser.'}</p>
          <div className="row-end">
            <button type="button" onClick={() => setPanel(undefined)}>
              Cancel
            </button>
            <button
              type="button"
              className="danger"
              onClick={() => {
                setPanel(undefined);
                void store.run('Leaving', async () => {
                  await store.leaveConversation(conversationId);
                  navigate(paths.team(ui.teamId));
                });
              }}
            >
              Leave
            </button>
          </div>
        </Modal>
      )}
    </section>
  );
}

/** Renders a conversation the user is not in: a public channel to join, or a notice that it cannot be seen. */
function NotJoined({ conversationId, onMenu }: { conversationId: string; onMenu: () => void }) {
  const store = useStore();
  const ui = useUi();
  const listed = store.state?.teams[ui.teamId]?.directory[conversationId];
  return (
    <section className="conversation">
      <header className="conversation-header">
        <MenuButton onMenu={onMenu} />
        <h2>{listed === undefined ? 'Conversation not found' : `#${listed.name ?? ''}`}</h2>
      </header>
      <div className="center-screen">
        {listed === undefined ? (
          <p className="muted">This conversation does not exist, or you are not a member of it.</p>
        ) : (
          <button type="button" className="primary" onClick={() => ui.openChannelByName(listed.name ?? '')}>
            Join #{listed.name}
          </button>
        )}
      </div>
    </section>
  );
}
