import { useState } from 'react';
import type { ConversationState } from '../../../src/client/state.js';
import { applyTheme, useStore } from '../app/hooks.js';
import { navigate, paths, type Route } from '../app/routes.js';
import { useUi } from '../app/ui-context.js';
import { canAskForNotifications } from '../lib/notifications.js';
import { PresenceDot, usePresence } from './Presence.js';
import { conversationTitle, formatCount, isDirect } from '../lib/names.js';
import { CreateChannelDialog, InviteDialog, NewDirectDialog } from './Dialogs.js';
import { Icon } from './Icon.js';

type DialogName = 'channel' | 'invite' | 'direct' | undefined;

/** Team header, views, channels and direct messages with their unread and mention counts. */
export function Sidebar({ route, onClose }: { route: Route; onClose: () => void }) {
  const store = useStore();
  const ui = useUi();
  const [dialog, setDialog] = useState<DialogName>();
  const [askNotifications, setAskNotifications] = useState(canAskForNotifications);
  const [query, setQuery] = useState(route.name === 'search' ? route.query : '');
  const state = store.state!;
  const team = state.teams[ui.teamId]!;

  const entries = Object.values(state.conversations).filter((entry) => entry.conversation.team_id === ui.teamId && !entry.conversation.archived);
  const channels = entries.filter((entry) => !isDirect(entry)).sort((a, b) => (a.conversation.name ?? '').localeCompare(b.conversation.name ?? ''));
  const directs = entries.filter(isDirect).sort((a, b) => conversationTitle(store, a).localeCompare(conversationTitle(store, b)));
  const activeId = route.name === 'conversation' ? route.conversationId : undefined;
  // Only the people shown get presence: the other member of each direct message.
  usePresence(directs.flatMap((entry) => (entry.conversation.kind === 'dm' ? [otherMember(entry, state.me.id)] : [])));

  const threads = Object.values(state.threads).filter((thread) => state.conversations[thread.conversation_id]?.conversation.team_id === ui.teamId);
  const unreadThreads = threads.filter((thread) => thread.unread_count > 0).length;
  const otherTeamsUnread = Object.values(state.conversations).some((entry) => entry.conversation.team_id !== ui.teamId && (entry.mentionCount > 0 || (isDirect(entry) && entry.unreadCount > 0)));

  function go(path: string) {
    onClose();
    navigate(path);
  }

  const theme = document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light';

  return (
    <nav className="sidebar" aria-label="Conversations">
      <div className="sidebar-header">
        <h1 className="team-name">{team.name}</h1>
        <button type="button" className="icon-button" aria-label={otherTeamsUnread ? 'Switch team (unread messages in other teams)' : 'Switch team'} onClick={() => go(paths.teams())}>
          <Icon name="swap" />
          {otherTeamsUnread && <span className="dot" aria-hidden="true" />}
        </button>
      </div>

      <form
        className="sidebar-search"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          go(paths.search(ui.teamId, query.trim()));
        }}
      >
        <Icon name="search" size={16} />
        <input type="search" aria-label="Search" placeholder={`Search ${team.name}`} value={query} onChange={(event) => setQuery(event.target.value)} />
      </form>

      <ul className="sidebar-list">
        <li>
          <button type="button" className="sidebar-item" aria-current={route.name === 'threads' ? 'page' : undefined} onClick={() => go(paths.threads(ui.teamId))}>
            <span className={unreadThreads > 0 ? 'label unread' : 'label'}>Threads</span>
            {unreadThreads > 0 && (
              <span className="badge" aria-label={`${unreadThreads} with unread replies`}>
                {formatCount(unreadThreads)}
              </span>
            )}
          </button>
        </li>
        <li>
          <button type="button" className="sidebar-item" aria-current={route.name === 'saved' ? 'page' : undefined} onClick={() => go(paths.saved(ui.teamId))}>
            <span className="label">Saved items</span>
          </button>
        </li>
        <li>
          <button type="button" className="sidebar-item" aria-current={route.name === 'channels' ? 'page' : undefined} onClick={() => go(paths.channels(ui.teamId))}>
            <span className="label">Browse channels</span>
          </button>
        </li>
      </ul>

      <Section title="Channels" addLabel="Create a channel" onAdd={() => setDialog('channel')}>
        {channels.map((entry) => (
          <ConversationItem key={entry.conversation.id} entry={entry} active={entry.conversation.id === activeId} onOpen={() => ui.openConversation(entry.conversation.id)} />
        ))}
      </Section>

      <Section title="Direct messages" addLabel="New direct message" onAdd={() => setDialog('direct')}>
        {directs.map((entry) => (
          <ConversationItem key={entry.conversation.id} entry={entry} active={entry.conversation.id === activeId} onOpen={() => ui.openConversation(entry.conversation.id)} />
        ))}
      </Section>

      <div className="sidebar-footer">
        <button type="button" className="sidebar-item" onClick={() => setDialog('invite')}>
          <span className="label">Invite people</span>
        </button>
        {askNotifications && (
          <button
            type="button"
            className="sidebar-item"
            onClick={() => {
              void store.enableNotifications().finally(() => setAskNotifications(false));
            }}
          >
            <span className="label">Turn on desktop notifications</span>
          </button>
        )}
        <div className="me-row">
          <span className="me-name" title={`@${state.me.username}`}>
            {state.me.display_name}
          </span>
          <button
            type="button"
            className="icon-button"
            aria-label={theme === 'dark' ? 'Use the light theme' : 'Use the dark theme'}
            onClick={() => {
              applyTheme(theme === 'dark' ? 'light' : 'dark', true);
              store.bump();
            }}
          >
            <Icon name={theme === 'dark' ? 'sun' : 'moon'} />
          </button>
          <button type="button" className="link" onClick={() => void store.logout().then(() => navigate(paths.login()))}>
            Sign out
          </button>
        </div>
      </div>

      {dialog === 'channel' && <CreateChannelDialog onClose={() => setDialog(undefined)} />}
      {dialog === 'invite' && <InviteDialog onClose={() => setDialog(undefined)} />}
      {dialog === 'direct' && <NewDirectDialog onClose={() => setDialog(undefined)} />}
    </nav>
  );
}

