import { useStore } from '../app/hooks.js';

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
