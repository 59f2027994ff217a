import { useEffect, useId, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { ApiError } from '../../../src/client/api.js';
import type { ConversationState } from '../../../src/client/state.js';
import { useStore } from '../app/hooks.js';
import { useUi } from '../app/ui-context.js';
import { conversationTitle, isDirect } from '../lib/names.js';
import { errorText } from './AuthScreen.js';
import { Icon } from './Icon.js';

/** Renders a modal dialog labelled by its title. Esc or a click outside closes it, and focus returns to where it was. */
export function Modal({ title, onClose, children, className }: { title: string; onClose: () => void; children: ReactNode; className?: string }) {
  const titleId = useId();
  const dialogRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const first = dialogRef.current?.querySelector<HTMLElement>('input, textarea, select, button:not(.modal-close)');
    first?.focus();
    return () => previous?.focus();
  }, []);

  return (
    <div className="modal-backdrop" onMouseDown={(event) => event.target === event.currentTarget && onClose()}>
      <div
        ref={dialogRef}
        className={`modal ${className ?? ''}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        onKeyDown={(event) => {
          if (event.key === 'Escape') {
            event.stopPropagation();
            onClose();
          }
        }}
      >
        <div className="modal-header">
          <h2 id={titleId}>{title}</h2>
          <button type="button" className="icon-button modal-close" aria-label="Close" onClick={onClose}>
            <Icon name="close" />
          </button>
        </div>
        {children}
      </div>
    </div>
  );
}

function useSubmit(onDone: () => void) {
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  async function run(work: () => Promise<void>) {
    setBusy(true);
    setError(undefined);
    try {
      await work();
      onDone();
    } catch (caught) {
      setError(caught instanceof ApiError ? errorText(caught) : 'No response from the server. Check the connection and try again.');
    } finally {
      setBusy(false);
    }
  }
  return { error, busy, run };
}

function FormError({ error }: { error: string | undefined }) {
  if (error === undefined) return null;
  return (
    <p role="alert" className="form-error">
      {error}
    </p>
  );
}

export function CreateChannelDialog({ onClose }: { onClose: () => void }) {
  const store = useStore();
  const ui = useUi();
  const { error, busy, run } = useSubmit(onClose);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const name = String(form.get('name') ?? '').trim();
    const purpose = String(form.get('purpose') ?? '').trim();
    const isPrivate = form.get('private') === 'on';
    void run(async () => {
      const id = await store.createChannel(ui.teamId, name, isPrivate, purpose);
      await store.waitForConversation(id);
      ui.openConversation(id);
    });
  }

  return (
    <Modal title="Create a channel" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <label>
          Name
          <input name="name" required maxLength={80} placeholder="e.g. plan-budget" pattern="[\p{Ll}\p{N}_\-]+" title="Lowercase letters, digits, hyphens and underscores" />
        </label>
        <label>
          Purpose <span className="muted">(optional)</span>
          <input name="purpose" maxLength={250} />
        </label>
        <label className="checkbox">
          <input type="checkbox" name="private" />
          Private: only people invited can see it
        </label>
        <FormError error={error} />
        <button type="submit" className="primary" disabled={busy}>
          Create
        </button>
      </form>
    </Modal>
  );
}

/** Adds a person to the team by username. */
export function InviteDialog({ onClose }: { onClose: () => void }) {
  const store = useStore();
  const ui = useUi();
  const [done, setDone] = useState<string | undefined>();
  const { error, busy, run } = useSubmit(() => undefined);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const input = event.currentTarget.elements.namedItem('username') as HTMLInputElement;
    const username = input.value.trim().replace(/^@/, '');
    setDone(undefined);
    void run(async () => {
      await store.inviteToTeam(ui.teamId, username);
      setDone(`${username} is now in ${store.state?.teams[ui.teamId]?.name ?? 'the team'}.`);
      input.value = '';
    });
  }

  return (
    <Modal title="Invite people" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <label>
          Username
          <input name="username" required maxLength={64} autoComplete="off" />
        </label>
        <FormError error={error} />
        {done !== undefined && <p role="status">{done}</p>}
        <button type="submit" className="primary" disabled={busy}>
          Invite
        </button>
      </form>
    </Modal>
  );
}

/** Opens a direct message with one teammate, or a group message with several. */
export function NewDirectDialog({ onClose }: { onClose: () => void }) {
  const store = useStore();
  const ui = useUi();
  const [query, setQuery] = useState('');
  const [picked, setPicked] = useState<string[]>([]);
  const { error, busy, run } = useSubmit(onClose);
  const me = store.state?.me.id;
  const members = Object.values(store.state?.teams[ui.teamId]?.members ?? {})
    .map((member) => member.user)
    .filter((user) => user.id !== me && !picked.includes(user.id))
    .filter((user) => `${user.username} ${user.display_name}`.toLowerCase().includes(query.toLowerCase()))
    .slice(0, 8);

  return (
    <Modal title="New message" onClose={onClose}>
      <div className="stack">
        <label>
          To
          <input value={query} onChange={(event) => setQuery(event.target.value)} placeholder="Type a name" autoComplete="off" />
        </label>
        {picked.length > 0 && (
          <ul className="chips" aria-label="Recipients">
            {picked.map((id) => (
              <li key={id}>
                {store.state?.teams[ui.teamId]?.members[id]?.user.display_name}
                <button type="button" aria-label={`Remove ${store.state?.teams[ui.teamId]?.members[id]?.user.display_name ?? ''}`} onClick={() => setPicked(picked.filter((other) => other !== id))}>
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
        <ul className="pick-list" aria-label="Teammates">
          {members.map((user) => (
            <li key={user.id}>
              <button
                type="button"
                onClick={() => {
                  setPicked([...picked, user.id]);
                  setQuery('');
                }}
              >
                {user.display_name} <span className="muted">@{user.username}</span>
              </button>
            </li>
          ))}
        </ul>
        <FormError error={error} />
        <button
          type="button"
          className="primary"
          disabled={busy || picked.length === 0}
          onClick={() =>
            void run(async () => {
              const id = await store.openDirect(ui.teamId, picked);
              await store.waitForConversation(id);
              ui.openConversation(id);
            })
          }
        >
          Open conversation
        </button>
      </div>
    </Modal>
  );
}

/** Adds teammates to the current channel. */
export function AddMembersDialog({ conversationId, onClose }: { conversationId: string; onClose: () => void }) {
  const store = useStore();
  const ui = useUi();
  const { error, busy, run } = useSubmit(onClose);
  const entry = store.state?.conversations[conversationId];
  const candidates = Object.values(store.state?.teams[ui.teamId]?.members ?? {})
    .map((member) => member.user)
    .filter((user) => !(entry?.memberIds ?? []).includes(user.id));
  const [selected, setSelected] = useState<string[]>([]);

  return (
    <Modal title={`Add people to ${entry === undefined ? 'the channel' : conversationTitle(store, entry)}`} onClose={onClose}>
      <div className="stack">
        {candidates.length === 0 ? (
          <p className="muted">Everyone in the team is already here.</p>
        ) : (
          <fieldset className="pick-list">
            <legend>Teammates</legend>
            {candidates.map((user) => (
              <label key={user.id} className="checkbox">
                <input
                  type="checkbox"
                  checked={selected.includes(user.id)}
                  onChange={(event) => setSelected(event.target.checked ? [...selected, user.id] : selected.filter((id) => id !== user.id))}
                />
                {user.display_name} <span className="muted">@{user.username}</span>
              </label>
            ))}
          </fieldset>
        )}
        <FormError error={error} />
        <button type="button" className="primary" disabled={busy || selected.length === 0} onClick={() => void run(() => store.inviteToConversation(conversationId, selected))}>
          Add
        </button>
      </div>
    </Modal>
  );
}

function kindLabel(entry: ConversationState): string {
  if (isDirect(entry)) return 'Direct message';
  return entry.conversation.kind === 'private' ? 'Private channel' : 'Channel';
}

interface SwitcherItem {
  id: string;
  title: string;
  detail: string;
  unread: boolean;
  joined: boolean;
}

/** Ctrl+K: finds a conversation by name and opens it. */
export function QuickSwitcher({ onClose }: { onClose: () => void }) {
  const store = useStore();
  const ui = useUi();
  const [query, setQuery] = useState('');
  const [active, setActive] = useState(0);
  const listId = useId();

  const items = useMemo<SwitcherItem[]>(() => {
    const state = store.state;
    if (state === undefined) return [];
    const joined: SwitcherItem[] = Object.values(state.conversations)
      .filter((entry) => entry.conversation.team_id === ui.teamId && !entry.conversation.archived)
      .map((entry) => ({
        id: entry.conversation.id,
        title: conversationTitle(store, entry),
        detail: kindLabel(entry),
        unread: entry.unreadCount > 0,
        joined: true,
      }));
    const others: SwitcherItem[] = Object.values(state.teams[ui.teamId]?.directory ?? {})
      .filter((conversation) => state.conversations[conversation.id] === undefined && !conversation.archived)
      .map((conversation) => ({ id: conversation.id, title: `#${conversation.name ?? ''}`, detail: 'Channel you are not in', unread: false, joined: false }));
    const needle = query.trim().toLowerCase().replace(/^#/, '');
    return [...joined, ...others]
      .filter((item) => item.title.toLowerCase().replace(/^#/, '').includes(needle))
      .sort((a, b) => Number(b.unread) - Number(a.unread) || Number(b.joined) - Number(a.joined) || a.title.localeCompare(b.title))
      .slice(0, 12);
  }, [store, store.getVersion(), ui.teamId, query]);

  function choose(item: SwitcherItem | undefined) {
    if (item === undefined) return;
    onClose();
    if (item.joined) ui.openConversation(item.id);
    else ui.openChannelByName(item.title.slice(1));
  }

  return (
    <Modal title="Switch to a conversation" onClose={onClose} className="switcher">
      <input
        role="combobox"
        aria-label="Conversation name"
        aria-expanded="true"
        aria-controls={listId}
        aria-activedescendant={items[active] === undefined ? undefined : `${listId}-${active}`}
        value={query}
        placeholder="Where to?"
        onChange={(event) => {
          setQuery(event.target.value);
          setActive(0);
        }}
        onKeyDown={(event) => {
          if (event.key === 'ArrowDown') {
            event.preventDefault();
            setActive((value) => Math.min(value + 1, items.length - 1));
          } else if (event.key === 'ArrowUp') {
            event.preventDefault();
            setActive((value) => Math.max(value - 1, 0));
          } else if (event.key === 'Enter') {
            event.preventDefault();
            choose(items[active]);
          }
        }}
      />
      <ul id={listId} role="listbox" aria-label="Conversations" className="switcher-list">
        {items.map((item, index) => (
          <li
            key={item.id}
            id={`${listId}-${index}`}
            role="option"
            aria-selected={index === active}
            className={index === active ? 'active' : undefined}
            onMouseDown={(event) => {
              event.preventDefault();
              choose(item);
            }}
          >
            <span className={item.unread ? 'unread' : undefined}>{item.title}</span>
            <span className="muted">{item.detail}</span>
          </li>
        ))}
        {items.length === 0 && <li className="muted">No conversation matches.</li>}
      </ul>
    </Modal>
  );
}
