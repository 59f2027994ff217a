import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ApiClient } from '../../src/client/api.js';
import { TestPushService, type PushDevice } from '../helpers/push-service.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { buildWebClient, chromiumInstalled, launchChromium, SCREENSHOT_DIR } from './browser.js';

/**
 * End-to-end tests of attachments, search, presence, typing and
 * notifications in the web client: one real server serves the client built
 * from the current sources, and two Chromium contexts act as Ada and Bob.
 * Their accounts and team are made over the API to keep the run short; the
 * features under test are driven through the pages.
 */

const PASSWORD = 'correct horse battery';
const DESKTOP = { width: 1280, height: 800 };

interface Person {
  context: BrowserContext;
  page: Page;
  api: ApiClient;
  id: string;
  username: string;
  name: string;
  errors: string[];
}

let webDir = '';
let server: TestServer | undefined;
let browser: Browser | undefined;
let ada: Person;
let bob: Person;
let teamId = '';
let generalId = '';
let directId = '';
/** The push service and the subscription Bob's page hands to the server; headless Chromium cannot make a real one. */
let pushService: TestPushService | undefined;
let device: PushDevice;

function url(pathname: string): string {
  return `${server!.url}${pathname}`;
}

/** Registers over the context's own request API, so the page shares the session cookie. */
async function newPerson(label: string, name: string): Promise<Person> {
  const context = await browser!.newContext({ viewport: DESKTOP, colorScheme: 'light' });
  context.setDefaultTimeout(8000);
  const username = `${label}_${Math.random().toString(36).slice(2, 8)}`;
  const response = await context.request.post(url('/api/auth/register'), {
    data: { email: `${username}@example.test`, username, password: PASSWORD, display_name: name },
  });
  expect(response.status()).toBe(201);
  const body = (await response.json()) as { user: { id: string } };
  // A session of its own: signing out in the page must not end the test's API access.
  const api = new ApiClient(server!.url);
  api.token = (await api.post<{ token: string }>('/api/auth/login', { login: username, password: PASSWORD })).token;
  const page = await context.newPage();
  const errors: string[] = [];
  recordErrors(page, errors);
  return { context, page, api, id: body.user.id, username, name, errors };
}

/** Records uncaught exceptions and console errors, CSP violations among them. */
function recordErrors(page: Page, errors: string[]): void {
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    // The session check returns 401 after signing out. Other failed requests fail the step that made them.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text());
  });
}

function composer(page: Page, title: string) {
  return page.getByRole('combobox', { name: `Message ${title}` });
}

function messageIn(page: Page, text: string) {
  return page.locator('.main-view [role=log] article.message:not(.pending)', { hasText: text });
}

async function openGeneral(person: Person): Promise<void> {
  await person.page.goto(url(`/t/${teamId}/c/${generalId}`));
  await composer(person.page, '#general').waitFor();
}

/** Makes a PNG of the given size, a real image the server makes a thumbnail of. */
function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 40, g: 120, b: 200 } } })
    .png()
    .toBuffer();
}

/** Pastes or drops files into an element of the page, as the browser would from the clipboard or a drag. */
async function dispatchFiles(page: Page, selector: string, kind: 'paste' | 'drop', files: Array<{ name: string; type: string; base64: string }>): Promise<void> {
  await page.locator(selector).evaluate(
    (element, { kind: eventKind, files: list }) => {
      const transfer = new DataTransfer();
      for (const file of list) {
        const bytes = Uint8Array.from(atob(file.base64), (character) => character.charCodeAt(0));
        transfer.items.add(new File([bytes], file.name, { type: file.type }));
      }
      const event =
        eventKind === 'paste'
          ? new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true })
          : new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true });
      element.dispatchEvent(event);
    },
    { kind, files },
  );
}

