import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { useStore } from '../app/hooks.js';
import { useUi } from '../app/ui-context.js';
import { conversationTitle } from '../lib/names.js';
import { Composer } from './Composer.js';
import { Icon } from './Icon.js';
import { MessageItem, PendingItem } from './MessageItem.js';
import { continuesGroup } from './MessageList.js';
import { TypingIndicator } from './Presence.js';

/** A thread beside the conversation: its root, every reply and a composer for replies. */
export function ThreadPanel({ rootId, highlightId }: { rootId: string; highlightId?: string | undefined }) {
  const store = useStore();
  const ui = useUi();
  const [editingId, setEditingId] = useState<string | undefined>();
  const scroller = useRef<HTMLDivElement>(null);
  const root = store.findMessage(rootId);
  const entry = root === undefined ? undefined : store.state?.conversations[root.conversation_id];
  const following = store.state?.threads[rootId] !== undefined;

  useEffect(() => {
    store.loadThread(rootId).catch((error: unknown) => store.fail('Loading the thread', error));
  }, [store, rootId]);

  const replies = entry === undefined ? [] : Object.values(entry.messages).filter((message) => message.thread_root_id === rootId).sort((a, b) => a.seq - b.seq);
  const pending = root === undefined ? [] : store.outbox.pendingIn(root.conversation_id, rootId);
  const unread = store.state?.threads[rootId]?.unread_count ?? 0;

  useLayoutEffect(() => {
    const element = scroller.current;
    if (element === null) return;
    // A reply opened from search or a notification stays in view; otherwise the newest reply does.
    const target = highlightId === undefined ? null : element.querySelector<HTMLElement>(`[data-message-id="${CSS.escape(highlightId)}"]`);
    if (target !== null) target.scrollIntoView({ block: 'center' });
    else element.scrollTop = element.scrollHeight;
  }, [replies.length, pending.length, highlightId]);

  useEffect(() => {
    if (unread > 0 && document.visibilityState === 'visible' && document.hasFocus()) {
      store.markThreadRead(rootId).catch((error: unknown) => store.fail('Marking the thread read', error));
    }
  }, [store, rootId, unread]);

  const title = entry === undefined ? '' : conversationTitle(store, entry);
  return (
    <aside className="thread-panel" aria-label="Thread">
      <header className="conversation-header">
        <div className="header-title">
          <h2>Thread</h2>
          <p className="muted small">{title}</p>
        </div>
        <div className="header-actions">
          <button type="button" className="small" aria-pressed={following} onClick={() => void store.toggleFollow(rootId)}>
            {following ? 'Following' : 'Follow'}
          </button>
          <button type="button" className="icon-button" aria-label="Close the thread" onClick={ui.closeThread}>
            <Icon name="close" />
          </button>
        </div>
      </header>
      <div className="message-scroller" ref={scroller}>
        {root === undefined ? (
          <p className="muted">Loading the thread…</p>
        ) : (
          <div className="message-list" role="log" aria-label={`Replies in the thread`}>
            <MessageItem message={root} grouped={false} inThread highlighted={highlightId === root.id} editing={editingId === root.id} onEditStart={() => setEditingId(root.id)} onEditEnd={() => setEditingId(undefined)} />
            <div className="reply-count-divider" role="separator">
              <span>
                {root.reply_count} {root.reply_count === 1 ? 'reply' : 'replies'}
              </span>
            </div>
            {replies.map((reply, index) => (
              <MessageItem
                key={reply.id}
                message={reply}
                grouped={continuesGroup(replies[index - 1], reply)}
                inThread
                highlighted={highlightId === reply.id}
                editing={editingId === reply.id}
                onEditStart={() => setEditingId(reply.id)}
                onEditEnd={() => setEditingId(undefined)}
              />
            ))}
            {pending.map((item) => (
              <PendingItem key={item.clientMsgId} entry={item} grouped={false} />
            ))}
          </div>
        )}
      </div>
      {root !== undefined && <TypingIndicator teamId={ui.teamId} conversationId={root.conversation_id} threadRootId={rootId} />}
      {root !== undefined && entry !== undefined && !entry.conversation.archived && (
        <Composer
          key={rootId}
          teamId={ui.teamId}
          conversationId={root.conversation_id}
          threadRootId={rootId}
          label="Reply in the thread"
          placeholder="Reply…"
          channelTitle={title}
          onEditLast={() => {
            const own = [...replies].reverse().find((reply) => reply.author_id === store.state?.me.id && !reply.deleted);
            if (own !== undefined) setEditingId(own.id);
          }}
        />
      )}
    </aside>
  );
}
