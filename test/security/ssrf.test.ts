import { createECDH, randomBytes, randomUUID } from 'node:crypto';
import type dns from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AddressGuard, EndpointRejected, type ResolveAll } from '../../src/notifications/push/address-guard.js';
import type { PushSender } from '../../src/notifications/push/sender.js';
import type { PushSubscriptionRow } from '../../src/storage/schema.js';
import { buildUser, type TestUser } from '../helpers/factories.js';
import { startServer, type TestServer } from '../helpers/server.js';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';

/**
 * Server-side request forgery through push subscription endpoints, the only
 * addresses the server fetches on a user's behalf. Every spelling of a
 * loopback, private, link-local or metadata address must be rejected, and so
 * must names that resolve to one, through a resolver this test controls. The
 * listeners on 127.0.0.2 and 127.0.0.3 count every connection they get.
 */

/** Addresses a push endpoint must never reach, each with a reason. */
const BLOCKED_SPELLINGS: Array<[string, string]> = [
  ['https://127.0.0.1/', 'loopback'],
  ['https://127.1/', 'short loopback'],
  ['https://127.0.1/', 'three-part loopback'],
  ['https://2130706433/', 'decimal loopback'],
  ['https://017700000001/', 'octal loopback'],
  ['https://0177.0.0.1/', 'octal first octet'],
  ['https://0x7f000001/', 'hex loopback'],
  ['https://0x7f.0x0.0x0.0x1/', 'hex octets'],
  ['https://0x7f.1/', 'hex short loopback'],
  ['https://127.0.0.1./', 'trailing dot'],
  ['https://%31%32%37.0.0.1/', 'percent-encoded'],
  ['https://\uff11\uff12\uff17.0.0.1/', 'full-width digits'],
  ['https://0/', 'zero'],
  ['https://0.0.0.0/', 'unspecified'],
  ['https://10.1.2.3/', 'private 10/8'],
  ['https://172.16.0.1/', 'private 172.16/12'],
  ['https://192.168.1.1/', 'private 192.168/16'],
  ['https://100.64.0.1/', 'carrier-grade NAT'],
  ['https://169.254.169.254/', 'metadata'],
  ['https://2852039166/', 'decimal metadata'],
  ['https://0xa9fea9fe/', 'hex metadata'],
  ['https://0251.0376.0251.0376/', 'octal metadata'],
  ['https://100.100.100.200/', 'Alibaba metadata'],
  ['https://224.0.0.1/', 'multicast'],
  ['https://255.255.255.255/', 'broadcast'],
  ['https://[::1]/', 'IPv6 loopback'],
  ['https://[0:0:0:0:0:0:0:1]/', 'IPv6 loopback in full'],
  ['https://[::]/', 'IPv6 unspecified'],
  ['https://[::ffff:127.0.0.1]/', 'IPv4-mapped loopback'],
  ['https://[::ffff:7f00:1]/', 'IPv4-mapped loopback in hex'],
  ['https://[::ffff:169.254.169.254]/', 'IPv4-mapped metadata'],
  ['https://[0:0:0:0:0:ffff:10.0.0.1]/', 'IPv4-mapped private'],
  ['https://[::127.0.0.1]/', 'IPv4-compatible loopback'],
  ['https://[::ffff:0:7f00:1]/', 'IPv4-translated loopback'],
  ['https://[64:ff9b::7f00:1]/', 'NAT64 loopback'],
  ['https://[64:ff9b::a9fe:a9fe]/', 'NAT64 metadata'],
  ['https://[64:ff9b:1::a00:1]/', 'local-use NAT64 private'],
  ['https://[2002:7f00:1::]/', '6to4 loopback'],
  ['https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', 'Teredo'],
  ['https://[fe80::1]/', 'IPv6 link-local'],
  ['https://[fc00::1]/', 'unique local'],
  ['https://[fd00:ec2::254]/', 'AWS IPv6 metadata'],
  ['https://[fec0::1]/', 'site-local'],
  ['https://[ff02::1]/', 'IPv6 multicast'],
];