describe.skipIf(!chromiumInstalled)('web client features in Chromium', () => {
  beforeAll(async () => {
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    webDir = await buildWebClient();
    pushService = await TestPushService.start();
    device = pushService.createDevice();
    server = await startServer({ webDir, push: { allowedAddresses: ['127.0.0.1'], caFile: pushService.caFile } });
    browser = await launchChromium();
    ada = await newPerson('ada', 'Ada Lovelace');
    bob = await newPerson('bob', 'Bob Builder');

    const team = await ada.api.post<{ id: string; general_conversation_id: string }>('/api/teams', { name: 'Acme' });
    teamId = team.id;
    generalId = team.general_conversation_id;
    await ada.api.post(`/api/teams/${teamId}/members`, { username: bob.username });
    directId = (await ada.api.post<{ id: string }>(`/api/teams/${teamId}/dms`, { user_ids: [bob.id] })).id;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await pushService?.close();
    fs.rmSync(webDir, { recursive: true, force: true });
  });

  test('presence dot turns online and typing shows', async () => {
    // Ada has never connected, so Bob's sidebar shows her offline.
    await openGeneral(bob);
    const dot = bob.page.locator(`button.sidebar-item[data-conversation-id="${directId}"] .presence-dot`);
    await expect.poll(() => dot.getAttribute('data-presence')).toBe('offline');

    await openGeneral(ada);
    await expect.poll(() => dot.getAttribute('data-presence')).toBe('online');
    // The member list of a channel shows presence too.
    await bob.page.getByRole('button', { name: 'Members (2)' }).click();
    const members = bob.page.getByRole('dialog', { name: 'Members of #general' });
    await members.locator(`[data-user-id="${ada.id}"] .presence-dot[data-presence="online"]`).waitFor();
    await members.getByRole('button', { name: 'Close' }).click();

    // Typing in the conversation shows for Bob, and the message ends it.
    await composer(ada.page, '#general').pressSequentially('Hello the');
    const typing = bob.page.locator('.main-view .typing-indicator');
    await expect.poll(() => typing.textContent()).toBe('Ada Lovelace is typing…');
    await composer(ada.page, '#general').pressSequentially('re');
    await composer(ada.page, '#general').press('Enter');
    await messageIn(bob.page, 'Hello there').waitFor();
    await expect.poll(() => typing.textContent()).toBe('');

    // Typing in a thread shows in the thread panel, not in the conversation.
    for (const person of [ada, bob]) {
      const root = messageIn(person.page, 'Hello there');
      await root.hover();
      await root.getByRole('button', { name: 'Reply in thread' }).click();
    }
    await ada.page.getByRole('combobox', { name: 'Reply in the thread' }).pressSequentially('On it');
    await expect.poll(() => bob.page.locator('.thread-panel .typing-indicator').textContent()).toBe('Ada Lovelace is typing…');
    expect(await typing.textContent()).toBe('');
    await ada.page.getByRole('combobox', { name: 'Reply in the thread' }).press('Enter');
    for (const person of [ada, bob]) await person.page.getByRole('button', { name: 'Close the thread' }).click();
  });

  test('files attach by picker, paste and drop', async () => {
    const wide = await png(640, 480);
    const tall = await png(300, 500);

    // By the picker: the image uploads at once, then goes with the message.
    await ada.page.getByLabel('Choose files to attach').setInputFiles({ name: 'harbour.png', mimeType: 'image/png', buffer: wide });
    await ada.page.locator('.attachment.ready', { hasText: 'harbour.png' }).waitFor();
    await composer(ada.page, '#general').fill('The harbour at dawn');
    await composer(ada.page, '#general').press('Enter');

    // The thumbnail appears in Bob's page once the file.updated event brings its URL.
    const picked = messageIn(bob.page, 'The harbour at dawn');
    const image = picked.getByRole('img', { name: 'harbour.png' });
    await image.waitFor({ timeout: 15_000 });
    await expect.poll(() => image.evaluate((element) => (element as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
    expect(await picked.locator('.file-dimensions').textContent()).toBe('640 × 480');
    expect(await image.getAttribute('width')).toBe('320');
    expect(await image.getAttribute('height')).toBe('240');

    // By paste: a pasted screenshot has no name; the message has no text.
    await dispatchFiles(ada.page, '.main-view .composer textarea', 'paste', [{ name: '', type: 'image/png', base64: tall.toString('base64') }]);
    await ada.page.locator('.attachment.ready', { hasText: /^pasted-/ }).waitFor();
    await composer(ada.page, '#general').press('Enter');
    const pasted = bob.page.locator('.main-view article.message .image-preview', { hasText: '300 × 500' });
    await pasted.waitFor({ timeout: 15_000 });
    await expect.poll(() => pasted.locator('img').evaluate((element) => (element as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);

    // By drop: a text file shows as a card, and its name stays text.
    const hostile = '<img src=x onerror="window.__xss=1">.txt';
    await dispatchFiles(ada.page, '.main-view .composer', 'drop', [{ name: hostile, type: 'text/plain', base64: Buffer.from('minutes').toString('base64') }]);
    await ada.page.locator('.attachment.ready').waitFor();
    await composer(ada.page, '#general').fill('Minutes attached');
    await composer(ada.page, '#general').press('Enter');
    const card = messageIn(bob.page, 'Minutes attached').locator('.file-card');
    await card.waitFor();
    // The server replaces "/" in names with "_" (docs/files.md).
    expect(await card.locator('.file-name').textContent()).toBe('<img src=x onerror="window.__xss=1">.txt'.replace('/', '_'));
    expect(await card.textContent()).toContain('7 B');
    expect(await card.locator('img').count()).toBe(0);
    expect(await bob.page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await messageIn(bob.page, 'The harbour at dawn').scrollIntoViewIfNeeded();
    await bob.page.screenshot({ path: path.join(SCREENSHOT_DIR, 'desktop-files-light.png') });
  });

  test('search highlights and jumps in context', async () => {
    await ada.api.post(`/api/conversations/${generalId}/messages`, { text: 'The quokka report is ready' });
    const root = await ada.api.post<{ id: string }>(`/api/conversations/${generalId}/messages`, { text: 'Release checklist' });
    const reply = await bob.api.post<{ id: string }>(`/api/conversations/${generalId}/messages`, { text: 'Quokkas approve the checklist', thread_root_id: root.id });
    // Enough later messages that the first result is outside the page Bob's client holds. Bob waits in another
    // conversation meanwhile, so the jump also opens the conversation.
    await bob.page.locator(`button.sidebar-item[data-conversation-id="${directId}"]`).click();
    await composer(bob.page, 'Ada Lovelace').waitFor();
    // The client loads the newest 50 first; the order of the fillers does not matter.
    await Promise.all(Array.from({ length: 52 }, (_, index) => ada.api.post(`/api/conversations/${generalId}/messages`, { text: `Filler ${index + 1}` })));

    await bob.page.getByRole('search').getByRole('searchbox', { name: 'Search' }).fill('quokka');
    await bob.page.getByRole('search').getByRole('searchbox', { name: 'Search' }).press('Enter');
    const results = bob.page.getByRole('list', { name: 'Search results' });
    await results.getByRole('listitem').nth(1).waitFor();
    expect(await results.getByRole('listitem').count()).toBe(2);
    expect(await results.locator('mark').allTextContents()).toEqual(expect.arrayContaining(['quokka', 'Quokkas']));
    await bob.page.screenshot({ path: path.join(SCREENSHOT_DIR, 'desktop-search-light.png') });

    // The chip adds is:thread to the query, which leaves the reply only.
    await bob.page.getByRole('button', { name: 'In threads' }).click();
    await expect.poll(() => bob.page.getByRole('searchbox', { name: 'Search messages' }).inputValue()).toBe('quokka is:thread');
    await expect.poll(() => results.getByRole('listitem').count()).toBe(1);

    // A reply opens in its thread, highlighted.
    await results.locator(`button[data-message-id="${reply.id}"]`).click();
    await bob.page.locator(`.thread-panel article.message.highlighted[data-message-id="${reply.id}"]`).waitFor();
    await bob.page.getByRole('button', { name: 'Close the thread' }).click();

    // Back in the results, the chip toggles off; a timeline message opens in its conversation, loaded around it and highlighted.
    await bob.page.goBack();
    await bob.page.getByRole('button', { name: 'In threads', pressed: true }).click();
    await expect.poll(() => results.getByRole('listitem').count()).toBe(2);
    await results.getByRole('button', { name: /The quokka report is ready/ }).click();
    const target = bob.page.locator('.main-view article.message.highlighted', { hasText: 'The quokka report is ready' });
    await target.waitFor();
    await expect.poll(() => target.isVisible()).toBe(true);
    await messageIn(bob.page, 'Filler 52').waitFor({ state: 'attached' });
  });

  test('notifications and Web Push', async () => {
    // Headless Chromium shows no notification and has no push service: the page records notifications, and its
    // push subscription is a stand-in that still goes through the real service worker registration and our API.
    await bob.context.addInitScript(
      ({ endpoint, keys }) => {
        const shown: Array<{ title: string; body?: string; tag?: string }> = [];
        const calls = { requestPermission: 0, subscribe: [] as string[] };
        Object.assign(window, { __shown: shown, __calls: calls });
        class RecordingNotification {
          // Kept in localStorage, since a browser remembers the permission for the origin.
          static permission = (localStorage.getItem('test.permission') ?? 'default') as NotificationPermission;
          static async requestPermission(): Promise<NotificationPermission> {
            calls.requestPermission += 1;
            RecordingNotification.permission = 'granted';
            localStorage.setItem('test.permission', 'granted');
            return 'granted';
          }
          onclick: (() => void) | null = null;
          constructor(title: string, options: NotificationOptions = {}) {
            shown.push({ title, body: options.body, tag: options.tag });
          }
          close(): void {}
        }
        Object.defineProperty(window, 'Notification', { value: RecordingNotification, configurable: true, writable: true });
        PushManager.prototype.getSubscription = async () => null;
        PushManager.prototype.subscribe = async function (options?: PushSubscriptionOptionsInit) {
          const key = new Uint8Array(options!.applicationServerKey as ArrayBuffer);
          calls.subscribe.push(btoa(String.fromCharCode(...key)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
          return { endpoint, options: { applicationServerKey: key.buffer }, toJSON: () => ({ endpoint, keys }), unsubscribe: async () => true } as unknown as PushSubscription;
        };
      },
      { endpoint: device.endpoint, keys: device.keys },
    );
    await openGeneral(bob);

    // No permission request on load: the banner requests it only when clicked.
    const banner = bob.page.getByRole('region', { name: 'Desktop notifications' });
    await banner.waitFor();
    expect(await bob.page.evaluate(() => (window as unknown as { __calls: { requestPermission: number } }).__calls.requestPermission)).toBe(0);
    await banner.getByRole('button', { name: 'Turn on notifications' }).click();
    await banner.waitFor({ state: 'detached' });

    // The service worker registers for real, and the subscription reaches the server with its VAPID key.
    const { public_key: vapidKey } = await bob.api.get<{ public_key: string }>('/api/push/vapid-public-key');
    await expect
      .poll(async () => (await bob.api.get<{ subscriptions: Array<{ endpoint: string }> }>('/api/push/subscriptions')).subscriptions.map((item) => item.endpoint))
      .toEqual([device.endpoint]);
    expect(await bob.page.evaluate(() => (window as unknown as { __calls: { subscribe: string[] } }).__calls.subscribe)).toEqual([vapidKey]);
    const worker = await bob.page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.active?.scriptURL ?? null);
    expect(worker).toBe(url('/sw.js'));

    // While Bob looks at the page, a mention shows no notification.
    await ada.api.post(`/api/conversations/${generalId}/messages`, { text: `@${bob.username} seen while focused` });
    await messageIn(bob.page, 'seen while focused').waitFor();
    await bob.page.waitForTimeout(300);
    expect(await bob.page.evaluate(() => (window as unknown as { __shown: unknown[] }).__shown)).toEqual([]);

    // Unfocused, the server's notification frame shows one.
    await bob.page.evaluate(() => {
      document.hasFocus = () => false;
    });
    const mention = await ada.api.post<{ id: string }>(`/api/conversations/${generalId}/messages`, { text: `@${bob.username} the build is green` });
    await expect
      .poll(() => bob.page.evaluate(() => (window as unknown as { __shown: unknown[] }).__shown))
      .toEqual([{ title: 'Ada Lovelace in #general', body: `@${bob.username} the build is green`, tag: mention.id }]);

    // The manifest and its icons make the app installable.
    const manifest = await bob.page.evaluate(async () => {
      const link = document.querySelector<HTMLLinkElement>('link[rel=manifest]')!;
      const body = (await (await fetch(link.href)).json()) as { display: string; icons: Array<{ src: string; sizes: string }> };
      const statuses = await Promise.all(body.icons.map(async (icon) => (await fetch(icon.src)).status));
      return { display: body.display, sizes: body.icons.map((icon) => icon.sizes), statuses };
    });
    expect(manifest.display).toBe('standalone');
    expect(manifest.sizes).toEqual(expect.arrayContaining(['192x192', '512x512']));
    expect(manifest.statuses.every((status) => status === 200)).toBe(true);

    // With the tab closed, the server pushes instead. The test push service decrypts the push, and Chromium's
    // DevTools protocol hands the payload to the service worker, which shows it.
    await bob.context.grantPermissions(['notifications'], { origin: server!.url });
    const blank = await bob.context.newPage();
    const devtools = await bob.context.newCDPSession(blank);
    const registrations: Array<{ registrationId: string; scopeURL: string }> = [];
    devtools.on('ServiceWorker.workerRegistrationUpdated', (event) => registrations.push(...event.registrations));
    await devtools.send('ServiceWorker.enable');
    await bob.page.close();
    // The server decides between frame and push when the message is stored, so it must have seen the socket close.
    const presence = server!.server.ctx.presence.presence;
    await expect.poll(async () => (await presence.deliveryStates([bob.id])).get(bob.id)?.connected).toBe(false);
    const closedTab = await ada.api.post<{ id: string }>(`/api/conversations/${generalId}/messages`, { text: `@${bob.username} while your tab is closed` });
    await expect.poll(() => device.received.map((push) => push.payload.id), { timeout: 10_000 }).toEqual([closedTab.id]);
    expect(device.errors).toEqual([]);
    const registrationId = registrations.find((registration) => registration.scopeURL === url('/'))!.registrationId;
    await devtools.send('ServiceWorker.deliverPushMessage', { origin: server!.url, registrationId, data: JSON.stringify(device.received[0]!.payload) });

    bob.page = await bob.context.newPage();
    recordErrors(bob.page, bob.errors);
    await openGeneral(bob);
    const shownByWorker = () =>
      bob.page.evaluate(async () => (await (await navigator.serviceWorker.getRegistration())!.getNotifications()).map((item) => ({ title: item.title, body: item.body, tag: item.tag })));
    await expect.poll(shownByWorker).toEqual([{ title: 'Ada Lovelace in #general', body: `@${bob.username} while your tab is closed`, tag: closedTab.id }]);
    await blank.close();

    // Signing out removes the subscription, so this browser gets no more pushes for Bob.
    await bob.page.getByRole('button', { name: 'Sign out' }).click();
    await bob.page.getByRole('heading', { name: 'Sign in to ChatterBox' }).waitFor();
    const after = await bob.api.get<{ subscriptions: unknown[] }>('/api/push/subscriptions');
    expect(after.subscriptions).toEqual([]);
  });

  test('pages raised no script errors or CSP violations', () => {
    expect(ada.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });
});

