import { useSyncExternalStore } from 'react';
import { store } from '../lib/store.js';

/**
 * Re-renders the component on every store change. The shared reducer changes
 * objects in place, so components read the store afresh on each render
 * instead of comparing references.
 */
export function useStore(): typeof store {
  useSyncExternalStore(store.subscribe, store.getVersion);
  return store;
}

const THEME_KEY = 'chatterbox.theme';

export type Theme = 'light' | 'dark';

/** Returns the theme the user chose, else the system's. */
export function initialTheme(): Theme {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(theme: Theme, remember: boolean): void {
  document.documentElement.dataset.theme = theme;
  if (remember) localStorage.setItem(THEME_KEY, theme);
}
