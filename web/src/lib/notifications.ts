import type { ApiClient } from '../../../src/client/api.js';

/** The notification object of a `notification` frame and of a push payload (docs/notifications.md). */
export interface NotificationPayload {
  id: string;
  reason: string;
  team_id: string;
  conversation_id: string;
  conversation_kind: string;
  conversation_name: string | null;
  message_id: string;
  thread_root_id: string | null;
  author: { id: string; username: string; display_name: string };
  preview: string;
}

/** Returns true when the browser can show notifications and the user has not decided yet. */
export function canAskForNotifications(): boolean {
  return typeof Notification !== 'undefined' && Notification.permission === 'default';
}

/** Returns the title a notification shows: the author and, for a channel, its name. */
export function notificationTitle(payload: NotificationPayload): string {
  const author = payload.author.display_name || payload.author.username;
  const direct = payload.conversation_kind === 'dm' || payload.conversation_kind === 'group';
  return direct || payload.conversation_name === null ? author : `${author} in #${payload.conversation_name}`;
}

/**
 * Shows a desktop notification for a `notification` frame, only while the
 * tab is hidden or unfocused: the server already decided that the user
 * wants it (mentions, keywords, direct messages, preferences, mute, do not
 * disturb). The body is plain text, since the Notification API renders no markup.
 * The message id is the tag, so a repeat of the same message replaces the first.
 */
export function showNotification(payload: NotificationPayload, open: (payload: NotificationPayload) => void): void {
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  if (document.visibilityState === 'visible' && document.hasFocus()) return;
  const notification = new Notification(notificationTitle(payload), { body: payload.preview, tag: payload.id });
  notification.onclick = () => {
    window.focus();
    open(payload);
    notification.close();
  };
}

const SERVICE_WORKER_PATH = '/sw.js';

/** Converts a base64url VAPID key into the bytes PushManager.subscribe takes. */
function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(base64url.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(binary.length));
  for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

/**
 * Registers the service worker and a Web Push subscription for the server's
 * VAPID key, then sends the subscription to the server, which pushes to it
 * while no tab of this user is open. Needs notification permission; the
 * server returns 200 for an endpoint it already has, so calling this at
 * every start is safe. Returns the server's subscription id, or undefined
 * where the browser has no Push API.
 */
export async function registerPush(api: ApiClient): Promise<string | undefined> {
  if (!('serviceWorker' in navigator) || typeof PushManager === 'undefined') return undefined;
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return undefined;
  const registration = await navigator.serviceWorker.register(SERVICE_WORKER_PATH, { scope: '/' });
  await navigator.serviceWorker.ready;

  const { public_key: publicKey } = await api.get<{ public_key: string }>('/api/push/vapid-public-key');
  let subscription = await registration.pushManager.getSubscription();
  const current = subscription?.options.applicationServerKey;
  // A subscription made for another key (the server's keys changed) gets no pushes: replace it.
  if (subscription !== null && current !== null && current !== undefined && !sameBytes(new Uint8Array(current), keyBytes(publicKey))) {
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });

  const json = subscription.toJSON();
  const registered = await api.post<{ id: string }>('/api/push/subscriptions', {
    endpoint: subscription.endpoint,
    keys: { p256dh: json.keys?.p256dh ?? '', auth: json.keys?.auth ?? '' },
  });
  return registered.id;
}

/**
 * Removes this browser's subscription from the server, as a client should at
 * logout. Without the id of this page's registration, it looks the browser's
 * endpoint up among the user's subscriptions.
 */
export async function unregisterPush(api: ApiClient, subscriptionId: string | undefined): Promise<void> {
  let id = subscriptionId;
  if (id === undefined) {
    if (!('serviceWorker' in navigator)) return;
    const registration = await navigator.serviceWorker.getRegistration();
    const endpoint = (await registration?.pushManager.getSubscription())?.endpoint;
    if (endpoint === undefined) return;
    const { subscriptions } = await api.get<{ subscriptions: Array<{ id: string; endpoint: string }> }>('/api/push/subscriptions');
    id = subscriptions.find((subscription) => subscription.endpoint === endpoint)?.id;
  }
  if (id !== undefined) await api.delete(`/api/push/subscriptions/${id}`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}
