import { validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cleanFileName, contentDisposition, MAX_FILE_NAME_BYTES } from '../../src/files/names.js';
import { parseMessageText } from '../../src/mentions/parse.js';
import { AppError } from '../../src/platform/errors.js';
import { parseClientFrame } from '../../src/realtime/frames.js';
import { parseSearchQuery } from '../../src/search/query-parser.js';
import { buildChannel, buildTeam, buildUser, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { openFrameSocket, type FrameSocket } from '../helpers/sockets.js';

/**
 * Property-based fuzzing of the inputs an attacker controls: the search
 * language, Markdown and mentions, JSON bodies of the write routes, file
 * names in Content-Disposition and WebSocket frames. The suite runs 20
 * inputs per HTTP or socket property and 200 per parser; `npm run fuzz` sets FUZZ_RUNS to run 1,000 or
 * more. FUZZ_SEED replays a failure with the seed fast-check printed.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 20);
/** Pure parsers are cheap, so they get ten times the runs of HTTP and socket properties. */
const PARSER_RUNS = RUNS * 10;
/** Test timeout that grows with the number of runs, so `npm run fuzz` does not stop a property part way. */
const TIMEOUT_MS = Math.max(30_000, RUNS * 1_500);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const settings = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, ...(SEED !== undefined && { seed: SEED }) });
/** A parser call slower than this on one short input is treated as catastrophic backtracking. */
const MAX_PARSE_MS = 1_000;
/**
 * Limit for the 10,000-character hostile texts. Parsing is linear at roughly
 * 1 to 8 µs a character, and up to 100 µs on a loaded CI machine. Before the
 * Markdown limits, the quadratic cases here took 6 s and more.
 */
const MAX_HOSTILE_PARSE_MS = 3_000;

// ---------------------------------------------------------------------------
// Generators.

/** Text built from the characters that drive the Markdown, mention and search grammars. */
const grammarText = (pieces: readonly string[], maxLength = 60) =>
  fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 3 })), { maxLength }).map((parts) => parts.join(''));

const MARKDOWN_PIECES = ['@', '@ada', '@channel', '@here', '[', ']', '(', ')', '![', '<', '>', '`', '```', '*', '_', '~', '#', '\\', '\n', ' ', 'http://', 'https://x.test/', 'javascript:', 'mailto:', '<a href="', '&amp;', '&#', '|', '-', '.', ':'];
const SEARCH_PIECES = ['from:', 'in:', 'mentions:', 'has:', 'is:', 'before:', 'after:', 'on:', 'during:', '@', '#', '"', '-', '*', ' ', 'me', 'file', 'link', 'thread', '2024-01-31', 'today', 'yesterday', 'january', '\u3042', '\u0000', '\ud800'];

/** Keys that have tricked JavaScript servers: prototype keys and query operators. */
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', '$gt', '$ne', '$where', 'toString', 'hasOwnProperty'];
/** Values that have tricked JavaScript servers: type confusion, lone surrogates, NUL, huge numbers. */
const HOSTILE_VALUES: unknown[] = ['', ' ', '\u0000', '\ud800', '\udfff', 'a'.repeat(70_000), '1e400', 'NaN', -1, 0, 1e308, -0, 2 ** 53 + 1, true, null, [], {}, [null], { $gt: '' }, ['a', 1]];

const { value: hostileValue } = fc.letrec<{ value: unknown; object: Record<string, unknown>; array: unknown[] }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ maxLength: 20 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom(...HOSTILE_VALUES),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc
    .array(fc.tuple(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom(...HOSTILE_KEYS)), tie('value')), { maxLength: 4 })
    .map((entries) => entriesToObject(entries)),
}));

/** Builds an object with own properties only, so "__proto__" becomes a key and not the prototype. */
function entriesToObject(entries: Array<[string, unknown]>): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [key, value] of entries) Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  return object;
}

