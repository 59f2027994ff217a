import fs from 'node:fs';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import webpush from 'web-push';
import type { PushConfig } from '../../platform/config.js';
import { AppError } from '../../platform/errors.js';
import type { Logger } from '../../platform/logger.js';
import type { PushSubscriptionRow } from '../../storage/schema.js';
import { AddressGuard, EndpointRejected, type ResolveAll } from './address-guard.js';
import type { PushMessage, PushRegistration, PushResult, PushSender } from './sender.js';
import type { VapidKeys } from './vapid.js';

/** Maximum length of an endpoint URL; push services use a few hundred characters. */
export const MAX_ENDPOINT_LENGTH = 2048;
/** Retry-After above this is capped, so one push service cannot park a job for days. */
const MAX_RETRY_AFTER_MS = 3600_000;

/**
 * Sends Web Push (RFC 8030) with the payload encrypted for the subscription's
 * keys (RFC 8291, aes128gcm) and a VAPID token (RFC 8292), through the
 * web-push package. Every request goes through an agent whose DNS lookup
 * refuses blocked addresses, so the endpoint is checked again at send time.
 */
export class WebPushSender implements PushSender {
  readonly kind = 'webpush';
  readonly #keys: VapidKeys;
  readonly #guard: AddressGuard;
  readonly #agent: https.Agent;
  readonly #timeoutMs: number;
  readonly #log: Logger;

  constructor(config: PushConfig, keys: VapidKeys, logger: Logger, resolveAll?: ResolveAll) {
    this.#keys = keys;
    this.#guard = new AddressGuard(config.allowedAddresses, resolveAll);
    this.#timeoutMs = config.requestTimeoutMs;
    this.#log = logger.child({ component: 'push' });
    const extraCa = config.caFile === '' ? [] : [fs.readFileSync(config.caFile, 'utf8')];
    this.#agent = new https.Agent({
      keepAlive: true,
      lookup: this.#guard.lookup,
      ...(extraCa.length > 0 && { ca: [...rootCertificates, ...extraCa] }),
    });
  }

  get publicKey(): string {
    return this.#keys.publicKey;
  }

  async validate(registration: PushRegistration): Promise<void> {
    if (registration.endpoint.length > MAX_ENDPOINT_LENGTH) {
      throw new AppError('VALIDATION_FAILED', `endpoint must be at most ${MAX_ENDPOINT_LENGTH} characters`, { field: 'endpoint', max: MAX_ENDPOINT_LENGTH });
    }
    const keys = registration.keys;
    if (keys === undefined) throw new AppError('VALIDATION_FAILED', 'keys (p256dh and auth) are required for Web Push', { field: 'keys' });
    const point = Buffer.from(keys.p256dh, 'base64url');
    if (point.length !== 65 || point[0] !== 0x04) {
      throw new AppError('VALIDATION_FAILED', 'keys.p256dh must be an uncompressed P-256 public key (65 bytes, base64url)', { field: 'keys/p256dh' });
    }
    if (Buffer.from(keys.auth, 'base64url').length !== 16) {
      throw new AppError('VALIDATION_FAILED', 'keys.auth must be a 16-byte secret in base64url', { field: 'keys/auth' });
    }
    try {
      await this.#guard.checkEndpoint(registration.endpoint);
    } catch (error) {
      if (error instanceof EndpointRejected) throw new AppError('PUSH_ENDPOINT_REJECTED', `The push endpoint was rejected: ${error.message}`, { field: 'endpoint' });
      throw error;
    }
  }

  async send(subscription: PushSubscriptionRow, message: PushMessage): Promise<PushResult> {
    if (subscription.p256dh === null || subscription.auth === null) return { outcome: 'gone', detail: 'the subscription has no keys' };
    if (subscription.vapid_public_key !== this.#keys.publicKey) {
      // The push service would refuse the token, and deleting the subscription would hide a node's wrong keys.
      return { outcome: 'rejected', detail: 'the subscription was made for another VAPID public key; set the same CHATTERBOX_VAPID_* on every node' };
    }
    try {
      // The agent's lookup checks names; an address written in the URL never reaches a lookup, so it is checked here.
      const host = new URL(subscription.endpoint).hostname.replace(/^\[(.*)\]$/, '$1');
      if (isIpLiteral(host) && !this.#guard.isAllowed(host)) return { outcome: 'gone', detail: `endpoint address ${host} is not allowed` };

      const response = await webpush.sendNotification(
        { endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } },
        JSON.stringify(message.payload),
        {
          vapidDetails: { subject: this.#keys.subject, publicKey: this.#keys.publicKey, privateKey: this.#keys.privateKey },
          TTL: message.ttlSeconds,
          urgency: message.urgency,
          topic: message.topic,
          timeout: this.#timeoutMs,
          agent: this.#agent,
          contentEncoding: 'aes128gcm',
        },
      );
      this.#log.debug({ subscriptionId: subscription.id, status: response.statusCode }, 'push accepted');
      return { outcome: 'delivered' };
    } catch (error) {
      return resultOfError(error);
    }
  }

  close(): void {
    this.#agent.destroy();
  }
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

/** Maps a failed request to an outcome: 404 and 410 mean the device is gone, 429 and 5xx may pass. */
function resultOfError(error: unknown): PushResult {
  if (error instanceof EndpointRejected) return { outcome: 'gone', detail: error.message };
  if (error instanceof webpush.WebPushError) {
    const status = error.statusCode;
    if (status === 404 || status === 410) return { outcome: 'gone', detail: `push service answered ${status}` };
    if (status === 429 || status >= 500) {
      const retryAfter = parseRetryAfter(error.headers['retry-after']);
      return { outcome: 'retry', detail: `push service answered ${status}`, ...(retryAfter !== undefined && { retryAfterMs: retryAfter }) };
    }
    return { outcome: 'rejected', detail: `push service answered ${status}: ${String(error.body).slice(0, 200)}` };
  }
  return { outcome: 'retry', detail: error instanceof Error ? error.message : String(error) };
}

function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const seconds = Number(text);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(text) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : undefined;
}
