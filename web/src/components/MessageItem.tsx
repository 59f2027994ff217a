import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { MessageView } from '../../../src/client/state.js';
import { useStore } from '../app/hooks.js';
import { useUi } from '../app/ui-context.js';
import { loadEmoji, QUICK_REACTIONS, replaceShortcodes, searchEmoji } from '../lib/emoji.js';
import { renderMarkdown } from '../lib/markdown.js';
import { avatarHue, channelNamesOf, displayName, formatFull, formatTime, initials } from '../lib/names.js';
import type { OutboxEntry } from '../lib/outbox.js';
import { Modal } from './Dialogs.js';
import { FilePreviews } from './Files.js';
import { Icon } from './Icon.js';

export function Avatar({ userId, name, size = 36 }: { userId: string; name: string; size?: number }) {
  return (
    <span className="avatar" aria-hidden="true" style={{ width: size, height: size, backgroundColor: `hsl(${avatarHue(userId)} 45% 42%)` }}>
      {initials(name)}
    </span>
  );
}

interface MessageItemProps {
  message: MessageView;
  /** True when the message continues a run by the same author, which hides its name and avatar. */
  grouped: boolean;
  /** True inside the thread panel, where thread summaries and "reply" make no sense. */
  inThread?: boolean;
  editing: boolean;
  onEditEnd: () => void;
  onEditStart: () => void;
  highlighted?: boolean;
}