/** Generates a valid body with one field replaced or one key added, or a random value instead of the body. */
function bodyAround(valid: Record<string, unknown>) {
  const fields = Object.keys(valid);
  const replaced = fc.tuple(fc.constantFrom(...fields), hostileValue).map(([field, value]) => entriesToObject([...Object.entries(valid).filter(([key]) => key !== field), [field, value]]));
  const extra = fc.tuple(fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ maxLength: 8 })), hostileValue).map(([key, value]) => entriesToObject([...Object.entries(valid), [key, value]]));
  return fc.oneof(replaced, extra, hostileValue);
}

/** Raw bodies that JSON.stringify cannot produce. */
const RAW_BODIES: Array<string | Buffer> = [
  '',
  '{',
  '{"text": "a"',
  '{"text": "\\ud800"}',
  '{"text": 1e99999}',
  `{"text": ${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
  `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`,
  '{"text": "a", "text": {"$gt": ""}}',
  '{"__proto__": {"admin": true}, "text": "a"}',
  '{"constructor": {"prototype": {"admin": true}}, "text": "a"}',
  Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
  Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
  'null',
  '[]',
  '"text"',
  '12',
];

// ---------------------------------------------------------------------------
// Parsers.

/** Runs fn and fails when it takes longer than maxMs. */
function timed<T>(what: string, fn: () => T, maxMs = MAX_PARSE_MS): T {
  const started = performance.now();
  const result = fn();
  const elapsed = performance.now() - started;
  if (elapsed > maxMs) throw new Error(`${what} took ${Math.round(elapsed)} ms`);
  return result;
}

describe('parsers', () => {
  test('search query parser', { timeout: TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(fc.oneof(grammarText(SEARCH_PIECES), fc.string({ maxLength: 200 })), (query) => {
        try {
          timed('parseSearchQuery', () => parseSearchQuery(query, { now: Date.UTC(2026, 0, 15), timeZone: 'Europe/Berlin' }));
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          expect(error.status).toBe(400);
          expect(error.toBody().error.field).toBe('q');
        }
      }),
      settings(PARSER_RUNS),
    );
  });

  test('markdown and mentions', { timeout: TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(fc.oneof(grammarText(MARKDOWN_PIECES, 120), fc.string({ maxLength: 300 })), (text) => {
        const parsed = timed('parseMessageText', () => parseMessageText(text));
        for (const token of [...parsed.mentions, ...parsed.links]) {
          expect(token.offset).toBeGreaterThanOrEqual(0);
          expect(token.offset + token.length).toBeLessThanOrEqual(text.length);
        }
        for (const mention of parsed.mentions) expect(text[mention.offset]).toBe('@');
        for (const link of parsed.links) expect(link.url).toMatch(/^(https?:|mailto:)/i);
      }),
      settings(PARSER_RUNS),
    );
  });

  test('hostile markdown stays fast', () => {
    const hostile = [
      '>'.repeat(9_990) + ' @ada',
      '- '.repeat(4_990) + '@ada',
      '1. '.repeat(3_300) + '@ada',
      '> - '.repeat(2_490) + '@ada',
      '*'.repeat(4_990) + '@ada' + '*'.repeat(4_990),
      '*a_'.repeat(3_300) + '@ada',
      '*_'.repeat(4_990) + '@ada',
      '['.repeat(9_990) + '@ada',
      '[a]('.repeat(2_400) + '@ada',
      '<'.repeat(9_000) + '@ada',
      '`'.repeat(4_990) + '@ada' + '`'.repeat(4_990),
      '@'.repeat(9_990),
    ];

    for (const text of hostile) {
      const parsed = timed(`parseMessageText of ${text.slice(0, 12)}…`, () => parseMessageText(text), MAX_HOSTILE_PARSE_MS);
      expect(parsed.mentions.length).toBeLessThanOrEqual(1);
    }
  });

  test('file names and content disposition', { timeout: TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), grammarText(['/', '\\', '..', '.', '"', '\r\n', '%', "'", '\u202e', '\ufeff', ';', '=', ' '])), (raw) => {
        const name = cleanFileName(raw);
        expect(name.length).toBeGreaterThan(0);
        expect(Buffer.byteLength(name, 'utf8')).toBeLessThanOrEqual(MAX_FILE_NAME_BYTES);
        expect(name).not.toMatch(/[/\\\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/);
        expect(name).not.toMatch(/^\./);
        expect(cleanFileName(name)).toBe(name);

        const header = contentDisposition('attachment', raw);
        expect(() => validateHeaderValue('content-disposition', header)).not.toThrow();
        const match = /^attachment; filename="([^"]*)"; filename\*=UTF-8''([A-Za-z0-9!#$&+.^_`|~%-]*)$/.exec(header);
        expect(match).not.toBeNull();
        expect(decodeURIComponent(match![2]!)).toBe(name);
      }),
      settings(PARSER_RUNS),
    );
  });

  test('hello with odd keys', () => {
    for (const key of ['', 'x'.repeat(10_000)]) {
      const result = parseClientFrame(JSON.stringify({ type: 'hello', [key]: 1 }), false);

      expect('error' in result).toBe(true);
      if (!('error' in result)) continue;
      expect(result.error.field).toBeTruthy();
      expect(result.error.message.length).toBeLessThan(200);
    }
  });

  test('websocket frame parser', { timeout: TIMEOUT_MS }, () => {
    const frameText = fc.oneof(
      fc.string({ maxLength: 100 }),
      hostileValue.map((value) => JSON.stringify(value) ?? 'undefined'),
      fc.tuple(fc.constantFrom('hello', 'ping', 'post', 'presence.watch', 'presence.set', 'typing', 'x'), hostileValue).map(([type, rest]) =>
        JSON.stringify(typeof rest === 'object' && rest !== null && !Array.isArray(rest) ? { ...rest, type } : { type, positions: rest, id: rest }),
      ),
    );
    fc.assert(
      fc.property(frameText, fc.boolean(), (text, isBinary) => {
        const result = timed('parseClientFrame', () => parseClientFrame(text, isBinary));
        if ('error' in result) {
          expect(typeof result.error.code).toBe('string');
          expect(result.error.field ?? '').not.toBe('');
        }
      }),
      settings(PARSER_RUNS),
    );
  });
});

