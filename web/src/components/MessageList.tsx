import { useLayoutEffect, useRef } from 'react';
import type { ConversationState, MessageView } from '../../../src/client/state.js';
import { useStore } from '../app/hooks.js';
import { formatDay } from '../lib/names.js';
import type { OutboxEntry } from '../lib/outbox.js';
import { MessageItem, PendingItem } from './MessageItem.js';

/** Messages by one author within this many milliseconds of each other show as one group. */
const GROUP_WINDOW_MS = 5 * 60 * 1000;
/** Older history loads when the list is scrolled to within this many pixels of its top. */
const LOAD_OLDER_MARGIN_PX = 400;
const BOTTOM_MARGIN_PX = 40;

let firstListMarked = false;

/** Returns true when `message` continues the run of `previous`: same author, same day, close in time. */
export function continuesGroup(previous: MessageView | undefined, message: MessageView): boolean {
  if (previous === undefined || previous.deleted || previous.author_id !== message.author_id) return false;
  if (formatDay(previous.created_at) !== formatDay(message.created_at)) return false;
  if (message.thread_root_id !== null && message.also_in_channel) return false;
  return Date.parse(message.created_at) - Date.parse(previous.created_at) < GROUP_WINDOW_MS;
}

interface MessageListProps {
  entry: ConversationState;
  title: string;
  /** Messages by others above this seq are new: the "new messages" line goes before the first. */
  separatorSeq: number | undefined;
  highlightId: string | undefined;
  editingId: string | undefined;
  setEditingId: (id: string | undefined) => void;
  /** Called when the user sees the newest message, to mark the conversation read. */
  onSeenBottom: () => void;
}

/**
 * Renders the timeline of a conversation: the held history from the oldest
 * loaded page on, with unsent messages at the end. Scrolling near the top loads the
 * page before, and the view keeps its place while it grows.
 */
export function MessageList({ entry, title, separatorSeq, highlightId, editingId, setEditingId, onSeenBottom }: MessageListProps) {
  const store = useStore();
  const conversationId = entry.conversation.id;
  const page = store.history.get(conversationId);
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const lastHeight = useRef(0);
  const lastOldest = useRef<number | undefined>(undefined);
  const positioned = useRef(false);

  const timeline = page === undefined ? [] : Object.values(entry.messages).filter((message) => (message.thread_root_id === null || message.also_in_channel) && message.seq >= page.oldestSeq);
  timeline.sort((a, b) => a.seq - b.seq);
  const pending = store.outbox.pendingIn(conversationId, null);
  const me = store.state!.me.id;
  const firstNew = separatorSeq === undefined ? undefined : timeline.find((message) => message.seq > separatorSeq && message.author_id !== me);

  useLayoutEffect(() => {
    const element = scroller.current;
    if (element === null || page === undefined) return;
    if (!positioned.current && timeline.length > 0) {
      positioned.current = true;
      if (!firstListMarked) {
        firstListMarked = true;
        // The end-to-end test reads this mark as the time from page load to the first message list.
        performance.mark('chatterbox:first-message-list');
      }
      const target = highlightId ?? firstNew?.id;
      const node = target === undefined ? null : element.querySelector<HTMLElement>(`[data-message-id="${CSS.escape(target)}"]`);
      if (node !== null) node.scrollIntoView({ block: 'center' });
      else element.scrollTop = element.scrollHeight;
    } else if (lastOldest.current !== undefined && page.oldestSeq < lastOldest.current) {
      // An older page went in above: keep the messages in view where they were.
      element.scrollTop += element.scrollHeight - lastHeight.current;
    } else if (atBottom.current) {
      element.scrollTop = element.scrollHeight;
    }
    lastHeight.current = element.scrollHeight;
    lastOldest.current = page.oldestSeq;
    atBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < BOTTOM_MARGIN_PX;
    if (atBottom.current && timeline.length > 0) onSeenBottom();
  });

  useLayoutEffect(() => {
    if (highlightId === undefined || scroller.current === null) return;
    scroller.current.querySelector<HTMLElement>(`[data-message-id="${CSS.escape(highlightId)}"]`)?.scrollIntoView({ block: 'center' });
  }, [highlightId, timeline.length]);

  function onScroll() {
    const element = scroller.current;
    if (element === null) return;
    atBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < BOTTOM_MARGIN_PX;
    if (element.scrollTop < LOAD_OLDER_MARGIN_PX && page?.hasMoreBefore && !page.loading) {
      store.loadOlder(conversationId).catch((error: unknown) => store.fail('Loading older messages', error));
    }
    if (atBottom.current) onSeenBottom();
  }

  const rows: React.ReactNode[] = [];
  let previous: MessageView | undefined;
  for (const message of timeline) {
    const newDay = previous === undefined || formatDay(previous.created_at) !== formatDay(message.created_at);
    if (newDay) {
      rows.push(
        <div key={`day-${message.id}`} className="day-divider" role="separator" aria-label={formatDay(message.created_at)}>
          <span>{formatDay(message.created_at)}</span>
        </div>,
      );
    }
    const isFirstNew = message === firstNew;
    if (isFirstNew) {
      rows.push(
        <div key="new-messages" className="new-divider" role="separator" aria-label="New messages">
          <span>New messages</span>
        </div>,
      );
    }
    rows.push(
      <MessageItem
        key={message.id}
        message={message}
        grouped={!newDay && !isFirstNew && continuesGroup(previous, message)}
        editing={editingId === message.id}
        onEditStart={() => setEditingId(message.id)}
        onEditEnd={() => setEditingId(undefined)}
        highlighted={highlightId === message.id}
      />,
    );
    previous = message;
  }
  let previousPending: OutboxEntry | undefined;
  for (const item of pending) {
    const grouped = previousPending !== undefined || (previous?.author_id === me && !previous.deleted);
    rows.push(<PendingItem key={item.clientMsgId} entry={item} grouped={grouped} />);
    previousPending = item;
  }

  return (
    <div className="message-scroller" ref={scroller} onScroll={onScroll}>
      <div className="message-list" role="log" aria-label={`Messages in ${title}`} aria-busy={page?.loading ?? true}>
        {page !== undefined && !page.hasMoreBefore && (
          <div className="history-start">
            <p className="history-title">{title}</p>
            <p className="muted">This is the very beginning of {title}.</p>
          </div>
        )}
        {page?.loading && <p className="muted loading-older">Loading messages…</p>}
        {rows}
      </div>
    </div>
  );
}
