import { sealedKeyId, type MasterKeyRing } from '../files/keys.js';
import type { AppContext } from '../platform/context.js';
import type { Logger } from '../platform/logger.js';
import type { Db } from '../storage/database.js';

/**
 * TOTP seeds at rest. Anyone who reads a seed can generate second-factor codes,
 * so `users.totp_secret` and `users.totp_pending_secret` contain it sealed with
 * AES-256-GCM under a key derived from the master key that also wraps file
 * keys (src/files/keys.ts: CHATTERBOX_FILE_KEY, or the generated key file).
 * Each value is bound to its user's id. A plaintext seed stored before
 * sealing existed still works, and the next key rotation seals it.
 */

const TOTP_PURPOSE = 'totp-secret';

/** Seals a base32 TOTP seed of a user for storage. */
export function sealTotpSecret(ctx: AppContext, userId: string, secret: string): string {
  return ctx.files.keys.sealSecret(TOTP_PURPOSE, secret, userId);
}

/**
 * Returns the base32 seed of a stored value, or undefined when it cannot be
 * opened (its master key is missing or the value was altered). That failure
 * is logged, and the user can still log in with a recovery code.
 */
export function openTotpSecret(ctx: AppContext, userId: string, stored: string): string | undefined {
  if (sealedKeyId(stored) === undefined) return stored;
  try {
    return ctx.files.keys.openSecret(TOTP_PURPOSE, stored, userId);
  } catch (error) {
    ctx.logger.error({ component: 'accounts', userId, err: error }, 'opening a stored TOTP secret failed; check that every previous file master key is still configured');
    return undefined;
  }
}

/**
 * Seals again, under the current master key, every TOTP seed that another key
 * sealed or that is still plaintext. Key rotation runs it before retiring old
 * keys. Returns how many values it sealed and how many it could not open.
 */
export async function resealTotpSecrets(db: Db, keys: MasterKeyRing, logger: Logger): Promise<{ resealed: number; failed: number }> {
  const current = keys.current.id;
  const users = await db
    .selectFrom('users')
    .select(['id', 'totp_secret', 'totp_pending_secret'])
    .where((eb) => eb.or([eb('totp_secret', 'is not', null), eb('totp_pending_secret', 'is not', null)]))
    .execute();
  let resealed = 0;
  let failed = 0;

  for (const user of users) {
    for (const column of ['totp_secret', 'totp_pending_secret'] as const) {
      const stored = user[column];
      if (stored == null || sealedKeyId(stored) === current) continue;
      let secret: string;
      try {
        secret = sealedKeyId(stored) === undefined ? stored : keys.openSecret(TOTP_PURPOSE, stored, user.id);
      } catch (error) {
        logger.error({ component: 'accounts', userId: user.id, err: error }, 'sealing a TOTP secret again failed, because no configured master key opens it');
        failed += 1;
        continue;
      }
      // The old value in the condition keeps a concurrent change, such as turning the second factor off, from being overwritten.
      await db
        .updateTable('users')
        .set({ [column]: keys.sealSecret(TOTP_PURPOSE, secret, user.id) })
        .where('id', '=', user.id)
        .where(column, '=', stored)
        .execute();
      resealed += 1;
    }
  }
  return { resealed, failed };
}

/** Ids of the master keys that sealed stored TOTP secrets, which key rotation must keep. */
export async function totpSecretKeyIds(db: Db): Promise<Set<string>> {
  const rows = await db
    .selectFrom('users')
    .select(['totp_secret', 'totp_pending_secret'])
    .where((eb) => eb.or([eb('totp_secret', 'like', 'sealed1:%'), eb('totp_pending_secret', 'like', 'sealed1:%')]))
    .execute();
  const ids = new Set<string>();
  for (const row of rows) {
    for (const value of [row.totp_secret, row.totp_pending_secret]) {
      const id = value == null ? undefined : sealedKeyId(value);
      if (id !== undefined) ids.add(id);
    }
  }
  return ids;
}
