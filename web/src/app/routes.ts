import { useSyncExternalStore } from 'react';

/**
 * The client's URLs. The server returns the page for each of their prefixes
 * (CLIENT_ROUTE_PREFIXES in src/web/static.ts), so any of them can be
 * reloaded or shared.
 */
export type Route =
  | { name: 'home' }
  | { name: 'login' }
  | { name: 'register' }
  | { name: 'teams' }
  | { name: 'team'; teamId: string }
  | { name: 'conversation'; teamId: string; conversationId: string; messageId: string | undefined }
  | { name: 'threads'; teamId: string }
  | { name: 'saved'; teamId: string }
  | { name: 'channels'; teamId: string }
  | { name: 'search'; teamId: string; query: string; sort: 'relevance' | 'date' };

export function parseRoute(pathname: string, search: string): Route {
  const parts = pathname.split('/').filter((part) => part !== '').map(decodeURIComponent);
  if (parts.length === 0) return { name: 'home' };
  if (parts[0] === 'login') return { name: 'login' };
  if (parts[0] === 'register') return { name: 'register' };
  if (parts[0] === 't' && parts[1] !== undefined) {
    const teamId = parts[1];
    if (parts[2] === 'c' && parts[3] !== undefined) {
      const messageId = new URLSearchParams(search).get('message') ?? undefined;
      return { name: 'conversation', teamId, conversationId: parts[3], messageId };
    }
    if (parts[2] === 'threads') return { name: 'threads', teamId };
    if (parts[2] === 'saved') return { name: 'saved', teamId };
    if (parts[2] === 'channels') return { name: 'channels', teamId };
    if (parts[2] === 'search') {
      const params = new URLSearchParams(search);
      return { name: 'search', teamId, query: params.get('q') ?? '', sort: params.get('sort') === 'date' ? 'date' : 'relevance' };
    }
    return { name: 'team', teamId };
  }
  return { name: 'teams' };
}

export const paths = {
  home: () => '/',
  login: () => '/login',
  register: () => '/register',
  teams: () => '/teams',
  team: (teamId: string) => `/t/${teamId}`,
  conversation: (teamId: string, conversationId: string, messageId?: string) =>
    `/t/${teamId}/c/${conversationId}${messageId === undefined ? '' : `?message=${encodeURIComponent(messageId)}`}`,
  threads: (teamId: string) => `/t/${teamId}/threads`,
  saved: (teamId: string) => `/t/${teamId}/saved`,
  channels: (teamId: string) => `/t/${teamId}/channels`,
  search: (teamId: string, query: string, sort: 'relevance' | 'date' = 'relevance') =>
    `/t/${teamId}/search?q=${encodeURIComponent(query)}${sort === 'date' ? '&sort=date' : ''}`,
};

const listeners = new Set<() => void>();
let current = `${window.location.pathname}${window.location.search}`;

window.addEventListener('popstate', () => {
  current = `${window.location.pathname}${window.location.search}`;
  for (const listener of listeners) listener();
});

export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (path === current) return;
  if (options.replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  current = path;
  for (const listener of listeners) listener();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useRoute(): Route {
  const path = useSyncExternalStore(subscribe, () => current);
  const url = new URL(path, window.location.origin);
  return parseRoute(url.pathname, url.search);
}

export const LAST_TEAM_KEY = 'chatterbox.lastTeam';

/** Remembers the team opened last, which the next visit to / opens. */
export function rememberTeam(teamId: string): void {
  localStorage.setItem(LAST_TEAM_KEY, teamId);
}