/** Renders one message: author, time, body, reactions, thread summary and the actions on it. */
export function MessageItem({ message, grouped, inThread = false, editing, onEditEnd, onEditStart, highlighted = false }: MessageItemProps) {
  const store = useStore();
  const ui = useUi();
  const [picker, setPicker] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const state = store.state!;
  const teamId = state.conversations[message.conversation_id]?.conversation.team_id ?? ui.teamId;
  // A bot post may name itself, as Slack shows a webhook's `username`.
  const author = message.bot_profile?.username ?? displayName(store, teamId, message.author_id);
  const mine = message.author_id === state.me.id;
  const pinned = state.conversations[message.conversation_id]?.pins.some((pin) => pin.message_id === message.id) ?? false;
  const saved = state.saved[message.id] !== undefined;
  const mentionsMe = message.entities.mentions.some((mention) => mention.user_id === state.me.id || mention.type === 'channel' || mention.type === 'team');

  const channelNames = channelNamesOf(store, teamId);

  const body = useMemo(
    () => renderMarkdown(message.text, message.entities, { myId: state.me.id, channelNames, openChannel: ui.openChannelByName }),
    [message.text, message.entities, state.me.id, channelNames, ui.openChannelByName],
  );

  const classes = ['message', grouped ? 'grouped' : '', mentionsMe && !mine ? 'mentions-me' : '', highlighted ? 'highlighted' : '', pinned ? 'pinned' : ''].join(' ');
  return (
    <article className={classes} data-message-id={message.id} aria-label={`${author}, ${formatTime(message.created_at)}`} tabIndex={-1}>
      <div className="message-gutter">{grouped ? <span className="hover-time">{formatTime(message.created_at)}</span> : <Avatar userId={message.author_id} name={author} />}</div>
      <div className="message-main">
        {!grouped && (
          <div className="message-meta">
            <span className="author">{author}</span>
            <time dateTime={message.created_at} title={formatFull(message.created_at)}>
              {formatTime(message.created_at)}
            </time>
            {message.subtype === 'bot_message' && <span className="tag">Bot</span>}
            {pinned && <span className="tag">Pinned</span>}
          </div>
        )}
        {message.thread_root_id !== null && !inThread && (
          <button type="button" className="link small" onClick={() => ui.openThread(message.thread_root_id!)}>
            replied to a thread
          </button>
        )}
        {message.deleted ? (
          <p className="deleted">This message was deleted.</p>
        ) : editing ? (
          <EditBox message={message} onDone={onEditEnd} />
        ) : (
          <div className="message-body">
            {body}
            {message.edited_at !== null && (
              <span className="edited" title={`Edited ${formatFull(message.edited_at)}`}>
                (edited)
              </span>
            )}
          </div>
        )}
        {!message.deleted && <FilePreviews files={message.files} />}
        {message.reactions.length > 0 && (
          <div className="reactions" role="group" aria-label="Reactions">
            {message.reactions.map((reaction) => {
              const reacted = reaction.user_ids.includes(state.me.id);
              const names = reaction.user_ids.map((id) => displayName(store, teamId, id)).join(', ');
              return (
                <button
                  key={reaction.emoji}
                  type="button"
                  className={reacted ? 'reaction reacted' : 'reaction'}
                  aria-pressed={reacted}
                  aria-label={`${reaction.shortcode || reaction.emoji}: ${reaction.count}, by ${names}`}
                  title={`${names} reacted with :${reaction.shortcode}:`}
                  onClick={() => void store.toggleReaction(message, reaction.emoji)}
                >
                  <span aria-hidden="true">{reaction.emoji}</span> <span aria-hidden="true">{reaction.count}</span>
                </button>
              );
            })}
            <button type="button" className="reaction add-reaction" aria-label="Add reaction" onClick={() => setPicker(true)}>
              <Icon name="smile" size={15} />
            </button>
          </div>
        )}
        {!inThread && message.thread_root_id === null && message.reply_count > 0 && (
          <button type="button" className="thread-summary" onClick={() => ui.openThread(message.id)}>
            <span className="reply-avatars" aria-hidden="true">
              {message.reply_users.slice(0, 3).map((userId) => (
                <Avatar key={userId} userId={userId} name={displayName(store, teamId, userId)} size={20} />
              ))}
            </span>
            <span className="link">
              {message.reply_count} {message.reply_count === 1 ? 'reply' : 'replies'}
            </span>
            {message.last_reply_at !== null && <span className="muted">Last reply {formatTime(message.last_reply_at)}</span>}
          </button>
        )}
        {picker && <ReactionPicker onPick={(emoji) => void store.toggleReaction(message, emoji)} onClose={() => setPicker(false)} />}
      </div>
      {!message.deleted && !editing && (
        <div className="message-actions" role="toolbar" aria-label="Message actions">
          <button type="button" className="icon-button" aria-label="Add reaction" title="Add reaction" onClick={() => setPicker(true)}>
            <Icon name="smile" />
          </button>
          {!inThread && message.thread_root_id === null && (
            <button type="button" className="icon-button" aria-label="Reply in thread" title="Reply in thread" onClick={() => ui.openThread(message.id)}>
              <Icon name="reply" />
            </button>
          )}
          <button type="button" className="icon-button" aria-label={saved ? 'Remove from saved items' : 'Save'} title={saved ? 'Remove from saved items' : 'Save'} aria-pressed={saved} onClick={() => void store.toggleSaved(message)}>
            <Icon name="star" filled={saved} />
          </button>
          <button type="button" className="icon-button" aria-label={pinned ? 'Unpin' : 'Pin'} title={pinned ? 'Unpin' : 'Pin to the conversation'} aria-pressed={pinned} onClick={() => void store.togglePin(message)}>
            <Icon name="pin" filled={pinned} />
          </button>
          {mine && (
            <>
              <button type="button" className="icon-button" aria-label="Edit" title="Edit" onClick={onEditStart}>
                <Icon name="pencil" />
              </button>
              <button type="button" className="icon-button" aria-label="Delete" title="Delete" onClick={() => setConfirmDelete(true)}>
                <Icon name="trash" />
              </button>
            </>
          )}
        </div>
      )}
      {confirmDelete && (
        <Modal title="Delete message" onClose={() => setConfirmDelete(false)}>
          <p>Delete this message? This cannot be undone.</p>
          <div className="row-end">
            <button type="button" onClick={() => setConfirmDelete(false)}>
              Cancel
            </button>
            <button
              type="button"
              className="danger"
              onClick={() => {
                setConfirmDelete(false);
                void store.deleteMessage(message.id);
              }}
            >
              Delete
            </button>
          </div>
        </Modal>
      )}
    </article>
  );
}

