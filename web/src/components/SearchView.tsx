import { useEffect, useState, type FormEvent } from 'react';
import { ApiError } from '../../../src/client/api.js';
import { useStore } from '../app/hooks.js';
import { navigate, paths } from '../app/routes.js';
import { useUi } from '../app/ui-context.js';
import { formatFull, formatTime } from '../lib/names.js';
import { hasTerm, snippetParts, toggleTerm } from '../lib/search.js';
import { MenuButton } from './ConversationView.js';
import { Avatar } from './MessageItem.js';

/** One message result of GET /api/teams/{teamId}/search (docs/search.md). */
interface SearchResult {
  message: { id: string; conversation_id: string; author_id: string; text: string; thread_root_id: string | null; created_at: string };
  conversation: { id: string; team_id: string; kind: string; name: string | null };
  author: { id: string; username: string; display_name: string };
  highlights: Array<{ offset: number; length: number }>;
  thread_root: { id: string } | null;
}

interface SearchPage {
  results: SearchResult[];
  next_cursor: string | null;
  total: number | null;
  total_capped: boolean;
}

/** Filter chips: each adds or removes one operator of the query language. */
const CHIPS = [
  { label: 'From me', term: 'from:me' },
  { label: 'Mentions me', term: 'mentions:me' },
  { label: 'Has a file', term: 'has:file' },
  { label: 'Has a link', term: 'has:link' },
  { label: 'Has reactions', term: 'has:reaction' },
  { label: 'In threads', term: 'is:thread' },
  { label: 'Today', term: 'on:today' },
] as const;

/** Searches the team's messages with the query language of docs/search.md and jumps to a result in its conversation or thread. */
export function SearchView({ query, sort, onMenu }: { query: string; sort: 'relevance' | 'date'; onMenu: () => void }) {
  const store = useStore();
  const ui = useUi();
  const [draft, setDraft] = useState(query);
  const [page, setPage] = useState<SearchPage | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [loading, setLoading] = useState(false);

  useEffect(() => setDraft(query), [query]);

  useEffect(() => {
    setPage(undefined);
    setError(undefined);
    if (query.trim() === '') return undefined;
    let current = true;
    setLoading(true);
    store
      .search(ui.teamId, query, sort)
      .then((result) => current && setPage(result as SearchPage))
      .catch((failure: unknown) => current && setError(searchError(failure)))
      .finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
  }, [store, ui.teamId, query, sort]);

  function submit(event: FormEvent) {
    event.preventDefault();
    navigate(paths.search(ui.teamId, draft.trim(), sort));
  }

  async function loadMore() {
    if (page?.next_cursor == null) return;
    setLoading(true);
    try {
      const next = (await store.search(ui.teamId, query, sort, page.next_cursor)) as SearchPage;
      setPage({ ...next, results: [...page.results, ...next.results], total: page.total });
    } catch (failure) {
      setError(searchError(failure));
    } finally {
      setLoading(false);
    }
  }

  function open(result: SearchResult) {
    const rootId = result.message.thread_root_id;
    if (rootId === null) {
      ui.openConversation(result.conversation.id, result.message.id);
      return;
    }
    // A reply shows in its thread, beside the conversation scrolled to the thread's root.
    ui.openConversation(result.conversation.id, rootId);
    ui.openThread(rootId, result.message.id);
  }

  return (
    <section className="conversation search-view" aria-label="Search">
      <header className="conversation-header">
        <MenuButton onMenu={onMenu} />
        <form className="search-form" role="search" onSubmit={submit}>
          <input type="search" aria-label="Search messages" placeholder="Search, e.g. deploy from:@ada in:#ops" value={draft} onChange={(event) => setDraft(event.target.value)} />
          <select aria-label="Sort results" value={sort} onChange={(event) => navigate(paths.search(ui.teamId, query, event.target.value === 'date' ? 'date' : 'relevance'))}>
            <option value="relevance">Most relevant</option>
            <option value="date">Newest first</option>
          </select>
        </form>
      </header>
      <div className="search-chips" role="group" aria-label="Filters">
        {CHIPS.map((chip) => {
          const active = hasTerm(query, chip.term);
          return (
            <button key={chip.term} type="button" className={active ? 'chip active' : 'chip'} aria-pressed={active} onClick={() => navigate(paths.search(ui.teamId, toggleTerm(query, chip.term), sort))}>
              {chip.label}
            </button>
          );
        })}
      </div>
      <div className="message-scroller">
        {error !== undefined && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        {query.trim() === '' && <p className="muted search-help">Words match in any form (deploy finds deploying). Use "quotes" for a phrase, -word to exclude, from:@name, in:#channel, has:file, is:thread, before:, after: or on: a date.</p>}
        {page !== undefined && (
          <p className="muted small" role="status">
            {page.total === null ? '' : `${page.total}${page.total_capped ? '+' : ''} ${page.total === 1 ? 'result' : 'results'}`}
          </p>
        )}
        <ul className="card-list search-results" aria-label="Search results">
          {page?.results.map((result) => (
            <li key={result.message.id} className="message-card">
              <button type="button" onClick={() => open(result)} data-message-id={result.message.id}>
                <Avatar userId={result.author.id} name={result.author.display_name} size={28} />
                <span className="card-text">
                  <span className="card-meta">
                    <strong>{result.author.display_name}</strong>
                    <span className="muted"> in {result.conversation.name === null ? 'a direct message' : `#${result.conversation.name}`}</span>
                    {result.message.thread_root_id !== null && <span className="muted"> (thread reply)</span>}
                    <time className="muted" dateTime={result.message.created_at} title={formatFull(result.message.created_at)}>
                      {' '}
                      {formatTime(result.message.created_at)}
                    </time>
                  </span>
                  <span className="card-preview">
                    {snippetParts(result.message.text, result.highlights).map((part, index) => (part.match ? <mark key={index}>{part.text}</mark> : part.text))}
                  </span>
                </span>
              </button>
            </li>
          ))}
        </ul>
        {page !== undefined && page.results.length === 0 && <p className="muted">No messages match.</p>}
        {page?.next_cursor != null && (
          <button type="button" onClick={() => void loadMore()} disabled={loading}>
            More results
          </button>
        )}
        {loading && <p className="muted small">Searching…</p>}
      </div>
    </section>
  );
}

/** Returns the message for a failed search, naming the offending term of an invalid query. */
function searchError(failure: unknown): string {
  if (!(failure instanceof ApiError)) return 'The search failed: no response from the server.';
  const body = failure.body as { error?: { message?: string; term?: string } } | undefined;
  return `The search failed: ${body?.error?.message ?? failure.code}`;
}
