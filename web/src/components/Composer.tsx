import { useEffect, useId, useLayoutEffect, useRef, useState, type ClipboardEvent, type DragEvent, type KeyboardEvent } from 'react';
import { useStore } from '../app/hooks.js';
import { loadEmoji, replaceShortcodes, searchEmoji } from '../lib/emoji.js';
import { draftKey as attachmentKey, type ChatStore } from '../lib/store.js';
import { AttachmentList } from './Files.js';
import { Icon } from './Icon.js';

/** Unsent text per conversation and thread, kept while the user looks elsewhere. */
const drafts = new Map<string, string>();

interface Suggestion {
  key: string;
  label: string;
  detail: string;
  /** Text that replaces the typed token. */
  insert: string;
}

interface Token {
  trigger: '@' | '#' | ':';
  query: string;
  start: number;
  end: number;
}

/** Finds the @mention, #channel or :emoji token that ends at the caret. */
export function tokenAt(text: string, caret: number): Token | undefined {
  const before = text.slice(0, caret);
  const match = /(^|[\s([{])([@#:])([\p{L}\p{N}._+-]*)$/u.exec(before);
  if (match === null) return undefined;
  const trigger = match[2] as Token['trigger'];
  const query = match[3]!;
  if (trigger === ':' && query.length < 2) return undefined;
  return { trigger, query, start: caret - query.length - 1, end: caret };
}

const BROADCASTS = [
  { name: 'channel', detail: 'Notify everyone in this conversation' },
  { name: 'here', detail: 'Notify everyone online' },
  { name: 'team', detail: 'Notify everyone in this conversation' },
];

function suggestionsFor(store: ChatStore, teamId: string, conversationId: string, token: Token): Suggestion[] {
  const state = store.state;
  if (state === undefined) return [];
  const needle = token.query.toLowerCase();
  if (token.trigger === '@') {
    const members = state.conversations[conversationId]?.memberIds ?? [];
    const users = Object.values(state.teams[teamId]?.members ?? {})
      .map((member) => member.user)
      .filter((user) => user.username.toLowerCase().startsWith(needle) || user.display_name.toLowerCase().includes(needle))
      // Members of the conversation first: a mention of anyone else reaches nobody.
      .sort((a, b) => Number(members.includes(b.id)) - Number(members.includes(a.id)) || a.username.localeCompare(b.username))
      .slice(0, 8)
      .map((user) => ({
        key: user.id,
        label: `@${user.username}`,
        detail: members.includes(user.id) ? user.display_name : `${user.display_name} (not in this conversation)`,
        insert: `@${user.username} `,
      }));
    const broadcasts = BROADCASTS.filter((item) => item.name.startsWith(needle)).map((item) => ({ key: item.name, label: `@${item.name}`, detail: item.detail, insert: `@${item.name} ` }));
    return [...users, ...broadcasts].slice(0, 8);
  }
  if (token.trigger === '#') {
    const names = new Set<string>();
    for (const entry of Object.values(state.conversations)) {
      if (entry.conversation.team_id === teamId && entry.conversation.name !== null) names.add(entry.conversation.name);
    }
    for (const conversation of Object.values(state.teams[teamId]?.directory ?? {})) if (conversation.name !== null) names.add(conversation.name);
    return [...names]
      .filter((name) => name.includes(needle))
      .sort((a, b) => Number(b.startsWith(needle)) - Number(a.startsWith(needle)) || a.localeCompare(b))
      .slice(0, 8)
      .map((name) => ({ key: name, label: `#${name}`, detail: '', insert: `#${name} ` }));
  }
  return searchEmoji(token.query).map((entry) => ({ key: entry.shortcode, label: entry.emoji, detail: `:${entry.shortcode}:`, insert: `${entry.emoji} ` }));
}

interface ComposerProps {
  teamId: string;
  conversationId: string;
  threadRootId?: string;
  label: string;
  placeholder: string;
  disabled?: boolean;
  /** Up arrow in an empty composer edits the user's latest message. */
  onEditLast?: () => void;
  /** The name of the channel, for the "also send to" option of a thread reply. */
  channelTitle?: string;
}

/**
 * Renders the message box. Enter sends, Shift+Enter starts a new line, @, # and :
 * open suggestions, and the up arrow edits the last message. A sent message
 * shows at once and goes through the store's outbox.
 */
export function Composer({ teamId, conversationId, threadRootId, label, placeholder, disabled = false, onEditLast, channelTitle }: ComposerProps) {
  const store = useStore();
  const draftKey = `${conversationId}/${threadRootId ?? ''}`;
  const [text, setTextState] = useState(() => drafts.get(draftKey) ?? '');
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<number | undefined>();
  const [alsoInChannel, setAlsoInChannel] = useState(false);
  const [, setEmojiLoaded] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  /** Caret position to set once a picked suggestion is in the textarea. */
  const pendingCaret = useRef<number | undefined>(undefined);
  const listId = useId();
  const fileInput = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const rootId = threadRootId ?? null;
  const attachments = store.attachments.get(attachmentKey(conversationId, rootId)) ?? [];
  const uploading = attachments.some((attachment) => attachment.status === 'uploading');
  const readyFiles = attachments.filter((attachment) => attachment.status === 'ready').length;

  // Runs in the same task as the key press that picked the suggestion, so no later key press can land before it.
  useLayoutEffect(() => {
    const position = pendingCaret.current;
    if (position === undefined || area.current === null) return;
    pendingCaret.current = undefined;
    area.current.setSelectionRange(position, position);
  }, [text]);

  // Emoji suggestions need the shortcode data; rendering again once it arrives shows them for what is already typed.
  useEffect(() => {
    let mounted = true;
    void loadEmoji().then(() => mounted && setEmojiLoaded(true));
    return () => {
      mounted = false;
    };
  }, []);

  const token = tokenAt(text, caret);
  const suggestions = token === undefined || dismissed === token.start ? [] : suggestionsFor(store, teamId, conversationId, token);
  const open = suggestions.length > 0;

  function setText(value: string) {
    setTextState(value);
    if (value === '') drafts.delete(draftKey);
    else drafts.set(draftKey, value);
  }

  function choose(suggestion: Suggestion | undefined) {
    if (suggestion === undefined || token === undefined) return;
    const next = text.slice(0, token.start) + suggestion.insert + text.slice(token.end);
    const position = token.start + suggestion.insert.length;
    setText(next);
    setActive(0);
    setCaret(position);
    pendingCaret.current = position;
  }

  function send() {
    const message = replaceShortcodes(text).trim();
    // A message waits for its uploads, so it never goes without a file the user attached.
    if ((message === '' && readyFiles === 0) || disabled || uploading) return;
    const files = store.takeAttachments(conversationId, rootId);
    store.send(conversationId, message, rootId, threadRootId !== undefined && alsoInChannel, files);
    setText('');
    setCaret(0);
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.nativeEvent.isComposing) return;
    if (open) {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        const step = event.key === 'ArrowDown' ? 1 : -1;
        setActive((value) => (value + step + suggestions.length) % suggestions.length);
        return;
      }
      if (event.key === 'Enter' || event.key === 'Tab') {
        event.preventDefault();
        choose(suggestions[Math.min(active, suggestions.length - 1)]);
        return;
      }
      if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        setDismissed(token?.start);
        return;
      }
    }
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      send();
    } else if (event.key === 'ArrowUp' && text === '' && onEditLast !== undefined) {
      event.preventDefault();
      onEditLast();
    }
  }

  function attach(files: FileList | null | undefined) {
    if (files === null || files === undefined || files.length === 0 || disabled) return;
    store.attach(conversationId, rootId, [...files]);
  }

  function onPaste(event: ClipboardEvent<HTMLTextAreaElement>) {
    // Pasted files (a screenshot, a copied file) attach; pasted text goes into the box as usual.
    if (event.clipboardData.files.length === 0) return;
    event.preventDefault();
    attach(event.clipboardData.files);
  }

  function onDrop(event: DragEvent<HTMLDivElement>) {
    setDragging(false);
    if (event.dataTransfer.files.length === 0) return;
    event.preventDefault();
    attach(event.dataTransfer.files);
  }

  function onDragOver(event: DragEvent<HTMLDivElement>) {
    if (!event.dataTransfer.types.includes('Files')) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
    setDragging(true);
  }

  return (
    <div className={dragging ? 'composer dragging' : 'composer'} onDrop={onDrop} onDragOver={onDragOver} onDragLeave={() => setDragging(false)}>
      <AttachmentList attachments={attachments} onRemove={(key) => store.removeAttachment(conversationId, rootId, key)} />
      {open && (
        <ul id={listId} role="listbox" className="suggestions" aria-label="Suggestions">
          {suggestions.map((suggestion, index) => (
            <li
              key={suggestion.key}
              id={`${listId}-${index}`}
              role="option"
              aria-selected={index === active}
              className={index === active ? 'active' : undefined}
              onMouseDown={(event) => {
                event.preventDefault();
                choose(suggestion);
              }}
            >
              <span className="suggestion-label">{suggestion.label}</span>
              <span className="muted">{suggestion.detail}</span>
            </li>
          ))}
        </ul>
      )}
      <textarea
        ref={area}
        aria-label={label}
        placeholder={placeholder}
        value={text}
        disabled={disabled}
        rows={1}
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={open}
        aria-controls={open ? listId : undefined}
        aria-activedescendant={open ? `${listId}-${Math.min(active, suggestions.length - 1)}` : undefined}
        onChange={(event) => {
          setText(event.target.value);
          if (event.target.value !== '') store.signals.sendTyping(conversationId, rootId);
          setCaret(event.target.selectionStart);
          setActive(0);
        }}
        onSelect={(event) => setCaret(event.currentTarget.selectionStart)}
        onKeyDown={onKeyDown}
        onPaste={onPaste}
      />
      <input
        ref={fileInput}
        type="file"
        multiple
        hidden
        aria-label="Choose files to attach"
        onChange={(event) => {
          attach(event.target.files);
          event.target.value = '';
        }}
      />
      <div className="composer-footer">
        {threadRootId !== undefined && channelTitle !== undefined ? (
          <label className="checkbox small">
            <input type="checkbox" checked={alsoInChannel} onChange={(event) => setAlsoInChannel(event.target.checked)} />
            Also send to {channelTitle}
          </label>
        ) : (
          <span className="muted small hint">Enter to send, Shift+Enter for a new line</span>
        )}
        <button type="button" className="icon-button attach-button" aria-label="Attach files" title="Attach files (or drop or paste them here)" disabled={disabled} onClick={() => fileInput.current?.click()}>
          <Icon name="paperclip" />
        </button>
        <button type="button" className="primary send-button" aria-label="Send" onClick={send} disabled={disabled || uploading || (text.trim() === '' && readyFiles === 0)}>
          Send
        </button>
      </div>
    </div>
  );
}