// ---------------------------------------------------------------------------
// HTTP bodies and the WebSocket gateway of a real server.

let server: TestServer;
let owner: TestUser;
let member: TestUser;
let ids: { team: string; channel: string; message: string };
const serverErrors: string[] = [];

beforeAll(async () => {
  server = await startServer({
    rateLimits: { postsPerUserPerMinute: 1_000_000, postsPerAddressPerMinute: 1_000_000, loginPerAddressPerMinute: 1_000_000, loginPerAccountPerMinute: 1_000_000 },
  });
  owner = await buildUser(server.url, 'fuzzowner');
  member = await buildUser(server.url, 'fuzzmember');
  const team = await buildTeam(owner, [member], 'Fuzz');
  const channel = await buildChannel(owner, team.id, { members: [member] });
  const message = await owner.api.post<{ id: string }>(`/api/conversations/${channel.id}/messages`, { text: 'fuzz target' });
  ids = { team: team.id, channel: channel.id, message: message.id };
});
afterAll(async () => server?.close());

interface WriteRoute {
  method: 'POST' | 'PATCH' | 'PUT';
  url: () => string;
  valid: () => Record<string, unknown>;
}

const WRITE_ROUTES: Record<string, WriteRoute> = {
  'post message': { method: 'POST', url: () => `/api/conversations/${ids.channel}/messages`, valid: () => ({ text: 'hi', client_msg_id: 'c1', thread_root_id: ids.message, file_ids: [] }) },
  'edit message': { method: 'PATCH', url: () => `/api/messages/${ids.message}`, valid: () => ({ text: 'edited' }) },
  'create channel': { method: 'POST', url: () => `/api/teams/${ids.team}/channels`, valid: () => ({ name: 'fuzzed', private: true, topic: 't', purpose: 'p' }) },
  'update channel': { method: 'PATCH', url: () => `/api/conversations/${ids.channel}`, valid: () => ({ name: 'renamed', topic: 't', purpose: 'p' }) },
  'invite members': { method: 'POST', url: () => `/api/conversations/${ids.channel}/members`, valid: () => ({ user_ids: [member.id] }) },
  'add team member': { method: 'POST', url: () => `/api/teams/${ids.team}/members`, valid: () => ({ user_id: member.id, username: member.username, role: 'member' }) },
  'team settings': { method: 'PATCH', url: () => `/api/teams/${ids.team}/settings`, valid: () => ({ edit_window_seconds: 60, delete_window_seconds: 60, broadcast_member_limit: 5, retention_days: null }) },
  'open DM': { method: 'POST', url: () => `/api/teams/${ids.team}/dms`, valid: () => ({ user_ids: [member.id] }) },
  'react': { method: 'POST', url: () => `/api/messages/${ids.message}/reactions`, valid: () => ({ emoji: '👍' }) },
  'mark read': { method: 'POST', url: () => `/api/conversations/${ids.channel}/read`, valid: () => ({ seq: 1 }) },
  'update profile': { method: 'PATCH', url: () => '/api/users/me', valid: () => ({ display_name: 'Fuzz', status_text: 's', time_zone: 'UTC' }) },
  'set presence': { method: 'PATCH', url: () => '/api/presence/me', valid: () => ({ manual_status: 'away', dnd_until: null }) },
  'notification preferences': { method: 'PATCH', url: () => '/api/notifications/preferences', valid: () => ({ level: 'all', keywords: ['deploy'] }) },
  'conversation notifications': { method: 'PUT', url: () => `/api/conversations/${ids.channel}/notifications`, valid: () => ({ level: 'mentions', muted: false }) },
  'push subscription': { method: 'POST', url: () => '/api/push/subscriptions', valid: () => ({ endpoint: 'https://push.example.test/x', keys: { p256dh: 'a', auth: 'b' } }) },
  'create team': { method: 'POST', url: () => '/api/teams', valid: () => ({ name: 'Fuzz team' }) },
  'login': { method: 'POST', url: () => '/api/auth/login', valid: () => ({ login: 'nobody', password: 'wrong password' }) },
};

