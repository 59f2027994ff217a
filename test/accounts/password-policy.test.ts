import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { expectError } from '../helpers/assertions.js';
import { buildUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

function registration(password: string, username = `pw_${randomBytes(4).toString('hex')}`) {
  return { email: `${username}@example.test`, username, password, display_name: 'Password Test' };
}

function register(body: Record<string, unknown>) {
  return new ApiClient(server.url).raw('POST', '/api/auth/register', body);
}

test.each([
  ['password', 'common'],
  ['Password', 'common'],
  ['iloveyou', 'common'],
  ['qwertyuiop', 'common'],
  ['1qaz2wsx', 'common'],
  ['zzzzzzzzzz', 'repetitive'],
  ['abcdefghij', 'repetitive'],
  ['98765432', 'repetitive'],
])('weak password %s rejected', async (password, reason) => {
  const response = await register(registration(password));

  expectError(response, 400, 'WEAK_PASSWORD', 'password');
  expect((response.body as { error: { reason: string } }).error.reason).toBe(reason);
});

test.each([
  ['username', (name: string) => name],
  ['username upper case with digits', (name: string) => `${name.toUpperCase()}2024!`],
  ['e-mail address', (name: string) => `${name}@example.test`],
  ['service name', () => 'ChatterBox123'],
])('password equal to %s rejected', async (_case, makePassword) => {
  const username = `pwname_${randomBytes(4).toString('hex')}`;

  const response = await register(registration(makePassword(username), username));

  expectError(response, 400, 'WEAK_PASSWORD', 'password');
  expect((response.body as { error: { reason: string } }).error.reason).toBe('account_name');
});

test.each([
  ['eight lowercase letters', 'plumtree'],
  ['passphrase of 64 characters', 'a long passphrase with spaces that anyone can remember easily !!'],
  ['passphrase of 256 characters', 'x'.repeat(100) + 'y'.repeat(100) + 'a quiet lake at dawn, with fog'.padEnd(56, '.')],
  ['unicode passphrase', 'grüße aus köln 🌧'],
])('%s accepted without composition rules', async (_case, password) => {
  const response = await register(registration(password));

  expect(response.status).toBe(201);
});

test('password too short rejected', async () => {
  expectError(await register(registration('seven77')), 400, 'VALIDATION_FAILED', 'password');
});

test('password over 256 characters rejected', async () => {
  expectError(await register(registration('p'.repeat(128) + 'q'.repeat(129))), 400, 'VALIDATION_FAILED', 'password');
});

test('change to common password rejected', async () => {
  const user = await buildUser(server.url, 'pwchange');

  const response = await user.api.raw('POST', '/api/users/me/password', { current_password: 'correct horse battery', new_password: 'baseball' });

  expectError(response, 400, 'WEAK_PASSWORD', 'new_password');
  const login = await new ApiClient(server.url).raw('POST', '/api/auth/login', { login: user.username, password: 'correct horse battery' });
  expect(login.status).toBe(200);
});

test('change to own username rejected', async () => {
  const user = await buildUser(server.url, 'pwself');

  const response = await user.api.raw('POST', '/api/users/me/password', { current_password: 'correct horse battery', new_password: user.username });

  expectError(response, 400, 'WEAK_PASSWORD', 'new_password');
});
