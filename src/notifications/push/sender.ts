import type { PushSubscriptionRow } from '../../storage/schema.js';
import type { NotificationPayload } from '../payload.js';

/** One push to one device. */
export interface PushMessage {
  payload: NotificationPayload;
  /** 'high' for mentions and direct messages, which should wake a device. */
  urgency: 'high' | 'normal';
  /** Replaces an undelivered push with the same topic at the push service; derived from the message id. */
  topic: string;
  /** How long the push service keeps the push for a device that is offline. */
  ttlSeconds: number;
}

/** What a sender learned from the push service. */
export type PushResult =
  | { outcome: 'delivered' }
  /** The device is gone (404, 410, an unregistered token): the subscription is deleted. */
  | { outcome: 'gone'; detail: string }
  /** A failure that may pass: the push is tried again after retryAfterMs, or with backoff. */
  | { outcome: 'retry'; detail: string; retryAfterMs?: number }
  /** The push service refused this push for good (bad credentials, payload too large): not retried. */
  | { outcome: 'rejected'; detail: string };

/** A device registration as POST /api/push/subscriptions receives it. */
export interface PushRegistration {
  kind: string;
  endpoint: string;
  keys?: { p256dh: string; auth: string };
}

/**
 * The extension point for push delivery. Each subscription row has a `kind`,
 * and the sender of that kind delivers to it. ChatterBox ships the Web Push
 * sender ('webpush', web-push-sender.ts). A native sender for Apple Push
 * Notification service or Firebase Cloud Messaging implements this interface
 * with kind 'apns' or 'fcm' and reads the device token from the endpoint.
 * It is passed to buildChatterBox in `pushSenders`, as docs/notifications.md shows.
 */
export interface PushSender {
  readonly kind: string;
  /** Checks a registration before it is stored; throws an AppError naming the field. */
  validate(registration: PushRegistration): Promise<void>;
  /** Delivers one push. Must not throw for the outcomes above; a thrown error counts as 'retry'. */
  send(subscription: PushSubscriptionRow, message: PushMessage): Promise<PushResult>;
}
