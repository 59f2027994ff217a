import { useEffect } from 'react';
import type { ConversationState, MessageView } from '../../../src/client/state.js';
import { useStore } from '../app/hooks.js';
import { useUi } from '../app/ui-context.js';
import { plainPreview } from '../lib/markdown.js';
import { conversationTitle, displayName, formatCount, formatFull, formatTime } from '../lib/names.js';
import { MenuButton } from './ConversationView.js';
import { Avatar } from './MessageItem.js';

/** A message in a list of results: author, place, time and a plain-text preview. */
function MessageCard({ message, onOpen, extra }: { message: MessageView | undefined; onOpen: () => void; extra?: React.ReactNode }) {
  const store = useStore();
  const ui = useUi();
  if (message === undefined) {
    return <li className="message-card muted">Loading…</li>;
  }
  const entry = store.state?.conversations[message.conversation_id];
  const author = displayName(store, entry?.conversation.team_id ?? ui.teamId, message.author_id);
  return (
    <li className="message-card">
      <button type="button" onClick={onOpen} aria-label={`${author} in ${entry === undefined ? 'a conversation' : conversationTitle(store, entry)}: ${plainPreview(message.text, 80)}`}>
        <Avatar userId={message.author_id} name={author} size={28} />
        <span className="card-text">
          <span className="card-meta">
            <strong>{author}</strong>
            {entry !== undefined && <span className="muted"> in {conversationTitle(store, entry)}</span>}
            <time className="muted" dateTime={message.created_at} title={formatFull(message.created_at)}>
              {' '}
              {formatTime(message.created_at)}
            </time>
          </span>
          <span className="card-preview">{message.deleted ? 'This message was deleted.' : plainPreview(message.text)}</span>
          {extra}
        </span>
      </button>
    </li>
  );
}

/** Lists the threads the user follows in this team, unread ones first. */
export function ThreadsView({ onMenu }: { onMenu: () => void }) {
  const store = useStore();
  const ui = useUi();
  const state = store.state!;
  const threads = Object.entries(state.threads)
    .filter(([, thread]) => state.conversations[thread.conversation_id]?.conversation.team_id === ui.teamId)
    .map(([rootId, thread]) => ({ rootId, thread, root: store.findMessage(rootId) }))
    .sort((a, b) => Number(b.thread.unread_count > 0) - Number(a.thread.unread_count > 0) || (b.root?.last_reply_at ?? '').localeCompare(a.root?.last_reply_at ?? ''));
  const missing = threads.filter((item) => item.root === undefined).map((item) => item.rootId);

  useEffect(() => {
    if (missing.length > 0) store.fetchMessages(missing).catch((error: unknown) => store.fail('Loading threads', error));
  }, [store, missing.join(',')]);

  return (
    <section className="conversation" aria-label="Threads">
      <header className="conversation-header">
        <MenuButton onMenu={onMenu} />
        <h2>Threads</h2>
      </header>
      <div className="list-view">
        {threads.length === 0 ? (
          <p className="muted">Threads you reply to, start or are mentioned in show here.</p>
        ) : (
          <ul className="card-list">
            {threads.map(({ rootId, thread, root }) => (
              <MessageCard
                key={rootId}
                message={root}
                onOpen={() => ui.openThread(rootId)}
                extra={
                  <span className="card-extra">
                    {root?.reply_count ?? 0} {root?.reply_count === 1 ? 'reply' : 'replies'}
                    {thread.unread_count > 0 && <span className="badge inline">{formatCount(thread.unread_count)} new</span>}
                    {thread.mention_count > 0 && <span className="badge inline mention">@{formatCount(thread.mention_count)}</span>}
                  </span>
                }
              />
            ))}
          </ul>
        )}
      </div>
    </section>
  );
}

/** Lists the user's saved messages in this team, newest first. */
export function SavedView({ onMenu }: { onMenu: () => void }) {
  const store = useStore();
  const ui = useUi();
  const saved = store.saved;

  useEffect(() => {
    if (saved === undefined) store.loadSaved().catch((error: unknown) => store.fail('Loading saved items', error));
  }, [store, saved]);

  const items = (saved ?? []).filter((item) => store.state?.conversations[item.message.conversation_id]?.conversation.team_id === ui.teamId);
  return (
    <section className="conversation" aria-label="Saved items">
      <header className="conversation-header">
        <MenuButton onMenu={onMenu} />
        <h2>Saved items</h2>
      </header>
      <div className="list-view">
        {saved === undefined ? (
          <p className="muted">Loading…</p>
        ) : items.length === 0 ? (
          <p className="muted">Save a message with the star in its actions to find it here later.</p>
        ) : (
          <ul className="card-list">
            {items.map((item) => (
              <MessageCard
                key={item.message.id}
                message={store.findMessage(item.message.id) ?? item.message}
                onOpen={() =>
                  item.message.thread_root_id !== null && !item.message.also_in_channel
                    ? ui.openThread(item.message.thread_root_id)
                    : ui.openConversation(item.message.conversation_id, item.message.id)
                }
              />
            ))}
          </ul>
        )}
      </div>
    </section>
  );
}

/** Lists the pinned messages of a conversation, oldest pin first. */
export function PinnedList({ entry, onJump }: { entry: ConversationState; onJump: (messageId: string) => void }) {
  const store = useStore();
  const ui = useUi();
  const ids = entry.pins.map((pin) => pin.message_id);

  useEffect(() => {
    store.fetchMessages(ids).catch((error: unknown) => store.fail('Loading pinned messages', error));
  }, [store, ids.join(',')]);

  if (ids.length === 0) return <p className="muted">Nothing is pinned yet. Pin a message from its actions to keep it here.</p>;
  return (
    <ul className="card-list">
      {ids.map((id) => {
        const message = store.findMessage(id);
        const inThread = message !== undefined && message.thread_root_id !== null && !message.also_in_channel;
        return <MessageCard key={id} message={message} onOpen={() => (inThread ? ui.openThread(message.thread_root_id!) : onJump(id))} />;
      })}
    </ul>
  );
}
