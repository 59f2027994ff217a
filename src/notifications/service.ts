import type { AppContext } from '../platform/context.js';
import { NOTIFY_MESSAGE_JOB, NOTIFY_PUSH_JOB, runMessagePipeline, type NotifyMessagePayload, type NotifyPushPayload } from './pipeline.js';
import { runPushJob } from './push-job.js';
import type { PushSender } from './push/sender.js';
import { loadVapidKeys } from './push/vapid.js';
import type { ResolveAll } from './push/address-guard.js';
import { WebPushSender } from './push/web-push-sender.js';

export interface NotificationOptions {
  /** Native senders (APNs, FCM...) besides Web Push; see PushSender. */
  pushSenders?: readonly PushSender[];
  /** Resolver of Web Push endpoint host names, in place of the system's dns.lookup. */
  pushResolveAll?: ResolveAll;
}

/** The notification pipeline's job handlers and the push senders of one node. */
export class NotificationService {
  readonly senders = new Map<string, PushSender>();
  readonly #webPush: WebPushSender;

  constructor(ctx: AppContext, options: NotificationOptions = {}) {
    const keys = loadVapidKeys(ctx.config.push, ctx.config.dataDir, ctx.logger);
    this.#webPush = new WebPushSender(ctx.config.push, keys, ctx.logger, options.pushResolveAll);
    this.senders.set(this.#webPush.kind, this.#webPush);
    for (const sender of options.pushSenders ?? []) this.senders.set(sender.kind, sender);

    ctx.jobs.register<NotifyMessagePayload>(NOTIFY_MESSAGE_JOB, (job) => runMessagePipeline(ctx, job));
    ctx.jobs.register<NotifyPushPayload>(NOTIFY_PUSH_JOB, (job) => runPushJob(ctx, this.senders, job));
  }

  /** The public key browsers pass to PushManager.subscribe as applicationServerKey. */
  get vapidPublicKey(): string {
    return this.#webPush.publicKey;
  }

  close(): void {
    this.#webPush.close();
  }
}
