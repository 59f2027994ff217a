import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ApiClient } from '../../src/client/api.js';
import { removeDataDir, startServer, type TestServer } from '../helpers/server.js';
import { buildWebClient, chromiumInstalled, CHROMIUM_PATH, launchChromium, SCREENSHOT_DIR } from './browser.js';

/**
 * End-to-end tests of the web client: a real server on an ephemeral port
 * serves the client built from the current sources, and two Chromium
 * contexts act as two people. The tests run in order and share one story.
 */

const PASSWORD = 'correct horse battery';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

interface Person {
  context: BrowserContext;
  page: Page;
  username: string;
  name: string;
  /** Uncaught exceptions and console errors, CSP violations among them. */
  errors: string[];
}

let webDir = '';
let dataDir = '';
let server: TestServer | undefined;
let browser: Browser | undefined;
let ada: Person;
let bob: Person;
const figures: Record<string, number> = {};

function url(pathname: string): string {
  return `${server!.url}${pathname}`;
}

async function newPerson(label: string, name: string): Promise<Person> {
  const context = await browser!.newContext({ viewport: DESKTOP, colorScheme: 'light' });
  // Each step fails on its own, well inside the test's timeout, so a failure names the step.
  context.setDefaultTimeout(8000);
  // Records when each WebSocket frame arrives, to split the send-to-display time into delivery and rendering.
  await context.addInitScript(() => {
    const Native = window.WebSocket;
    const frames: Array<{ at: number; data: string }> = [];
    (window as unknown as { __frames: typeof frames }).__frames = frames;
    window.WebSocket = class extends Native {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        this.addEventListener('message', (event) => frames.push({ at: Date.now(), data: String(event.data) }));
      }
    };
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    // Failed requests while the server is stopped are expected; everything else is a fault.
    if (message.type() === 'error' && !/Failed to load resource|WebSocket connection/.test(message.text())) errors.push(message.text());
  });
  const username = `${label}_${Math.random().toString(36).slice(2, 8)}`;
  return { context, page, username, name, errors };
}

