import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { buildChatterBox } from '../../src/http/app.js';
import { buildConfig, loadConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { startServer, TEST_DATABASE_URL, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

async function postRaw(path: string, body: Buffer | string, headers: Record<string, string>) {
  const response = await fetch(server.url + path, { method: 'POST', body, headers });
  return { status: response.status, body: (await response.json()) as { error: { code: string; field?: string } } };
}

test('invalid UTF-8 body is rejected', async () => {
  const alice = await buildUser(server.url, 'alice');
  const team = await buildTeam(alice);
  const body = Buffer.concat([Buffer.from('{"text":"bad '), Buffer.from([0xff, 0xfe]), Buffer.from(' bytes"}')]);
  const response = await postRaw(`/api/conversations/${team.generalId}/messages`, body, {
    authorization: `Bearer ${alice.token}`,
    'content-type': 'application/json',
  });
  expect(response.status).toBe(400);
  expect(response.body.error.code).toBe('INVALID_JSON');
  expect(response.body.error.field).toBe('body');
  const history = await alice.api.get<{ messages: unknown[] }>(`/api/conversations/${team.generalId}/messages`);
  expect(history.messages).toHaveLength(0);
});

test('non-UTF-8 charset gets 415', async () => {
  const response = await postRaw('/api/auth/login', '{"login":"x","password":"y"}', { 'content-type': 'application/json; charset=iso-8859-1' });
  expect(response.status).toBe(415);
  expect(response.body.error.field).toBe('content-type');
});

test('plain text body gets 415', async () => {
  const response = await postRaw('/api/auth/login', '{"login":"x","password":"y"}', { 'content-type': 'text/plain' });
  expect(response.status).toBe(415);
  expect(response.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
});

test('proto key is an unknown field', async () => {
  const response = await postRaw('/api/auth/login', '{"login":"x","password":"y","__proto__":{"admin":true}}', { 'content-type': 'application/json' });
  expect(response.status).toBe(400);
  expect(response.body.error.code).toBe('VALIDATION_FAILED');
  expect(response.body.error.field).toBe('__proto__');
});

test('broken URL encoding uses error body', async () => {
  const response = await fetch(`${server.url}/api/conversations/%E0%A4%A`);
  expect(response.status).toBe(400);
  const body = (await response.json()) as { error: { code: string; field: string } };
  expect(body.error.code).toBe('VALIDATION_FAILED');
  expect(body.error.field).toBe('url');
});

test('e-mail with control character rejected', async () => {
  const api = new ApiClient(server.url);
  const response = await api.raw('POST', '/api/auth/register', {
    email: 'nul\u0000@example.test',
    username: 'nulmail',
    password: 'correct horse battery',
    display_name: 'Nul',
  });
  expect(response.status).toBe(400);
  expect((response.body as { error: { field: string } }).error.field).toBe('email');
});

test('NUL character rejected everywhere', async () => {
  const alice = await buildUser(server.url, 'alice');
  const team = await buildTeam(alice);
  const cases: Array<[string, string, unknown, string]> = [
    ['POST', '/api/auth/login', { login: '\u0000', password: 'wrong password' }, 'login'],
    ['POST', `/api/conversations/${team.generalId}/messages`, { text: 'before\u0000after' }, 'text'],
    ['POST', `/api/teams/${team.id}/members`, { username: 'bob\u0000' }, 'username'],
    ['GET', `/api/search?team_id=${team.id}&q=${encodeURIComponent('deploy\u0000')}`, undefined, 'q'],
  ];
  for (const [method, url, body, field] of cases) {
    const response = await alice.api.raw(method, url, body);
    expect(response.status, url).toBe(400);
    expect((response.body as { error: { code: string; field: string } }).error, url).toMatchObject({ code: 'VALIDATION_FAILED', field });
  }
});

test('time zone stored in IANA spelling', async () => {
  const alice = await buildUser(server.url, 'alice');
  const updated = await alice.api.patch<{ time_zone: string }>('/api/users/me', { time_zone: 'europe/paris' });
  expect(updated.time_zone).toBe('Europe/Paris');
});

test('registrations limited per address', async () => {
  const limited = await startServer({ rateLimits: { registrationsPerAddressPerHour: 2 } });
  try {
    await buildUser(limited.url, 'first');
    await buildUser(limited.url, 'second');
    const response = await new ApiClient(limited.url).raw('POST', '/api/auth/register', {
      email: 'third@example.test',
      username: 'third',
      password: 'correct horse battery',
      display_name: 'Third',
    });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).not.toBeNull();
  } finally {
    await limited.close();
  }
});

test('password change guesses limited', async () => {
  const limited = await startServer({ rateLimits: { loginPerAccountPerMinute: 2 } });
  try {
    const alice = await buildUser(limited.url, 'alice');
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const response = await alice.api.raw('POST', '/api/users/me/password', { current_password: 'wrong guess', new_password: 'another long password' });
      statuses.push(response.status);
    }
    expect(statuses).toEqual([401, 401, 429]);
  } finally {
    await limited.close();
  }
});

test('sockets limited per user', async () => {
  const limited = await startServer({ ws: { maxConnectionsPerUser: 2 } });
  try {
    const alice = await buildUser(limited.url, 'alice');
    const wsUrl = limited.wsUrl;
    const open = () =>
      new Promise<{ socket?: WebSocket; status?: number }>((resolve) => {
        const socket = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${alice.token}` } });
        socket.once('open', () => resolve({ socket }));
        socket.once('unexpected-response', (_request, response) => resolve({ status: response.statusCode }));
      });
    const first = await open();
    const second = await open();
    const third = await open();
    expect(first.socket).toBeDefined();
    expect(second.socket).toBeDefined();
    expect(third.status).toBe(429);

    first.socket?.close();
    await new Promise((resolve) => first.socket?.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const fourth = await open();
    expect(fourth.socket).toBeDefined();
    second.socket?.close();
    fourth.socket?.close();
  } finally {
    await limited.close();
  }
});

test('query-string tokens are not logged', async () => {
  const lines: string[] = [];
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
  const dataDir = fs.mkdtempSync(path.join(server.dataDir, 'log-'));
  const node = await buildChatterBox(buildConfig({ port: 0, dataDir, ...(TEST_DATABASE_URL && { dataDir }) }), createLogger('info', destination));
  try {
    const url = await node.listen();
    await fetch(`${url}/api/users/me?token=cbs_secret_value_123&limit=5`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const log = lines.join('');
    expect(log).toContain('/api/users/me?token=[redacted]&limit=5');
    expect(log).not.toContain('cbs_secret_value_123');
  } finally {
    await node.close();
  }
});

test('database file private to owner', () => {
  if (TEST_DATABASE_URL !== undefined) return;
  const mode = fs.statSync(path.join(server.dataDir, 'chatterbox.db')).mode & 0o777;
  expect(mode).toBe(0o600);
});

test('invalid log level listed at start', () => {
  let message = '';
  try {
    loadConfig({ LOG_LEVEL: 'loud', PORT: 'x' });
  } catch (error) {
    message = (error as Error).message;
  }
  expect(message).toContain('LOG_LEVEL must be one of');
  expect(message).toContain('PORT must be');
});
