import fs from 'node:fs';
import path from 'node:path';
import webpush from 'web-push';
import type { PushConfig } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';

/** The application server's key pair of RFC 8292 (VAPID), base64url as the Push API expects it. */
export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  subject: string;
}

/** Name of the key file in the data folder when the keys are not configured. */
export const VAPID_KEY_FILE = 'vapid-keys.json';

/**
 * Returns the configured VAPID keys, or the ones stored in the data folder,
 * generating and storing a pair there (mode 0600) on first start. Every node
 * must sign with the same pair, because browsers bind a subscription to the
 * public key: nodes that do not share a data folder need the keys configured.
 */
export function loadVapidKeys(config: PushConfig, dataDir: string, logger: Logger): VapidKeys {
  const log = logger.child({ component: 'push' });
  if (config.vapidPublicKey !== '') {
    checkKeys(config.vapidPublicKey, config.vapidPrivateKey, 'CHATTERBOX_VAPID_PUBLIC_KEY and CHATTERBOX_VAPID_PRIVATE_KEY');
    log.info({ publicKey: config.vapidPublicKey }, 'using the configured VAPID keys');
    return { publicKey: config.vapidPublicKey, privateKey: config.vapidPrivateKey, subject: config.vapidSubject };
  }

  const file = path.join(dataDir, VAPID_KEY_FILE);
  if (fs.existsSync(file)) {
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { publicKey: string; privateKey: string };
    checkKeys(stored.publicKey, stored.privateKey, file);
    log.info({ publicKey: stored.publicKey, file }, 'using the stored VAPID keys');
    return { ...stored, subject: config.vapidSubject };
  }

  const generated = webpush.generateVAPIDKeys();
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify({ publicKey: generated.publicKey, privateKey: generated.privateKey, createdAt: new Date().toISOString() }), { mode: 0o600, flag: 'wx' });
  fs.renameSync(temporary, file);
  log.info({ publicKey: generated.publicKey, file }, 'generated a VAPID key pair and stored it; set CHATTERBOX_VAPID_* to the same pair on every node');
  return { ...generated, subject: config.vapidSubject };
}

/** Checks that the keys are a P-256 public point (65 bytes) and private scalar (32 bytes) in base64url. */
function checkKeys(publicKey: string, privateKey: string, source: string): void {
  const isBase64Url = (value: string) => /^[A-Za-z0-9_-]+$/.test(value);
  if (!isBase64Url(publicKey) || Buffer.from(publicKey, 'base64url').length !== 65 || !isBase64Url(privateKey) || Buffer.from(privateKey, 'base64url').length !== 32) {
    throw new Error(`Invalid VAPID keys in ${source}: expected a base64url P-256 public key (65 bytes) and private key (32 bytes), as web-push generate-vapid-keys prints them`);
  }
}