function Section({ title, addLabel, onAdd, children }: { title: string; addLabel: string; onAdd: () => void; children: React.ReactNode }) {
  return (
    <section className="sidebar-section" aria-label={title}>
      <div className="section-header">
        <h2>{title}</h2>
        <button type="button" className="icon-button" aria-label={addLabel} onClick={onAdd}>
          <Icon name="plus" size={16} />
        </button>
      </div>
      <ul className="sidebar-list">{children}</ul>
    </section>
  );
}

function ConversationItem({ entry, active, onOpen }: { entry: ConversationState; active: boolean; onOpen: () => void }) {
  const store = useStore();
  const title = conversationTitle(store, entry);
  const direct = isDirect(entry);
  const unread = entry.unreadCount > 0 && !active;
  // Every message of a direct conversation is addressed to the user, so its badge counts them all.
  let badge = entry.mentionCount;
  if (direct) badge = unread ? entry.unreadCount : 0;
  const label = [title, unread ? `${formatCount(entry.unreadCount)} unread` : '', badge > 0 && !direct ? `${formatCount(badge)} mentions` : ''].filter((part) => part !== '').join(', ');

  return (
    <li>
      <button type="button" className="sidebar-item" aria-current={active ? 'page' : undefined} aria-label={label} onClick={onOpen} data-conversation-id={entry.conversation.id}>
        {entry.conversation.kind === 'dm' ? (
          <span className="kind-icon">
            <PresenceDot userId={otherMember(entry, store.state!.me.id)} />
          </span>
        ) : (
          <span className="kind-icon" aria-hidden="true">
            {entry.conversation.kind === 'private' ? <Icon name="lock" size={14} /> : direct ? <Icon name="users" size={14} /> : <Icon name="hash" size={14} />}
          </span>
        )}
        <span className={unread ? 'label unread' : 'label'}>{direct ? title : title.slice(1)}</span>
        {badge > 0 && (
          <span className="badge" aria-hidden="true">
            {formatCount(badge)}
          </span>
        )}
      </button>
    </li>
  );
}

/** Returns the person a direct message is with; in a message to oneself, the user. */
function otherMember(entry: ConversationState, myId: string): string {
  return entry.memberIds.find((id) => id !== myId) ?? myId;
}
