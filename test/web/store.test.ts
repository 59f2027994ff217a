import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import type { WebSocketLike } from '../../src/client/realtime.js';
import { buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { waitUntil } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';
import type { ChatStore } from '../../web/src/lib/store.js';

/**
 * The web client's store, run in Node against a real server. A browser gets
 * an HTTP response and the socket's events on two connections, in either
 * order. These tests hold the socket's frames back until the response has
 * been handled, as a write batch on the server or a slow network may. Then
 * they hand the held frames over at once, as one socket read would. The
 * store must end in the same state as with the events first.
 */

/** Frames the store's socket received, held back from the client while `holding` is set. */
class FrameGate {
  holding = false;
  #queue: Array<{ text: string; deliver: () => void }> = [];

  receive(text: string, deliver: () => void): void {
    if (this.holding) this.#queue.push({ text, deliver });
    else deliver();
  }

  /** Returns true once a held frame carries the named event. */
  holdsEvent(event: string): boolean {
    return this.#queue.some((frame) => frame.text.includes(`"event":"${event}"`));
  }

  /** Hands every held frame to the client in one synchronous run, then lets frames through again. */
  release(): void {
    this.holding = false;
    for (const frame of this.#queue.splice(0)) frame.deliver();
  }
}

const gate = new FrameGate();
/** Bearer token of the user whose store opens the next socket. A browser sends its session cookie instead. */
let socketToken = '';

/** The socket the store opens with `new WebSocket(url)`: a real `ws` client whose incoming frames pass the gate. */
class GatedSocket implements WebSocketLike {
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly #socket: WebSocket;

  constructor(url: string) {
    this.#socket = new WebSocket(url, { headers: { authorization: `Bearer ${socketToken}` } });
    this.#socket.on('open', () => this.onopen?.({}));
    this.#socket.on('message', (data: Buffer) => {
      const text = data.toString();
      gate.receive(text, () => this.onmessage?.({ data: text }));
    });
    this.#socket.on('close', (code: number, reason: Buffer) => this.onclose?.({ code, reason: reason.toString() }));
    this.#socket.on('error', (error: Error) => this.onerror?.(error));
  }

  get readyState(): number {
    return this.#socket.readyState;
  }

  send(data: string): void {
    this.#socket.send(data);
  }

  close(code?: number, reason?: string): void {
    this.#socket.close(code, reason);
  }
}

let server: TestServer;
let createStore: () => ChatStore;
const started: ChatStore[] = [];

beforeAll(async () => {
  server = await startServer();
  // The store module reads the page's origin and creates a store when it loads, so the globals come first.
  const globals = globalThis as unknown as Record<string, unknown>;
  globals.window = { location: { origin: server.url } };
  globals.WebSocket = GatedSocket;
  const { ChatStore: Store } = await import('../../web/src/lib/store.js');
  createStore = () => new Store();
});

afterEach(async () => {
  gate.release();
  for (const store of started.splice(0)) await store.logout();
});

afterAll(async () => server.close());

/** Starts a store signed in as `user`, with its socket ready and the user's data loaded. */
async function startStore(user: TestUser): Promise<ChatStore> {
  const store = createStore();
  store.api.token = user.token;
  socketToken = user.token;
  await store.start();
  started.push(store);
  expect(store.ready).toBe(true);
  return store;
}

/** Records each API request once its response has been read, before the caller's code continues. */
function recordResponses(store: ChatStore): string[] {
  const answered: string[] = [];
  const raw = store.api.raw.bind(store.api);
  store.api.raw = async (method, path, ...rest) => {
    const response = await raw(method, path, ...rest);
    answered.push(`${method} ${path}`);
    return response;
  };
  return answered;
}

test('createTeam resolves with its #general', async () => {
  const ada = await buildUser(server.url, 'ada');
  const store = await startStore(ada);
  const answered = recordResponses(store);

  gate.holding = true;
  let generalAtResolve: boolean | undefined;
  const creating = store.createTeam('Acme').then((team) => {
    generalAtResolve = team.general_conversation_id !== null && store.state?.conversations[team.general_conversation_id] !== undefined;
    return team;
  });
  await waitUntil(() => answered.includes('POST /api/teams') && gate.holdsEvent('conversation.joined'), 5000, 'the response and the held events');
  gate.release();
  const team = await creating;

  expect(generalAtResolve).toBe(true);
  expect(store.state?.teams[team.id]?.name).toBe('Acme');
  const general = store.state?.conversations[team.general_conversation_id!];
  expect(general?.conversation.team_id).toBe(team.id);
  expect(general?.conversation.is_general).toBe(true);
});

test('markRead after the post response', async () => {
  const ada = await buildUser(server.url, 'ada');
  const team = await buildTeam(ada);
  const store = await startStore(ada);
  await store.loadLatest(team.generalId);

  gate.holding = true;
  store.send(team.generalId, 'posted before its event');
  const entry = store.state!.conversations[team.generalId]!;
  await waitUntil(() => Object.values(entry.messages).some((message) => message.text === 'posted before its event'), 5000, 'the post response');
  const posted = Object.values(entry.messages).find((message) => message.text === 'posted before its event')!;

  await store.markRead(team.generalId);
  expect(entry.lastReadSeq).toBe(posted.seq);
  // The message list calls markRead after each render at the bottom, and each bump renders again.
  const version = store.getVersion();
  await store.markRead(team.generalId);
  expect(store.getVersion()).toBe(version);

  await waitUntil(() => gate.holdsEvent('message.posted'), 5000, 'the held message.posted');
  gate.release();
  expect(entry.lastReadSeq).toBe(posted.seq);
  expect(Object.values(entry.messages).filter((message) => message.text === 'posted before its event')).toHaveLength(1);
});

test('markThreadRead after replies read over HTTP', async () => {
  const ada = await buildUser(server.url, 'ada');
  const bob = await buildUser(server.url, 'bob');
  const team = await buildTeam(ada, [bob]);
  const root = await ada.api.post<{ id: string }>(`/api/conversations/${team.generalId}/messages`, { text: 'root' });
  const store = await startStore(ada);
  await ada.api.post(`/api/messages/${root.id}/follow`);
  await waitUntil(() => store.state?.threads[root.id] !== undefined, 5000, 'thread.followed');

  gate.holding = true;
  const reply = await bob.api.post<{ id: string; seq: number }>(`/api/conversations/${team.generalId}/messages`, { text: 'reply', thread_root_id: root.id });
  await store.loadThread(root.id);
  const thread = store.state!.threads[root.id]!;
  expect(thread.unread_count).toBe(1);

  await store.markThreadRead(root.id);
  expect(thread.last_read_seq).toBe(reply.seq);
  expect(thread.unread_count).toBe(0);

  await waitUntil(() => gate.holdsEvent('message.posted'), 5000, 'the held message.posted');
  gate.release();
  expect(thread.unread_count).toBe(0);
});