/** Names the test's resolver answers; the real DNS is never asked. */
const ZONE: Record<string, string[]> = {
  'internal.test': ['10.0.0.5'],
  'metadata.test': ['169.254.169.254'],
  'loopback6.test': ['::1'],
  'mapped.test': ['::ffff:127.0.0.1'],
  'mixed.test': ['93.184.216.34', '127.0.0.1'],
  'public.test': ['93.184.216.34'],
};

const resolveFromZone: ResolveAll = async (hostname) => {
  const addresses = ZONE[hostname.toLowerCase().replace(/\.$/, '')];
  if (addresses === undefined) throw Object.assign(new Error(`${hostname} not found`), { code: 'ENOTFOUND' });
  return addresses.map((address): dns.LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
};

interface Certificate {
  dir: string;
  certFile: string;
  cert: string;
  key: string;
}

/** Creates a self-signed certificate for the push services on 127.0.0.2 and 127.0.0.3. */
async function createCertificate(): Promise<Certificate> {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.3' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.3' }, { type: 7, ip: '127.0.0.2' }] },
    ],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-ssrf-'));
  const certFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(certFile, pems.cert);
  return { dir, certFile, cert: pems.cert, key: pems.private };
}

/** An HTTPS listener that counts connections and replies to every request with `respond`. */
interface Listener {
  origin: string;
  connections: number;
  requests: number;
  close(): Promise<void>;
}

