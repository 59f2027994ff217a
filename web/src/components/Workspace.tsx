import { useCallback, useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { useStore } from '../app/hooks.js';
import { navigate, paths, rememberTeam, type Route } from '../app/routes.js';
import { UiContext, type Ui } from '../app/ui-context.js';
import { ChannelBrowser } from './ChannelBrowser.js';
import { ConversationView } from './ConversationView.js';
import { QuickSwitcher } from './Dialogs.js';
import { SavedView, ThreadsView } from './Lists.js';
import { NotificationBanner } from './Banners.js';
import { SearchView } from './SearchView.js';
import { Sidebar } from './Sidebar.js';
import { ThreadPanel } from './ThreadPanel.js';

const PHONE_QUERY = '(max-width: 720px)';

function useMediaQuery(query: string): boolean {
  const subscribe = useCallback(
    (listener: () => void) => {
      const list = window.matchMedia(query);
      list.addEventListener('change', listener);
      return () => list.removeEventListener('change', listener);
    },
    [query],
  );
  return useSyncExternalStore(subscribe, () => window.matchMedia(query).matches);
}

/** The signed-in screen of one team: sidebar, the open view, and the thread panel beside it. */
export function Workspace({ teamId, route }: { teamId: string; route: Route }) {
  const store = useStore();
  const [thread, setThread] = useState<{ rootId: string; messageId: string | undefined } | undefined>();
  const threadRootId = thread?.rootId;
  const [sidebarOpen, setSidebarOpen] = useState(false);
  const [switcherOpen, setSwitcherOpen] = useState(false);
  const isPhone = useMediaQuery(PHONE_QUERY);

  useEffect(() => {
    rememberTeam(teamId);
    store.ensureTeam(teamId).catch((error: unknown) => store.fail('Loading the team', error));
  }, [store, teamId]);

  // The team's own address opens its general channel, or the first the user is in.
  const conversations = Object.values(store.state?.conversations ?? {}).filter((entry) => entry.conversation.team_id === teamId);
  const landing = conversations.find((entry) => entry.conversation.is_general) ?? conversations[0];
  useEffect(() => {
    if (route.name !== 'team') return;
    navigate(landing === undefined ? paths.channels(teamId) : paths.conversation(teamId, landing.conversation.id), { replace: true });
  }, [route.name, teamId, landing]);

  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'k') {
        event.preventDefault();
        setSwitcherOpen(true);
      }
    }
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  // Key presses, clicks and focus keep the user's presence active.
  useEffect(() => {
    const onActivity = () => store.signals.sendActivity();
    window.addEventListener('keydown', onActivity);
    window.addEventListener('pointerdown', onActivity);
    window.addEventListener('focus', onActivity);
    return () => {
      window.removeEventListener('keydown', onActivity);
      window.removeEventListener('pointerdown', onActivity);
      window.removeEventListener('focus', onActivity);
    };
  }, [store]);

  // A clicked notification opens its message, in its thread for a reply.
  useEffect(() => {
    store.openNotification = (payload) => {
      navigate(paths.conversation(payload.team_id, payload.conversation_id, payload.thread_root_id ?? payload.message_id));
      if (payload.thread_root_id !== null && payload.team_id === teamId) setThread({ rootId: payload.thread_root_id, messageId: payload.message_id });
    };
    return () => {
      store.openNotification = () => {};
    };
  }, [store, teamId]);

  const ui = useMemo<Ui>(
    () => ({
      teamId,
      isPhone,
      openConversation: (conversationId, messageId) => {
        setSidebarOpen(false);
        navigate(paths.conversation(teamId, conversationId, messageId));
      },
      openThread: (rootId, messageId) => setThread({ rootId, messageId }),
      closeThread: () => setThread(undefined),
      openChannelByName: (name) => {
        const state = store.state;
        if (state === undefined) return;
        const joined = Object.values(state.conversations).find((entry) => entry.conversation.team_id === teamId && entry.conversation.name === name);
        if (joined !== undefined) {
          navigate(paths.conversation(teamId, joined.conversation.id));
          return;
        }
        const listed = Object.values(state.teams[teamId]?.directory ?? {}).find((conversation) => conversation.name === name);
        if (listed === undefined) return;
        void store.run('Joining the channel', async () => {
          await store.joinChannel(listed.id);
          await store.waitForConversation(listed.id);
          navigate(paths.conversation(teamId, listed.id));
        });
      },
    }),
    [store, teamId, isPhone],
  );

  let content;
  if (route.name === 'conversation') {
    content = <ConversationView key={route.conversationId} conversationId={route.conversationId} messageId={route.messageId} onMenu={() => setSidebarOpen(true)} />;
  } else if (route.name === 'threads') {
    content = <ThreadsView onMenu={() => setSidebarOpen(true)} />;
  } else if (route.name === 'search') {
    content = <SearchView query={route.query} sort={route.sort} onMenu={() => setSidebarOpen(true)} />;
  } else if (route.name === 'saved') {
    content = <SavedView onMenu={() => setSidebarOpen(true)} />;
  } else {
    content = <ChannelBrowser onMenu={() => setSidebarOpen(true)} />;
  }

  const classes = ['workspace', threadRootId === undefined ? '' : 'with-thread', sidebarOpen ? 'sidebar-open' : ''].join(' ');
  return (
    <UiContext.Provider value={ui}>
      <div className={classes}>
        <Sidebar route={route} onClose={() => setSidebarOpen(false)} />
        {isPhone && sidebarOpen && <div className="drawer-backdrop" onClick={() => setSidebarOpen(false)} aria-hidden="true" />}
        <main className="main-view" aria-label="Conversation">
          <NotificationBanner />
          {content}
        </main>
        {threadRootId !== undefined && <ThreadPanel key={threadRootId} rootId={threadRootId} highlightId={thread?.messageId} />}
        {switcherOpen && <QuickSwitcher onClose={() => setSwitcherOpen(false)} />}
      </div>
    </UiContext.Provider>
  );
}