/** Sends a raw body and checks the response: no 5xx, and every 400 names a field. */
async function sendBody(route: WriteRoute, payload: string | Buffer): Promise<void> {
  const response = await server.server.app.inject({
    method: route.method,
    url: route.url(),
    headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
    payload,
  });
  const where = `${route.method} ${route.url()} ${String(payload).slice(0, 200)}`;
  if (response.statusCode >= 500) serverErrors.push(`${where}: ${response.statusCode}`);
  expect(response.statusCode, where).toBeLessThan(500);
  if (response.statusCode < 400) return;

  const error = (JSON.parse(response.body) as { error?: { code?: string; field?: string } }).error;
  expect(typeof error?.code, where).toBe('string');
  if (response.statusCode === 400) expect(error?.field ?? '', `${where}: ${error?.code}`).not.toBe('');
}

describe('json bodies', () => {
  test.each(Object.keys(WRITE_ROUTES))('%s', { timeout: TIMEOUT_MS }, async (name) => {
    const route = WRITE_ROUTES[name]!;
    for (const raw of RAW_BODIES) await sendBody(route, raw);

    await fc.assert(
      fc.asyncProperty(bodyAround(route.valid()), async (body) => {
        await sendBody(route, JSON.stringify(body) ?? 'null');
      }),
      settings(RUNS),
    );
  });

  test('nested markdown message posts', async () => {
    for (const text of ['>'.repeat(9_990) + ' @ada', '- '.repeat(4_990) + '@ada', '*'.repeat(4_990) + '@ada' + '*'.repeat(4_990)]) {
      const started = performance.now();
      const response = await server.server.app.inject({
        method: 'POST',
        url: `/api/conversations/${ids.channel}/messages`,
        headers: { authorization: `Bearer ${owner.token}` },
        payload: { text },
      });

      expect(response.statusCode).toBe(201);
      expect(performance.now() - started).toBeLessThan(MAX_HOSTILE_PARSE_MS);
    }
  });

  test('search queries over http', { timeout: TIMEOUT_MS }, async () => {
    const search = async (encoded: string) => {
      const response = await server.server.app.inject({ method: 'GET', url: `/api/search?q=${encoded}`, headers: { authorization: `Bearer ${owner.token}` } });
      expect(response.statusCode, encoded).toBeLessThan(500);
      if (response.statusCode === 400) expect((JSON.parse(response.body) as { error: { field?: string } }).error.field, encoded).toBe('q');
    };
    // Percent-encodings of invalid UTF-8, which no string encodes to.
    for (const raw of ['%ED%A0%80', '%FF', '%C0%AF', '%00', '%', '%%', '%E2%80%AE', 'a&q=b', '']) await search(raw);

    await fc.assert(
      fc.asyncProperty(fc.oneof(grammarText(SEARCH_PIECES), fc.string({ maxLength: 100 })), async (query) => {
        await search(encodeURIComponent(query.toWellFormed()));
      }),
      settings(RUNS),
    );
  });

  test('uploaded file names', { timeout: TIMEOUT_MS }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 80 }), grammarText(['/', '..', '"', '\r\n', '%00', '\u202e', ';', 'filename=', '\\'])), async (name) => {
        const upload = await server.server.app.inject({
          method: 'POST',
          url: `/api/conversations/${ids.channel}/files?name=${encodeURIComponent(name)}`,
          headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'text/plain' },
          payload: Buffer.from('x'),
        });
        expect(upload.statusCode, name).toBeLessThan(500);
        if (upload.statusCode !== 201) return;

        const { id } = JSON.parse(upload.body) as { id: string };
        const download = await server.server.app.inject({ method: 'GET', url: `/api/files/${id}/content?download=true`, headers: { authorization: `Bearer ${owner.token}` } });
        expect(download.statusCode, name).toBe(200);
        expect(String(download.headers['content-disposition'])).toMatch(/^attachment; filename="[^"\r\n]*"; filename\*=UTF-8''[^\s"]*$/);
      }),
      settings(RUNS),
    );
  });
});

