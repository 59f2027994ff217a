import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient, type RawResponse } from '../../src/client/api.js';
import { expectError } from '../helpers/assertions.js';
import { buildUser, type TestUser } from '../helpers/factories.js';
import { settle } from '../helpers/realtime.js';
import { removeDataDir, startServer, type TestServer } from '../helpers/server.js';
import { TEST_REDIS_URL } from '../helpers/redis.js';

const PASSWORD = 'correct horse battery';
const THROTTLE = {
  freeFailuresPerAccountAddress: 2,
  freeFailuresPerAccount: 4,
  freeFailuresPerAddress: 6,
  maxDelaySeconds: 4,
  maxAccountDelaySeconds: 2,
};

let server: TestServer;
beforeAll(async () => {
  // Addresses come from X-Forwarded-For, so one test can log in from several.
  server = await startServer({ trustedProxies: ['127.0.0.1', '::1'], loginThrottle: THROTTLE, rateLimits: { loginPerAddressPerMinute: 10_000 } });
});
afterAll(async () => server.close());

let addressCounter = 0;
function newAddress(): string {
  addressCounter += 1;
  return `198.51.100.${addressCounter}`;
}

function login(login: string, password: string, address: string, url = server.url): Promise<RawResponse> {
  return new ApiClient(url).raw('POST', '/api/auth/login', { login, password }, { 'x-forwarded-for': address });
}

function retryAfterOf(response: RawResponse): number {
  return (response.body as { error: { retryAfterSeconds: number } }).error.retryAfterSeconds;
}

async function failTimes(user: TestUser, address: string, times: number): Promise<void> {
  for (let attempt = 0; attempt < times; attempt += 1) expectError(await login(user.username, 'wrong password', address), 401, 'INVALID_CREDENTIALS');
}

test('backoff doubles per account and address', async () => {
  const user = await buildUser(server.url, 'backoff');
  const address = newAddress();
  await failTimes(user, address, 3);

  const blocked = await login(user.username, PASSWORD, address);

  expectError(blocked, 429, 'RATE_LIMITED');
  expect(retryAfterOf(blocked)).toBe(1);
  expect(blocked.headers.get('retry-after')).toBe('1');

  await settle(1100);
  await failTimes(user, address, 1);
  const doubled = await login(user.username, PASSWORD, address);
  expectError(doubled, 429, 'RATE_LIMITED');
  expect(retryAfterOf(doubled)).toBe(2);
});

test('backoff capped at maximum', async () => {
  const user = await buildUser(server.url, 'capped');
  const address = newAddress();
  await failTimes(user, address, 3);
  for (const wait of [1, 2]) {
    await settle(wait * 1000 + 100);
    await failTimes(user, address, 1);
  }
  await settle(4100);
  await failTimes(user, address, 1);

  const blocked = await login(user.username, PASSWORD, address);

  expectError(blocked, 429, 'RATE_LIMITED');
  expect(retryAfterOf(blocked)).toBe(THROTTLE.maxDelaySeconds);
});

test('other address keeps logging in', async () => {
  const user = await buildUser(server.url, 'otheraddr');
  const attacker = newAddress();
  await failTimes(user, attacker, 3);
  expectError(await login(user.username, PASSWORD, attacker), 429, 'RATE_LIMITED');

  const owner = await login(user.username, PASSWORD, newAddress());

  expect(owner.status).toBe(200);
});

test('account backs off across addresses', async () => {
  const user = await buildUser(server.url, 'distributed');
  for (let attempt = 0; attempt < THROTTLE.freeFailuresPerAccount + 1; attempt += 1) await failTimes(user, newAddress(), 1);

  const blocked = await login(user.username, PASSWORD, newAddress());

  expectError(blocked, 429, 'RATE_LIMITED');
  expect(retryAfterOf(blocked)).toBeLessThanOrEqual(THROTTLE.maxAccountDelaySeconds);
  await settle(retryAfterOf(blocked) * 1000 + 100);
  expect((await login(user.username, PASSWORD, newAddress())).status).toBe(200);
});

test('address backs off across accounts', async () => {
  const sprayer = newAddress();
  for (let attempt = 0; attempt < THROTTLE.freeFailuresPerAddress + 1; attempt += 1) {
    expectError(await login(`nobody_${randomBytes(4).toString('hex')}`, PASSWORD, sprayer), 401, 'INVALID_CREDENTIALS');
  }
  const user = await buildUser(server.url, 'sprayed');

  expectError(await login(user.username, PASSWORD, sprayer), 429, 'RATE_LIMITED');
  expect((await login(user.username, PASSWORD, newAddress())).status).toBe(200);
});

test('success forgets failures', async () => {
  const user = await buildUser(server.url, 'forgets');
  const address = newAddress();
  await failTimes(user, address, 2);
  expect((await login(user.username, PASSWORD, address)).status).toBe(200);

  await failTimes(user, address, 2);

  expect((await login(user.username, PASSWORD, address)).status).toBe(200);
});

test('unknown login throttled like an account', async () => {
  const name = `ghost_${randomBytes(4).toString('hex')}`;
  const address = newAddress();
  for (let attempt = 0; attempt < 3; attempt += 1) expectError(await login(name, PASSWORD, address), 401, 'INVALID_CREDENTIALS');

  expectError(await login(name.toUpperCase(), PASSWORD, address), 429, 'RATE_LIMITED');
});

test.skipIf(TEST_REDIS_URL === undefined)('backoff shared between nodes', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-throttle-'));
  const options = { dataDir, trustedProxies: ['127.0.0.1', '::1'], loginThrottle: THROTTLE, rateLimits: { loginPerAddressPerMinute: 10_000 } };
  const first = await startServer(options);
  const second = await startServer(options);
  try {
    const user = await buildUser(first.url, 'twonodes');
    const address = newAddress();
    for (let attempt = 0; attempt < 3; attempt += 1) expectError(await login(user.username, 'wrong password', address, first.url), 401, 'INVALID_CREDENTIALS');

    expectError(await login(user.username, PASSWORD, address, second.url), 429, 'RATE_LIMITED');
  } finally {
    await first.close();
    await second.close();
    await removeDataDir(dataDir);
  }
});
