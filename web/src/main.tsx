import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App.js';
import { applyTheme, initialTheme } from './app/hooks.js';
import './styles.css';

// The theme is set before the first render so the page does not flash in the other one.
applyTheme(initialTheme(), false);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
