import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/platform/config.js';
import { HSTS_MAX_AGE_SECONDS } from '../../src/http/security-headers.js';
import { waitUntil } from '../helpers/realtime.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { createCertificate, httpsRequest, tryHandshake, type TestCertificate } from '../helpers/tls.js';

interface Registered {
  token: string;
  cookie: string | undefined;
}

let counter = 0;

async function register(url: string, ca: string): Promise<Registered & { headers: Record<string, unknown> }> {
  counter += 1;
  const username = `tls${counter}_${process.pid}`;
  const response = await httpsRequest(`${url}/api/auth/register`, {
    ca,
    method: 'POST',
    body: { email: `${username}@example.test`, username, password: 'correct horse battery', display_name: 'TLS user' },
  });
  expect(response.status).toBe(201);
  const setCookie = response.headers['set-cookie'];
  return {
    token: (response.body as { token: string }).token,
    cookie: Array.isArray(setCookie) ? setCookie.find((cookie) => cookie.startsWith('cb_session=')) : undefined,
    headers: response.headers,
  };
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

describe('server with a certificate', () => {
  let certificate: TestCertificate;
  let server: TestServer;

  beforeAll(async () => {
    certificate = createCertificate('first');
    server = await startServer({ tls: { certFile: certificate.certFile, keyFile: certificate.keyFile, reloadCheckIntervalMs: 100 } });
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(certificate.dir, { recursive: true, force: true });
  });

  test('https serves the API', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    const { token, cookie, headers } = await register(server.url, certificate.cert);

    expect(token).toMatch(/^cbs_/);
    expect(cookie).toMatch(/;\s*Secure/i);
    expect(cookie).toMatch(/;\s*HttpOnly/i);
    expect(cookie).toMatch(/;\s*SameSite=Lax/i);
    expect(headers['strict-transport-security']).toBe(`max-age=${HSTS_MAX_AGE_SECONDS}`);
  });

  test('wss delivers events', async () => {
    const { token } = await register(server.url, certificate.cert);
    const team = await httpsRequest(`${server.url}/api/teams`, { ca: certificate.cert, method: 'POST', headers: { authorization: `Bearer ${token}` }, body: { name: 'Secure' } });
    const generalId = (team.body as { general_conversation_id: string }).general_conversation_id;
    const socket = new WebSocket(server.wsUrl, { ca: certificate.cert, headers: { authorization: `Bearer ${token}` } });
    const frames: Array<{ type: string; event?: string; data?: { message?: { text: string } } }> = [];
    socket.on('message', (data) => frames.push(JSON.parse(data.toString()) as (typeof frames)[number]));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(JSON.stringify({ type: 'hello', positions: {} }));
    await waitUntil(() => frames.some((frame) => frame.type === 'ready'), 5000, 'the ready frame');

    await httpsRequest(`${server.url}/api/conversations/${generalId}/messages`, {
      ca: certificate.cert,
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: { text: 'over wss' },
    });

    await waitUntil(() => frames.some((frame) => frame.data?.message?.text === 'over wss'), 5000, 'the posted message');
    expect(server.wsUrl).toMatch(/^wss:/);
    socket.close();
  });

  test('plain http refused on tls port', async () => {
    await expect(fetch(server.url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
  });

  test('untrusted certificate refused by client', async () => {
    const other = createCertificate('other');
    try {
      await expect(httpsRequest(`${server.url}/healthz`, { ca: other.cert })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    } finally {
      fs.rmSync(other.dir, { recursive: true, force: true });
    }
  });

  test('tls 1.1 refused', async () => {
    const result = await tryHandshake(portOf(server.url), certificate.cert, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });

    expect(result).toHaveProperty('error');
  });

  test('tls 1.2 cbc cipher refused', async () => {
    const result = await tryHandshake(portOf(server.url), certificate.cert, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384' });

    expect(result).toHaveProperty('error');
  });

  test('tls 1.2 gcm accepted', async () => {
    const result = await tryHandshake(portOf(server.url), certificate.cert, { maxVersion: 'TLSv1.2' });

    expect(result).toEqual({ protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
  });

  test('tls 1.3 accepted', async () => {
    const result = await tryHandshake(portOf(server.url), certificate.cert, {});

    expect(result).toMatchObject({ protocol: 'TLSv1.3' });
  });
});

describe('certificate reload', () => {
  test('renewed files served without restart', async () => {
    const first = createCertificate('before-renewal');
    const server = await startServer({ tls: { certFile: first.certFile, keyFile: first.keyFile, reloadCheckIntervalMs: 50 } });
    try {
      const { token } = await register(server.url, first.cert);
      const socket = new WebSocket(server.wsUrl, { ca: first.cert, headers: { authorization: `Bearer ${token}` } });
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));

      // Renewal writes a new pair over the same paths, as certbot's deploy hooks do.
      const renewed = createCertificate('after-renewal', first.dir);

      let served = '';
      for (let attempt = 0; attempt < 100 && served !== 'after-renewal'; attempt += 1) {
        served = await httpsRequest(`${server.url}/healthz`, { ca: `${first.cert}${renewed.cert}` }).then((response) => response.peerCommonName);
        if (served !== 'after-renewal') await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(served).toBe('after-renewal');
      // The socket opened before the renewal stays open.
      socket.ping();
      await new Promise((resolve) => socket.once('pong', resolve));
      expect(socket.readyState).toBe(WebSocket.OPEN);
      socket.close();
    } finally {
      await server.close();
      fs.rmSync(first.dir, { recursive: true, force: true });
    }
  });

  test('reload on demand', async () => {
    const first = createCertificate('on-demand-before');
    const server = await startServer({ tls: { certFile: first.certFile, keyFile: first.keyFile, reloadCheckIntervalMs: 3_600_000 } });
    try {
      const renewed = createCertificate('on-demand-after', first.dir);

      expect(server.server.reloadCertificate()).toBe(true);

      const response = await httpsRequest(`${server.url}/healthz`, { ca: renewed.cert });
      expect(response.peerCommonName).toBe('on-demand-after');
    } finally {
      await server.close();
      fs.rmSync(first.dir, { recursive: true, force: true });
    }
  });

  test('mismatched renewal keeps current certificate', async () => {
    const first = createCertificate('kept');
    const server = await startServer({ tls: { certFile: first.certFile, keyFile: first.keyFile, reloadCheckIntervalMs: 3_600_000 } });
    const other = createCertificate('mismatched');
    try {
      // A half-finished renewal: the new certificate is in place, its key not yet.
      fs.copyFileSync(other.certFile, first.certFile);

      expect(server.server.reloadCertificate()).toBe(false);

      const response = await httpsRequest(`${server.url}/healthz`, { ca: first.cert });
      expect(response.status).toBe(200);
      expect(response.peerCommonName).toBe('kept');
    } finally {
      await server.close();
      fs.rmSync(first.dir, { recursive: true, force: true });
      fs.rmSync(other.dir, { recursive: true, force: true });
    }
  });

  test('reload without tls returns false', async () => {
    const server = await startServer();
    try {
      expect(server.server.reloadCertificate()).toBe(false);
    } finally {
      await server.close();
    }
  });
});

describe('tls configuration', () => {
  test('certificate without key listed', () => {
    const certificate = createCertificate();
    try {
      expect(() => loadConfig({ CHATTERBOX_TLS_CERT: certificate.certFile })).toThrow(/CHATTERBOX_TLS_CERT and CHATTERBOX_TLS_KEY must be set together/);
    } finally {
      fs.rmSync(certificate.dir, { recursive: true, force: true });
    }
  });

  test('missing certificate file listed', () => {
    const missing = path.join(process.cwd(), 'no-such-dir', 'cert.pem');

    expect(() => loadConfig({ CHATTERBOX_TLS_CERT: missing, CHATTERBOX_TLS_KEY: missing })).toThrow(/CHATTERBOX_TLS_CERT must name a readable file/);
  });

  test('valid pair accepted', () => {
    const certificate = createCertificate();
    try {
      const config = loadConfig({ CHATTERBOX_TLS_CERT: certificate.certFile, CHATTERBOX_TLS_KEY: certificate.keyFile });
      expect(config.tls.certFile).toBe(certificate.certFile);
      expect(config.tls.keyFile).toBe(certificate.keyFile);
    } finally {
      fs.rmSync(certificate.dir, { recursive: true, force: true });
    }
  });
});
