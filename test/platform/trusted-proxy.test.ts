import { expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { loadConfig } from '../../src/platform/config.js';
import { startServer } from '../helpers/server.js';

let counter = 0;

/** Registers a fresh account as if from `forwardedFor`, and returns the status. */
async function registerFrom(url: string, forwardedFor: string): Promise<number> {
  counter += 1;
  const response = await new ApiClient(url).raw(
    'POST',
    '/api/auth/register',
    { email: `proxy${counter}@example.test`, username: `proxy${counter}`, password: 'correct horse battery', display_name: 'Proxied' },
    { 'x-forwarded-for': forwardedFor },
  );
  return response.status;
}

test('trusted proxy separates client addresses', async () => {
  const server = await startServer({ trustedProxies: ['127.0.0.1', '::1'], rateLimits: { registrationsPerAddressPerHour: 1 } });
  try {
    expect(await registerFrom(server.url, '203.0.113.5')).toBe(201);
    expect(await registerFrom(server.url, '203.0.113.5')).toBe(429);
    expect(await registerFrom(server.url, '203.0.113.6')).toBe(201);
  } finally {
    await server.close();
  }
});

test('untrusted forwarded header is ignored', async () => {
  const server = await startServer({ rateLimits: { registrationsPerAddressPerHour: 1 } });
  try {
    expect(await registerFrom(server.url, '203.0.113.5')).toBe(201);
    expect(await registerFrom(server.url, '203.0.113.6')).toBe(429);
  } finally {
    await server.close();
  }
});

test('invalid trusted proxy entry listed', () => {
  expect(() => loadConfig({ CHATTERBOX_TRUSTED_PROXIES: '10.0.0.0/8, proxy.example' })).toThrow(/CHATTERBOX_TRUSTED_PROXIES entry "proxy.example"/);
  expect(loadConfig({ CHATTERBOX_TRUSTED_PROXIES: '10.0.0.0/8, ::1' }).trustedProxies).toEqual(['10.0.0.0/8', '::1']);
});
