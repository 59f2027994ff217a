import { useState } from 'react';
import { useStore } from '../app/hooks.js';
import { canAskForNotifications } from '../lib/notifications.js';

const NOTIFICATIONS_DISMISSED_KEY = 'chatterbox.notificationsDismissed';

/** Says that the connection is down while the client reconnects; it catches up by itself afterwards. */
export function OfflineBanner() {
  const store = useStore();
  if (store.status !== 'offline') return null;
  return (
    <div className="offline-banner" role="status" aria-live="polite">
      You are offline. Reconnecting… Messages you send now are kept and sent when the connection is back.
    </div>
  );
}

export function Toasts() {
  const store = useStore();
  return (
    <div className="toasts" role="status" aria-live="polite">
      {store.toasts.map((toast) => (
        <div key={toast.id} className="toast">
          <span>{toast.text}</span>
          <button type="button" aria-label="Dismiss" onClick={() => store.dismissToast(toast.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

/**
 * Offers desktop notifications. The browser's permission prompt opens only
 * when the user clicks, never on load, and "Not now" hides the offer on this
 * browser (the sidebar keeps a button to turn them on later).
 */
export function NotificationBanner() {
  const store = useStore();
  // Read once: the banner renders on every event, and reading Notification.permission each time showed in a CPU profile of Chromium.
  const [hidden, setHidden] = useState(() => localStorage.getItem(NOTIFICATIONS_DISMISSED_KEY) !== null || !canAskForNotifications());
  if (hidden) return null;
  return (
    <div className="notification-banner" role="region" aria-label="Desktop notifications">
      <span>Get a desktop notification for mentions and direct messages, even when this tab is closed.</span>
      <button
        type="button"
        className="primary"
        onClick={() => {
          void store.enableNotifications().finally(() => setHidden(true));
        }}
      >
        Turn on notifications
      </button>
      <button
        type="button"
        className="link"
        onClick={() => {
          localStorage.setItem(NOTIFICATIONS_DISMISSED_KEY, new Date().toISOString());
          setHidden(true);
        }}
      >
        Not now
      </button>
    </div>
  );
}
