import Fastify from 'fastify';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { DEFAULT_CONTENT_SECURITY_POLICY, registerSecurityHeaders } from '../../src/http/security-headers.js';
import { buildUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server.close());

const EXPECTED = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'content-security-policy': DEFAULT_CONTENT_SECURITY_POLICY,
};

function expectSecurityHeaders(headers: Headers): void {
  for (const [name, value] of Object.entries(EXPECTED)) expect(headers.get(name), name).toBe(value);
  expect(headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
}

test('headers on success', async () => {
  const user = await buildUser(server.url, 'headers');

  const response = await user.api.raw('GET', '/api/users/me');

  expect(response.status).toBe(200);
  expectSecurityHeaders(response.headers);
});

test('headers on errors', async () => {
  const anonymous = new ApiClient(server.url);

  for (const response of [
    await anonymous.raw('GET', '/api/users/me'),
    await anonymous.raw('GET', '/no/such/route'),
    await anonymous.raw('POST', '/api/auth/login', '{"broken": '),
  ]) {
    expect(response.status).toBeGreaterThanOrEqual(400);
    expectSecurityHeaders(response.headers);
  }
});

test('no hsts over plain http', async () => {
  const response = await fetch(`${server.url}/healthz`);

  expect(response.headers.get('strict-transport-security')).toBeNull();
});

test('headers on html page', async () => {
  const response = await fetch(`${server.url}/api/docs/static/index.html`);

  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  expectSecurityHeaders(response.headers);
});

test('route policy overrides default', async () => {
  const app = Fastify();
  registerSecurityHeaders(app);
  app.get('/page', async (_request, reply) => reply.header('content-security-policy', "default-src 'none'").type('text/html').send('<p>hi</p>'));
  try {
    const response = await app.inject({ method: 'GET', url: '/page' });

    expect(response.headers['content-security-policy']).toBe("default-src 'none'");
    expect(response.headers['x-frame-options']).toBe('DENY');
  } finally {
    await app.close();
  }
});

test('trusted tls proxy gets hsts and secure cookie', async () => {
  const proxied = await startServer({ trustedProxies: ['127.0.0.1', '::1'] });
  try {
    const response = await new ApiClient(proxied.url).raw(
      'POST',
      '/api/auth/register',
      { email: 'proxied-tls@example.test', username: 'proxied_tls', password: 'correct horse battery', display_name: 'Proxied' },
      { 'x-forwarded-proto': 'https' },
    );

    expect(response.status).toBe(201);
    expect(response.headers.get('strict-transport-security')).toMatch(/^max-age=\d+$/);
    const cookie = response.headers.getSetCookie().find((value) => value.startsWith('cb_session='));
    expect(cookie).toMatch(/;\s*Secure/i);
  } finally {
    await proxied.close();
  }
});

test('untrusted forwarded proto ignored', async () => {
  const response = await new ApiClient(server.url).raw(
    'POST',
    '/api/auth/register',
    { email: 'spoofed-tls@example.test', username: 'spoofed_tls', password: 'correct horse battery', display_name: 'Spoofed' },
    { 'x-forwarded-proto': 'https' },
  );

  expect(response.status).toBe(201);
  expect(response.headers.get('strict-transport-security')).toBeNull();
  const cookie = response.headers.getSetCookie().find((value) => value.startsWith('cb_session='));
  expect(cookie).not.toMatch(/;\s*Secure/i);
});
