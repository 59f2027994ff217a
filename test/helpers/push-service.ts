import { createECDH, createHmac, createDecipheriv, createPublicKey, randomBytes, verify } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';

/** One push as the push service received it, with its payload decrypted. */
export interface ReceivedPush {
  payload: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  /** Claims of the VAPID token, after its signature was checked. */
  vapidClaims: { aud: string; exp: number; sub: string };
  /** The VAPID public key the token was signed with (base64url). */
  vapidPublicKey: string;
  status: number;
}

/** A browser-side subscription: its endpoint on the test push service and its own keys. */
export interface PushDevice {
  endpoint: string;
  keys: { p256dh: string; auth: string };
  received: ReceivedPush[];
  /** Requests that got an error status in reply and were not decrypted. */
  refused: number;
  /** Requests whose VAPID token or encryption failed the checks, with the reason. */
  errors: string[];
  /** Sets the statuses of the next replies, in order; after them the device replies 201. */
  answerWith(statuses: number[]): void;
}

interface DeviceState extends PushDevice {
  ecdh: ReturnType<typeof createECDH>;
  authSecret: Buffer;
  answers: number[];
}

/**
 * A Web Push service on 127.0.0.1 over TLS with a self-signed certificate,
 * for tests. Each device has its own P-256 key pair and authentication
 * secret, as a browser's PushSubscription does. The service checks each
 * request's VAPID token and decrypts its aes128gcm payload (RFC 8291) with
 * node:crypto alone, so the tests check the server's encryption end to end.
 */
export class TestPushService {
  readonly #server: https.Server;
  readonly #devices = new Map<string, DeviceState>();
  readonly caFile: string;
  readonly origin: string;
  readonly #folder: string;

  private constructor(server: https.Server, origin: string, caFile: string, folder: string) {
    this.#server = server;
    this.origin = origin;
    this.caFile = caFile;
    this.#folder = folder;
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const status = this.#receive(request.url ?? '', request.headers, Buffer.concat(chunks));
        response.writeHead(status).end();
      });
    });
  }

  static async start(): Promise<TestPushService> {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
      ],
    });
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-push-'));
    const caFile = path.join(folder, 'push-ca.pem');
    fs.writeFileSync(caFile, pems.cert);
    const server = https.createServer({ key: pems.private, cert: pems.cert });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as AddressInfo;
    return new TestPushService(server, `https://127.0.0.1:${port}`, caFile, folder);
  }

  /** Creates a subscription with fresh keys, as PushManager.subscribe would. */
  createDevice(): PushDevice {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const authSecret = randomBytes(16);
    const id = randomBytes(12).toString('hex');
    const device: DeviceState = {
      endpoint: `${this.origin}/push/${id}`,
      keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') },
      received: [],
      refused: 0,
      errors: [],
      answers: [],
      ecdh,
      authSecret,
      answerWith(statuses) {
        device.answers.push(...statuses);
      },
    };
    this.#devices.set(`/push/${id}`, device);
    return device;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    fs.rmSync(this.#folder, { recursive: true, force: true });
  }

  #receive(url: string, headers: Record<string, string | string[] | undefined>, body: Buffer): number {
    const device = this.#devices.get(url);
    if (device === undefined) return 404;
    const status = device.answers.shift() ?? 201;
    if (status >= 300) {
      device.refused += 1;
      return status;
    }
    try {
      const vapid = checkVapid(headers.authorization, this.origin);
      const payload = JSON.parse(decryptAes128gcm(body, device.ecdh, device.authSecret).toString('utf8')) as Record<string, unknown>;
      device.received.push({ payload, headers, vapidClaims: vapid.claims, vapidPublicKey: vapid.publicKey, status });
      return status;
    } catch (error) {
      device.errors.push(error instanceof Error ? error.message : String(error));
      return 400;
    }
  }
}

/** Decrypts an aes128gcm body (RFC 8188) with the key derivation of RFC 8291. */
export function decryptAes128gcm(body: Buffer, ecdh: ReturnType<typeof createECDH>, authSecret: Buffer): Buffer {
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const keyIdLength = body[20]!;
  const senderPublicKey = body.subarray(21, 21 + keyIdLength);
  const ciphertext = body.subarray(21 + keyIdLength);
  if (ciphertext.length > recordSize) throw new Error('the test push service reads single-record payloads only');

  const hmac = (key: Buffer, ...parts: Buffer[]) => createHmac('sha256', key).update(Buffer.concat(parts)).digest();
  const sharedSecret = ecdh.computeSecret(senderPublicKey);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), senderPublicKey]);
  const inputKey = hmac(hmac(authSecret, sharedSecret), keyInfo, Buffer.from([1]));
  const pseudoRandomKey = hmac(salt, inputKey);
  const contentKey = hmac(pseudoRandomKey, Buffer.from('Content-Encoding: aes128gcm\0'), Buffer.from([1])).subarray(0, 16);
  const nonce = hmac(pseudoRandomKey, Buffer.from('Content-Encoding: nonce\0'), Buffer.from([1])).subarray(0, 12);

  const decipher = createDecipheriv('aes-128-gcm', contentKey, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // The last record ends with the delimiter 0x02 followed by zero or more padding zeros.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end -= 1;
  if (padded[end] !== 2) throw new Error('missing the last-record delimiter');
  return padded.subarray(0, end);
}

/** Checks a `vapid t=<jwt>, k=<key>` header (RFC 8292): ES256 signature, audience and expiry. */
function checkVapid(header: string | string[] | undefined, origin: string): { claims: { aud: string; exp: number; sub: string }; publicKey: string } {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(String(header));
  if (match === null) throw new Error(`not a VAPID authorization header: ${String(header)}`);
  const [, token, key] = match as unknown as [string, string, string];
  const [encodedHeader, encodedClaims, signature] = token.split('.') as [string, string, string];
  const point = Buffer.from(key, 'base64url');
  const publicKey = createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') },
    format: 'jwk',
  });
  const valid = verify('sha256', Buffer.from(`${encodedHeader}.${encodedClaims}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
  if (!valid) throw new Error('the VAPID signature does not verify');
  const claims = JSON.parse(Buffer.from(encodedClaims, 'base64url').toString('utf8')) as { aud: string; exp: number; sub: string };
  if (claims.aud !== origin) throw new Error(`VAPID audience ${claims.aud} is not ${origin}`);
  if (claims.exp * 1000 <= Date.now() || claims.exp * 1000 > Date.now() + 24 * 3600_000) throw new Error('VAPID expiry out of range');
  return { claims, publicKey: key };
}