describe('websocket frames', () => {
  const frames = fc.oneof(
    fc.string({ maxLength: 200 }),
    hostileValue.map((value) => JSON.stringify(value) ?? 'null'),
    fc.tuple(fc.constantFrom('hello', 'ping', 'post', 'presence.watch', 'presence.set', 'typing'), hostileValue).map(([type, rest]) =>
      JSON.stringify(typeof rest === 'object' && rest !== null && !Array.isArray(rest) ? { ...rest, type } : { type, conversation_id: rest, positions: rest, id: rest, body: rest }),
    ),
  );

  /** Close codes the gateway may use for a bad frame; 1011 (internal error) is never one. */
  const EXPECTED_CLOSES = new Set([1000, 1002, 1007, 1008, 1009, 4000, 4001, 4002, 4003, 4008, 4400]);

  test('random frames', { timeout: TIMEOUT_MS }, async () => {
    let socket: FrameSocket | undefined;
    let probe = 0;
    const opened: FrameSocket[] = [];
    const closes: number[] = [];

    await fc.assert(
      fc.asyncProperty(fc.array(frames, { minLength: 1, maxLength: 5 }), async (batch) => {
        if (socket === undefined || socket.ws.readyState !== socket.ws.OPEN) {
          socket = await openFrameSocket(server.wsUrl, { headers: { authorization: `Bearer ${member.token}` } });
          opened.push(socket);
          const current = socket;
          void current.closed.then(({ code }) => closes.push(code));
        }
        for (const text of batch) socket.send(text);

        probe += 1;
        const id = `probe-${probe}`;
        socket.send({ type: 'ping', id });
        const current = socket;
        const answered = await Promise.race([
          current.waitForFrame((frame) => frame.type === 'pong' && frame.id === id, 5_000, 'the pong').then(() => true),
          current.closed.then(() => false),
        ]);
        if (!answered) socket = undefined;
      }),
      settings(RUNS),
    );

    // Only the server's closes count. A socket that a valid hello kept open is closed here by the
    // test, without a code, so the client reports 1005 for it.
    const serverCloses = [...closes];
    for (const open of opened) await open.close();
    expect(serverCloses.filter((code) => !EXPECTED_CLOSES.has(code))).toEqual([]);
    const health = await server.server.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
  });
});

test('no response is 5xx', () => {
  expect(serverErrors).toEqual([]);
});