async function listen(certificate: Certificate, host: string, respond: (response: http.ServerResponse) => void): Promise<Listener> {
  const server = https.createServer({ cert: certificate.cert, key: certificate.key });
  const listener: Listener = { origin: '', connections: 0, requests: 0, close: () => new Promise((resolve) => server.close(() => resolve())) };
  server.on('connection', () => (listener.connections += 1));
  server.on('request', (_request, response) => {
    listener.requests += 1;
    respond(response);
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  listener.origin = `https://${host}:${(server.address() as AddressInfo).port}`;
  return listener;
}

function browserKeys() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') };
}

describe('address guard', () => {
  const guard = new AddressGuard([], resolveFromZone);

  test.each(BLOCKED_SPELLINGS)('rejects %s (%s)', async (endpoint) => {
    await expect(guard.checkEndpoint(endpoint)).rejects.toBeInstanceOf(EndpointRejected);
  });

  test.each(['internal.test', 'metadata.test', 'loopback6.test', 'mapped.test', 'mixed.test', 'METADATA.test.', 'unknown.test'])('rejects name %s', async (host) => {
    await expect(guard.checkEndpoint(`https://${host}/push`)).rejects.toBeInstanceOf(EndpointRejected);
  });

  test('accepts public addresses', async () => {
    await expect(guard.checkEndpoint('https://public.test/push')).resolves.toBeUndefined();
    await expect(guard.checkEndpoint('https://93.184.216.34/push')).resolves.toBeUndefined();
    await expect(guard.checkEndpoint('https://[2606:4700::1111]/push')).resolves.toBeUndefined();
  });

  test('rejects other schemes and credentials', async () => {
    for (const endpoint of ['http://public.test/', 'file:///etc/passwd', 'gopher://public.test/', 'https://user:pass@public.test/', 'ftp://public.test/']) {
      await expect(guard.checkEndpoint(endpoint), endpoint).rejects.toBeInstanceOf(EndpointRejected);
    }
  });

  test('operator allow-list', async () => {
    const allowing = new AddressGuard(['10.0.0.0/8'], resolveFromZone);

    await expect(allowing.checkEndpoint('https://internal.test/')).resolves.toBeUndefined();
    await expect(allowing.checkEndpoint('https://metadata.test/')).rejects.toBeInstanceOf(EndpointRejected);
  });
});

describe('push endpoints through the server', () => {
  let certificate: Certificate;
  let redirector: Listener;
  let trap: Listener;
  let server: TestServer;
  let user: TestUser;
  /** Addresses the resolver returns by name, changed by the rebinding test. */
  const rebinding = new Map<string, string>();

  beforeAll(async () => {
    certificate = await createCertificate();
    // The operator allows only the push service's address, 127.0.0.3; every other loopback address, 127.0.0.2 among them, stays blocked.
    trap = await listen(certificate, '127.0.0.2', (response) => response.writeHead(201).end());
    redirector = await listen(certificate, '127.0.0.3', (response) => response.writeHead(302, { location: `${trap.origin}/push` }).end());
    const resolveAll: ResolveAll = async (hostname) => {
      const rebound = rebinding.get(hostname);
      if (rebound !== undefined) return [{ address: rebound, family: 4 }];
      return resolveFromZone(hostname);
    };
    server = await startServer({ push: { allowedAddresses: ['127.0.0.3'], caFile: certificate.certFile } }, { pushResolveAll: resolveAll });
    user = await buildUser(server.url, 'pusher');
  });
  afterAll(async () => {
    await server?.close();
    await redirector?.close();
    await trap?.close();
    fs.rmSync(certificate.dir, { recursive: true, force: true });
  });

  test('rejects every blocked spelling', async () => {
    const endpoints = [...BLOCKED_SPELLINGS.map(([endpoint]) => `${endpoint}push`), 'https://metadata.test/push', 'https://mixed.test/push', `${trap.origin}/push`];

    for (const endpoint of endpoints) {
      const response = await user.api.raw('POST', '/api/push/subscriptions', { endpoint, keys: browserKeys() });
      expect({ endpoint, status: response.status }).toEqual({ endpoint, status: 400 });
      expect((response.body as { error: { code: string; field: string } }).error).toMatchObject({ code: 'PUSH_ENDPOINT_REJECTED', field: 'endpoint' });
    }
    expect(trap.connections).toBe(0);
  });

  /** Returns the node's Web Push sender, called directly so the test needs no notification to trigger it. */
  function webPush(): PushSender {
    return server.server.notifications.senders.get('webpush')!;
  }

  function subscriptionTo(endpoint: string): PushSubscriptionRow {
    const keys = browserKeys();
    return {
      id: randomUUID(),
      user_id: user.id,
      session_id: user.sessionId,
      kind: 'webpush',
      endpoint,
      p256dh: keys.p256dh,
      auth: keys.auth,
      vapid_public_key: server.server.notifications.vapidPublicKey,
      created_at: Date.now(),
      last_success_at: null,
    } as PushSubscriptionRow;
  }

  const message = { payload: { type: 'test' }, urgency: 'normal', topic: 'ssrf', ttlSeconds: 60 } as unknown as Parameters<PushSender['send']>[1];

  test('does not follow redirects', async () => {
    const result = await webPush().send(subscriptionTo(`${redirector.origin}/push`), message);

    expect(redirector.requests).toBe(1);
    expect(result.outcome).toBe('rejected');
    expect(trap.connections).toBe(0);
  });

  test('rechecks names when sending', async () => {
    // The name passes the check at registration, then resolves to the trap's address.
    rebinding.set('rebind.test', '93.184.216.34');
    const stored = await user.api.post<{ id: string }>('/api/push/subscriptions', { endpoint: 'https://rebind.test/push', keys: browserKeys() });
    rebinding.set('rebind.test', '127.0.0.2');

    const result = await webPush().send(subscriptionTo('https://rebind.test/push'), message);

    expect(stored.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.outcome).toBe('gone');
    expect(trap.connections).toBe(0);
  });

  test('rechecks literal addresses when sending', async () => {
    const result = await webPush().send(subscriptionTo('https://[::ffff:127.0.0.2]/push'), message);

    expect(result.outcome).toBe('gone');
    expect(trap.connections).toBe(0);
  });
});
