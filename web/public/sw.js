/*
 * The ChatterBox service worker. It shows the server's Web Push messages
 * while no tab is open and opens the message when one is clicked. The
 * payload is the notification object of docs/notifications.md plus `badge`,
 * the unread count. The page registers this file and the push subscription
 * (web/src/lib/notifications.ts).
 */

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let payload;
  try {
    payload = event.data ? event.data.json() : undefined;
  } catch {
    payload = undefined;
  }
  if (!payload || typeof payload.id !== 'string') return;
  event.waitUntil(show(payload));
});

async function show(payload) {
  // An open, focused tab shows the socket's notification frame itself.
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  if (windows.some((client) => client.focused)) return;
  const author = (payload.author && (payload.author.display_name || payload.author.username)) || 'ChatterBox';
  const direct = payload.conversation_kind === 'dm' || payload.conversation_kind === 'group';
  const title = direct || !payload.conversation_name ? author : `${author} in #${payload.conversation_name}`;
  if (typeof payload.badge === 'number' && 'setAppBadge' in self.navigator) {
    self.navigator.setAppBadge(payload.badge).catch(() => {});
  }
  await self.registration.showNotification(title, {
    body: String(payload.preview || ''),
    tag: payload.id,
    icon: '/icon-192.png',
    data: { url: `/t/${payload.team_id}/c/${payload.conversation_id}?message=${payload.message_id}` },
  });
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(event.notification.data && event.notification.data.url ? event.notification.data.url : '/', self.location.origin).href;
  event.waitUntil(focusOrOpen(url));
});

async function focusOrOpen(url) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const existing = windows.find((client) => new URL(client.url).origin === self.location.origin);
  if (existing) {
    await existing.focus();
    return existing.navigate(url);
  }
  return self.clients.openWindow(url);
}
