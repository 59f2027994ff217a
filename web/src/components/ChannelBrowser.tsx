import { useState } from 'react';
import { useStore } from '../app/hooks.js';
import { useUi } from '../app/ui-context.js';
import { MenuButton } from './ConversationView.js';
import { CreateChannelDialog } from './Dialogs.js';

/** The team's public channels, to open the joined ones and join the others. */
export function ChannelBrowser({ onMenu }: { onMenu: () => void }) {
  const store = useStore();
  const ui = useUi();
  const [query, setQuery] = useState('');
  const [creating, setCreating] = useState(false);
  const state = store.state!;
  const channels = Object.values(state.teams[ui.teamId]?.directory ?? {})
    .filter((conversation) => (conversation.name ?? '').includes(query.trim().toLowerCase().replace(/^#/, '')))
    .sort((a, b) => Number(a.archived) - Number(b.archived) || (a.name ?? '').localeCompare(b.name ?? ''));

  return (
    <section className="conversation" aria-label="Channel browser">
      <header className="conversation-header">
        <MenuButton onMenu={onMenu} />
        <h2>Channels</h2>
        <div className="header-actions">
          <button type="button" className="primary small" onClick={() => setCreating(true)}>
            Create channel
          </button>
        </div>
      </header>
      <div className="list-view">
        <input className="search-input" aria-label="Filter channels" placeholder="Filter by name" value={query} onChange={(event) => setQuery(event.target.value)} />
        <ul className="channel-directory" aria-label="Public channels">
          {channels.map((conversation) => {
            const joined = state.conversations[conversation.id] !== undefined;
            return (
              <li key={conversation.id}>
                <div>
                  <strong>#{conversation.name}</strong>
                  {conversation.archived && <span className="tag">Archived</span>}
                  {(conversation.purpose || conversation.topic) && <p className="muted small">{conversation.purpose || conversation.topic}</p>}
                </div>
                {joined ? (
                  <button type="button" onClick={() => ui.openConversation(conversation.id)}>
                    Open
                  </button>
                ) : (
                  <button type="button" className="primary" disabled={conversation.archived} aria-label={`Join #${conversation.name ?? ''}`} onClick={() => ui.openChannelByName(conversation.name ?? '')}>
                    Join
                  </button>
                )}
              </li>
            );
          })}
          {channels.length === 0 && <li className="muted">No channel matches.</li>}
        </ul>
        <p className="muted small">Private channels are not listed: a member has to add you.</p>
      </div>
      {creating && <CreateChannelDialog onClose={() => setCreating(false)} />}
    </section>
  );
}