async function register(person: Person): Promise<void> {
  const { page } = person;
  await page.goto(url('/register'));
  await page.getByLabel('E-mail').fill(`${person.username}@example.test`);
  await page.getByLabel('Username').fill(person.username);
  await page.getByLabel('Display name').fill(person.name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Choose a team' }).waitFor();
}

function composer(page: Page, title: string) {
  return page.getByRole('combobox', { name: `Message ${title}` });
}

function timeline(page: Page) {
  return page.locator('.main-view [role=log]');
}

/** A message the server stored, shown in the open conversation; unsent ones are left out. */
function messageIn(page: Page, text: string) {
  return timeline(page).locator('article.message:not(.pending)', { hasText: text });
}

function sidebarItem(page: Page, name: string) {
  return page.getByRole('navigation', { name: 'Conversations' }).locator(`button.sidebar-item`, { hasText: name });
}

async function send(page: Page, title: string, text: string): Promise<void> {
  const box = composer(page, title);
  await box.fill(text);
  await box.press('Enter');
}

/**
 * Sends a message from one page and returns the milliseconds from the Enter
 * key to the message showing in the other page. Both times are read from
 * Date.now() inside the pages, which share this machine's clock.
 */
async function measureSendToDisplay(from: Person, to: Person, title: string, text: string): Promise<{ total: number; delivery: number }> {
  await to.page.evaluate((target) => {
    const observer = new MutationObserver(() => {
      const shown = [...document.querySelectorAll('.main-view article.message:not(.pending)')].some((node) => node.textContent?.includes(target));
      if (shown) {
        (window as unknown as { __shownAt: number }).__shownAt = Date.now();
        observer.disconnect();
      }
    });
    observer.observe(document.body, { childList: true, subtree: true, characterData: true });
  }, text);
  await composer(from.page, title).fill(text);
  const sentAt = await from.page.evaluate(() => Date.now());
  await composer(from.page, title).press('Enter');
  await messageIn(to.page, text).waitFor();
  const { shownAt, arrivedAt } = await to.page.evaluate((target) => {
    const frames = (window as unknown as { __frames: Array<{ at: number; data: string }> }).__frames;
    const frame = frames.find((candidate) => candidate.data.includes('"message.posted"') && candidate.data.includes(JSON.stringify(target).slice(1, -1)));
    return { shownAt: (window as unknown as { __shownAt: number }).__shownAt, arrivedAt: frame?.at ?? Number.NaN };
  }, text);
  return { total: shownAt - sentAt, delivery: arrivedAt - sentAt };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Saves a screenshot of the page at a viewport and theme, for docs/web-client.md. */
async function screenshot(page: Page, name: string, viewport: { width: number; height: number }, theme: 'light' | 'dark'): Promise<void> {
  await page.setViewportSize(viewport);
  await page.evaluate((value) => {
    document.documentElement.dataset.theme = value;
  }, theme);
  await page.waitForTimeout(250);
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}-${theme}.png`) });
}

describe.skipIf(!chromiumInstalled)('web client in Chromium', () => {
  beforeAll(async () => {
    webDir = await buildWebClient();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-web-data-'));
    server = await startServer({ dataDir, webDir });
    browser = await launchChromium();
    ada = await newPerson('ada', 'Ada Lovelace');
    bob = await newPerson('bob', 'Bob Builder');
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    fs.rmSync(webDir, { recursive: true, force: true });
    await removeDataDir(dataDir);
    if (Object.keys(figures).length > 0) console.log(`web client figures (ms): ${JSON.stringify(figures)}`);
  });

  test('two people register, meet in a team and chat in real time', async () => {
    await register(ada);
    await register(bob);

    // Ada creates a team and invites Bob by username.
    await ada.page.getByLabel('New team name').fill('Acme');
    await ada.page.getByRole('button', { name: 'Create team' }).click();
    await composer(ada.page, '#general').waitFor();
    await ada.page.getByRole('button', { name: 'Invite people' }).click();
    const invite = ada.page.getByRole('dialog', { name: 'Invite people' });
    await invite.getByLabel('Username').fill(bob.username);
    await invite.getByRole('button', { name: 'Invite' }).click();
    await invite.getByText(`${bob.username} is now in Acme.`).waitFor();
    await invite.getByRole('button', { name: 'Close' }).click();

    // Bob's team list updates by event, without a reload.
    await bob.page.getByRole('button', { name: 'Acme' }).click();
    await composer(bob.page, '#general').waitFor();

    // Ada creates a public channel; Bob finds it in the channel browser and joins.
    await ada.page.getByRole('button', { name: 'Create a channel' }).click();
    const create = ada.page.getByRole('dialog', { name: 'Create a channel' });
    await create.getByLabel('Name').fill('launch');
    await create.getByLabel('Purpose').fill('Shipping the rocket');
    await create.getByRole('button', { name: 'Create' }).click();
    await composer(ada.page, '#launch').waitFor();
    await bob.page.getByRole('button', { name: 'Browse channels' }).click();
    await bob.page.getByRole('button', { name: 'Join #launch' }).click();
    await composer(bob.page, '#launch').waitFor();

    // Messages reach the other browser; the time from Enter to display there is measured in the pages.
    const delays = [await measureSendToDisplay(ada, bob, '#launch', 'Hello from Ada')];
    for (let index = 1; index <= 4; index += 1) {
      delays.push(await measureSendToDisplay(index % 2 === 0 ? ada : bob, index % 2 === 0 ? bob : ada, '#launch', `Round trip ${index}`));
    }
    figures.sendToDisplayMedianMs = median(delays.map((delay) => delay.total));
    figures.sendToDisplayMaxMs = Math.max(...delays.map((delay) => delay.total));
    figures.sendToSocketFrameMedianMs = median(delays.map((delay) => delay.delivery));

    await send(bob.page, '#launch', 'Hi Ada, **bold** and `code`');
    await messageIn(ada.page, 'Hi Ada').waitFor();
    expect(await messageIn(ada.page, 'Hi Ada').locator('strong').textContent()).toBe('bold');
    expect(await messageIn(ada.page, 'Hi Ada').locator('code').textContent()).toBe('code');
  });

  test('unread and mention badges follow new messages and reading', async () => {
    await sidebarItem(bob.page, 'general').click();
    await composer(bob.page, '#general').waitFor();
    await send(ada.page, '#launch', `ping @${bob.username} about the countdown`);

    const launch = bob.page.getByRole('button', { name: /^#launch, 1 unread, 1 mentions$/ });
    await launch.waitFor();
    await expect(launch.locator('.badge').textContent()).resolves.toBe('1');

    await launch.click();
    await composer(bob.page, '#launch').waitFor();
    // Reading the conversation clears both counts.
    await bob.page.getByRole('button', { name: '#launch', exact: true }).waitFor();
    await bob.page.getByRole('separator', { name: 'New messages' }).waitFor();
    // Esc marks read and removes the "new messages" line.
    await bob.page.keyboard.press('Escape');
    await bob.page.getByRole('separator', { name: 'New messages' }).waitFor({ state: 'detached' });
  });

  test('composer completes mentions, channels and emoji', async () => {
    const box = composer(ada.page, '#launch');
    await box.fill(`Go @${bob.username.slice(0, 5)}`);
    const suggestions = ada.page.getByRole('listbox', { name: 'Suggestions' });
    await suggestions.getByRole('option', { name: new RegExp(`^@${bob.username}`) }).waitFor();
    await box.press('Tab');
    await box.pressSequentially('to #lau');
    await suggestions.getByRole('option', { name: /^#launch/ }).waitFor();
    await box.press('Enter');
    await box.pressSequentially(':tada');
    await suggestions.getByRole('option', { name: /:tada:/ }).waitFor();
    await box.press('Enter');
    expect(await box.inputValue()).toBe(`Go @${bob.username} to #launch 🎉 `);

    // Shift+Enter adds a line; Enter sends.
    await box.press('Shift+Enter');
    await box.pressSequentially('second line');
    await box.press('Enter');
    const sent = messageIn(bob.page, 'second line');
    await sent.waitFor();
    expect(await sent.locator('.mention').textContent()).toBe(`@${bob.username}`);
    expect(await sent.getByRole('button', { name: '#launch' }).count()).toBe(1);
    expect(await sent.textContent()).toContain('🎉');
  });

  test('quick switcher opens a conversation by name', async () => {
    await ada.page.keyboard.press('Control+K');
    const switcher = ada.page.getByRole('dialog', { name: 'Switch to a conversation' });
    await switcher.getByRole('combobox', { name: 'Conversation name' }).fill('gen');
    await switcher.getByRole('option', { name: /#general/ }).waitFor();
    await ada.page.keyboard.press('Enter');
    await composer(ada.page, '#general').waitFor();
    await sidebarItem(ada.page, 'launch').click();
    await composer(ada.page, '#launch').waitFor();
  });

  test('history loads on scroll-up and keeps its place', async () => {
    const adaApi = new ApiClient(server!.url);
    adaApi.token = (await adaApi.post<{ token: string }>('/api/auth/login', { login: ada.username, password: PASSWORD })).token;
    const { teams } = await adaApi.get<{ teams: Array<{ id: string }> }>('/api/teams');
    const channel = await adaApi.post<{ id: string }>(`/api/teams/${teams[0]!.id}/channels`, { name: 'archive' });
    for (let index = 1; index <= 70; index += 1) {
      await adaApi.post(`/api/conversations/${channel.id}/messages`, { text: `Old message #${String(index).padStart(3, '0')}` });
    }

    await sidebarItem(ada.page, 'archive').click();
    await messageIn(ada.page, 'Old message #070').waitFor();
    expect(await messageIn(ada.page, 'Old message #001').count()).toBe(0);

    const scroller = ada.page.locator('.main-view .message-scroller');
    const anchor = messageIn(ada.page, 'Old message #021');
    await scroller.evaluate((element) => {
      element.scrollTop = 0;
    });
    await messageIn(ada.page, 'Old message #001').waitFor({ state: 'attached' });
    await ada.page.getByText('This is the very beginning of #archive.').waitFor({ state: 'attached' });
    // The message that was at the top is still in view: the older page went in above it.
    const view = (await scroller.boundingBox())!;
    const box = (await anchor.boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(view.y - box.height);
    expect(box.y).toBeLessThan(view.y + view.height);
    await sidebarItem(ada.page, 'launch').click();
    await composer(ada.page, '#launch').waitFor();
  });

  test('thread replies, reactions, edits and deletes reach the other browser', async () => {
    // Bob replies in a thread on Ada's message.
    const hello = messageIn(bob.page, 'Hello from Ada');
    await hello.hover();
    await hello.getByRole('button', { name: 'Reply in thread' }).click();
    const thread = bob.page.getByRole('complementary', { name: 'Thread' });
    await thread.getByRole('combobox', { name: 'Reply in the thread' }).fill('Count me in');
    await thread.getByRole('combobox', { name: 'Reply in the thread' }).press('Enter');
    await thread.locator('article.message:not(.pending)', { hasText: 'Count me in' }).waitFor();

    const summary = messageIn(ada.page, 'Hello from Ada').getByRole('button', { name: /1 reply/ });
    await summary.waitFor();
    await summary.click();
    await ada.page.getByRole('complementary', { name: 'Thread' }).locator('article.message', { hasText: 'Count me in' }).waitFor();
    await ada.page.getByRole('button', { name: 'Close the thread' }).click();

    // Ada reacts to Bob's message; Bob sees the count.
    const hi = messageIn(ada.page, 'Hi Ada');
    await hi.hover();
    await hi.getByRole('button', { name: 'Add reaction' }).click();
    await ada.page.getByRole('dialog', { name: 'Add reaction' }).getByRole('button', { name: '+1' }).click();
    await messageIn(bob.page, 'Hi Ada').getByRole('button', { name: /^\+1: 1, by Ada Lovelace$/ }).waitFor();

    // Ada edits her last message with the up arrow, which works in an empty composer.
    await composer(ada.page, '#launch').fill('');
    await composer(ada.page, '#launch').press('ArrowUp');
    const edit = ada.page.getByRole('textbox', { name: 'Edit message' });
    await edit.fill(`ping @${bob.username} about the countdown at noon`);
    await edit.press('Enter');
    await messageIn(bob.page, 'countdown at noon').getByText('(edited)').waitFor();

    // Ada deletes a message; it disappears for Bob.
    await send(ada.page, '#launch', 'A message to delete');
    await messageIn(bob.page, 'A message to delete').waitFor();
    const doomed = messageIn(ada.page, 'A message to delete');
    await doomed.hover();
    await doomed.getByRole('button', { name: 'Delete' }).click();
    await ada.page.getByRole('dialog', { name: 'Delete message' }).getByRole('button', { name: 'Delete' }).click();
    await messageIn(bob.page, 'A message to delete').waitFor({ state: 'detached' });
  });

  test('markup typed by a member stays inert text', async () => {
    const attacks = [
      '<img src=x onerror="window.__xss=1">',
      '<script>window.__xss=2</script>',
      '[click me](javascript:window.__xss=3)',
      '<a href="javascript:window.__xss=4">link</a> &lt;b&gt;',
    ];
    for (const attack of attacks) await send(ada.page, '#launch', attack);
    // Raw HTML shows as typed; a link to a javascript: URL shows as its text only.
    for (const shown of ['<img src=x onerror="window.__xss=1">', '<script>window.__xss=2</script>', 'click me', '<a href="javascript:window.__xss=4">link</a> <b>']) {
      await messageIn(bob.page, shown).waitFor();
    }

    const list = timeline(bob.page);
    expect(await list.locator('img').count()).toBe(0);
    expect(await list.locator('script').count()).toBe(0);
    expect(await list.locator('a[href^="javascript"]').count()).toBe(0);
    expect(await messageIn(bob.page, 'click me').locator('a').count()).toBe(0);
    await messageIn(bob.page, 'click me').click();
    expect(await bob.page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await ada.page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  test('direct messages, pins, saved items and threads', async () => {
    // Ada opens a direct message with Bob; it appears in Bob's sidebar with its unread count.
    await ada.page.getByRole('button', { name: 'New direct message' }).click();
    const dialog = ada.page.getByRole('dialog', { name: 'New message' });
    await dialog.getByLabel('To').fill('Bob');
    await dialog.getByRole('button', { name: new RegExp(`@${bob.username}`) }).click();
    await dialog.getByRole('button', { name: 'Open conversation' }).click();
    await send(ada.page, 'Bob Builder', 'Private hello');
    const direct = bob.page.getByRole('button', { name: 'Ada Lovelace, 1 unread' });
    await direct.waitFor();
    expect(await direct.locator('.badge').textContent()).toBe('1');
    await direct.click();

    // Bob pins the message; both see it pinned, and the pins list shows it.
    const hello = messageIn(bob.page, 'Private hello');
    await hello.hover();
    await hello.getByRole('button', { name: 'Pin', exact: true }).click();
    await messageIn(ada.page, 'Private hello').getByText('Pinned').waitFor();
    await bob.page.getByRole('button', { name: 'Pinned messages (1)' }).click();
    const pins = bob.page.getByRole('dialog', { name: 'Pinned in Ada Lovelace' });
    await pins.getByRole('button', { name: /Private hello/ }).waitFor();
    await pins.getByRole('button', { name: 'Close' }).click();

    // Bob saves it, finds it under saved items and jumps back to it.
    await hello.hover();
    await hello.getByRole('button', { name: 'Save', exact: true }).click();
    await hello.getByRole('button', { name: 'Remove from saved items' }).waitFor();
    await bob.page.getByRole('button', { name: 'Saved items', exact: true }).click();
    await bob.page.getByRole('button', { name: /Private hello/ }).click();
    await messageIn(bob.page, 'Private hello').waitFor();

    // The thread Bob replied to is in his threads view and opens in the panel.
    await bob.page.getByRole('button', { name: 'Threads', exact: true }).click();
    await bob.page.getByRole('button', { name: /Hello from Ada/ }).click();
    await bob.page.getByRole('complementary', { name: 'Thread' }).locator('article.message', { hasText: 'Count me in' }).waitFor();
    await bob.page.getByRole('button', { name: 'Close the thread' }).click();
    await sidebarItem(bob.page, 'launch').click();
    await composer(bob.page, '#launch').waitFor();
  });

  test('sign out and back in', async () => {
    await ada.page.getByRole('button', { name: 'Sign out' }).click();
    await ada.page.getByRole('heading', { name: 'Sign in to ChatterBox' }).waitFor();
    await ada.page.getByLabel('E-mail or username').fill(ada.username);
    await ada.page.getByLabel('Password').fill(PASSWORD);
    await ada.page.getByRole('button', { name: 'Sign in' }).click();
    // The team used last opens again.
    await ada.page.getByRole('heading', { name: 'Acme' }).waitFor();
    await sidebarItem(ada.page, 'launch').click();
    await composer(ada.page, '#launch').waitFor();
  });

  test('screenshots and first render time', async () => {
    // A fresh load of the conversation measures the time to the first message list.
    await bob.page.goto(bob.page.url());
    await messageIn(bob.page, 'Hello from Ada').waitFor();
    figures.firstMessageListMs = await bob.page.evaluate(() => Math.round(performance.getEntriesByName('chatterbox:first-message-list')[0]?.startTime ?? -1));
    expect(figures.firstMessageListMs).toBeGreaterThan(0);

    await messageIn(bob.page, 'Hello from Ada').getByRole('button', { name: /1 reply/ }).click();
    await bob.page.getByRole('complementary', { name: 'Thread' }).locator('article.message', { hasText: 'Count me in' }).waitFor();
    await screenshot(bob.page, 'desktop-conversation', DESKTOP, 'light');
    await screenshot(bob.page, 'desktop-conversation', DESKTOP, 'dark');
    await bob.page.getByRole('button', { name: 'Close the thread' }).click();
    await screenshot(bob.page, 'phone-conversation', PHONE, 'light');
    await screenshot(bob.page, 'phone-conversation', PHONE, 'dark');
    await bob.page.getByRole('button', { name: 'Open the sidebar' }).click();
    await screenshot(bob.page, 'phone-sidebar', PHONE, 'light');
    await screenshot(bob.page, 'phone-sidebar', PHONE, 'dark');
    await bob.page.setViewportSize(DESKTOP);
    await bob.page.evaluate(() => {
      document.documentElement.dataset.theme = 'light';
    });
    await bob.page.keyboard.press('Escape');
  });

  test('restart shows offline, then catches up without loss or repeats', async () => {
    const port = Number(new URL(server!.url).port);
    await server!.close();
    server = undefined;
    await ada.page.getByRole('status').filter({ hasText: 'You are offline' }).waitFor();
    await bob.page.getByRole('status').filter({ hasText: 'You are offline' }).waitFor();

    // Sent while offline: shown as not sent, then delivered once after the restart.
    await send(ada.page, '#launch', 'Written while offline');
    await timeline(ada.page).locator('article.message.pending', { hasText: 'Written while offline' }).getByRole('alert').waitFor();

    server = await restartOnPort(port);
    const bobApi = new ApiClient(server.url);
    const login = await bobApi.post<{ token: string }>('/api/auth/login', { login: bob.username, password: PASSWORD });
    bobApi.token = login.token;
    const { conversations } = await bobApi.get<{ conversations: Array<{ id: string; name: string | null }> }>('/api/conversations');
    const launchId = conversations.find((conversation) => conversation.name === 'launch')!.id;
    for (let index = 1; index <= 3; index += 1) await bobApi.post(`/api/conversations/${launchId}/messages`, { text: `Catch-up ${index}` });

    for (const person of [ada, bob]) {
      await person.page.getByRole('status').filter({ hasText: 'You are offline' }).waitFor({ state: 'detached', timeout: 15_000 });
      for (const text of ['Catch-up 1', 'Catch-up 2', 'Catch-up 3', 'Written while offline']) {
        await messageIn(person.page, text).waitFor({ timeout: 15_000 });
      }
    }
    // Give duplicates a moment to show up if any were coming.
    await ada.page.waitForTimeout(500);
    for (const person of [ada, bob]) {
      for (const text of ['Catch-up 1', 'Catch-up 2', 'Catch-up 3', 'Written while offline', 'Hello from Ada']) {
        expect(await messageIn(person.page, text).count(), `${person.name} shows "${text}" once`).toBe(1);
      }
    }
    const { messages } = await bobApi.get<{ messages: Array<{ text: string }> }>(`/api/conversations/${launchId}/messages?limit=200`);
    expect(messages.filter((message) => message.text === 'Written while offline')).toHaveLength(1);
  });

  test('pages raised no script errors or CSP violations', () => {
    expect(ada.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });
});

if (!chromiumInstalled) console.warn(`web client tests skipped: ${CHROMIUM_PATH} is missing (apt-get install chromium)`);

/**
 * Starts the server again on its old port, which the browsers keep trying. A
 * client socket of another process may hold that port for a moment, so a
 * refused listen is retried.
 */
async function restartOnPort(port: number): Promise<TestServer> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startServer({ dataDir, webDir, port });
    } catch (error) {
      if (attempt >= 20 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