/** Edits a message in place: Enter saves, Shift+Enter adds a line, Esc cancels. */
function EditBox({ message, onDone }: { message: MessageView; onDone: () => void }) {
  const store = useStore();
  const [text, setText] = useState(message.text);
  const ref = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    const area = ref.current;
    if (area === null) return;
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }, []);

  function save() {
    const next = replaceShortcodes(text).trim();
    onDone();
    if (next !== '' && next !== message.text) void store.editMessage(message.id, next);
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      save();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      onDone();
    }
  }

  return (
    <div className="edit-box">
      <textarea ref={ref} aria-label="Edit message" value={text} onChange={(event) => setText(event.target.value)} onKeyDown={onKeyDown} rows={2} />
      <div className="row-end small">
        <span className="muted">Esc to cancel, Enter to save</span>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="button" className="primary" onClick={save}>
          Save
        </button>
      </div>
    </div>
  );
}

/** Renders a small emoji picker: frequent reactions, and a search by shortcode. */
export function ReactionPicker({ onPick, onClose }: { onPick: (emoji: string) => void; onClose: () => void }) {
  const [query, setQuery] = useState('');
  const [, setLoaded] = useState(false);
  useEffect(() => {
    void loadEmoji().then(() => setLoaded(true));
  }, []);
  const results = query.trim() === '' ? QUICK_REACTIONS : searchEmoji(query.trim().replace(/^:|:$/g, ''), 24);

  function pick(shortcode: string) {
    onPick(shortcode);
    onClose();
  }

  return (
    <Modal title="Add reaction" onClose={onClose} className="reaction-picker">
      <input aria-label="Search emoji" placeholder="Search, e.g. tada" value={query} onChange={(event) => setQuery(event.target.value)} />
      <div className="emoji-grid" role="group" aria-label="Emoji">
        {results.map((entry) => (
          <button key={entry.shortcode} type="button" className="emoji-button" aria-label={entry.shortcode} title={`:${entry.shortcode}:`} onClick={() => pick(entry.shortcode)}>
            {entry.emoji}
          </button>
        ))}
      </div>
    </Modal>
  );
}

/** Renders a message the server has not acknowledged, as sending or as failed with Retry and Discard. */
export function PendingItem({ entry, grouped }: { entry: OutboxEntry; grouped: boolean }) {
  const store = useStore();
  const me = store.state!.me;
  return (
    <article className={`message pending ${grouped ? 'grouped' : ''} ${entry.status}`} aria-label={`${me.display_name}, ${entry.status === 'failed' ? 'not sent' : 'sending'}`}>
      <div className="message-gutter">{grouped ? null : <Avatar userId={me.id} name={me.display_name} />}</div>
      <div className="message-main">
        {!grouped && (
          <div className="message-meta">
            <span className="author">{me.display_name}</span>
          </div>
        )}
        <div className="message-body">
          {entry.text !== '' && <p className="pending-text">{entry.text}</p>}
          {entry.files.length > 0 && <p className="muted small">{entry.files.map((file) => file.name).join(', ')}</p>}
        </div>
        {entry.status === 'failed' ? (
          <p className="send-error" role="alert">
            Not sent: {entry.error}.{' '}
            <button type="button" className="link" onClick={() => store.outbox.retry(entry.clientMsgId)}>
              Retry
            </button>{' '}
            <button type="button" className="link" onClick={() => store.outbox.discard(entry.clientMsgId)}>
              Discard
            </button>
          </p>
        ) : (
          <p className="muted small">Sending…</p>
        )}
      </div>
    </article>
  );
}
