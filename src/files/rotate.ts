import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Config } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { Db } from '../storage/database.js';
import { openStorage } from '../storage/database.js';
import { KEY_BYTES, keyFilePath, MasterKeyRing, openMasterKeyRing, readKeyFile, writeKeyFile, type MasterKey } from './keys.js';
import type { BlobStore } from './blob-store.js';
import { openBlobStore } from './services.js';
import { S3BlobStore } from './s3-store.js';
import { UploadStaging } from './staging.js';
import { resealTotpSecrets, totpSecretKeyIds } from '../accounts/totp-secrets.js';

/** Files rows re-wrapped per transaction. */
const ROTATION_BATCH = 200;

/** Counts and key id of a finished rotation. */
export interface RotationResult {
  /** Id of the master key that now wraps every data key. */
  masterKeyId: string;
  /** Data keys of files and thumbnails re-wrapped. */
  rewrappedKeys: number;
  /** Staged uploads whose data key was re-wrapped. */
  rewrappedUploads: number;
  /** Data keys that no configured master key could unwrap; those files stay unreadable. */
  failedKeys: number;
  /** TOTP secrets sealed again under the current master key. */
  resealedSecrets: number;
  /** TOTP secrets that no configured master key could open; those users need a recovery code. */
  failedSecrets: number;
  /** Previous keys removed from the key file because nothing uses them any more. */
  retiredKeys: number;
  durationMs: number;
}

/**
 * Re-wraps every data key, and seals every TOTP secret again, under the
 * current master key without touching the blobs, opening the configured database and file store for the duration.
 * With CHATTERBOX_FILE_KEY, the current key is that variable and the old ones
 * come from CHATTERBOX_FILE_PREVIOUS_KEYS. With the generated key file, a new
 * random key is added in front of the file first, and keys no longer needed
 * are removed from it at the end. A rotation that stopped part way can simply
 * be run again. Running nodes may keep serving meanwhile.
 */
export async function rotateFileKey(config: Config, logger: Logger): Promise<RotationResult> {
  const storage = await openStorage({
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl || undefined,
    databaseSchema: config.databaseSchema || undefined,
    databasePoolSize: config.databasePoolSize,
  });
  const store = openBlobStore(config, logger);
  try {
    return await rotateKeys({ config, db: storage.db, store, logger });
  } finally {
    if (store instanceof S3BlobStore) store.close();
    await storage.close();
  }
}

/** Runs a rotation over an open database and file store; see rotateFileKey. */
export async function rotateKeys(options: { config: Config; db: Db; store: BlobStore; logger: Logger }): Promise<RotationResult> {
  const { config, db, store, logger } = options;
  const started = Date.now();
  const usesKeyFile = config.files.masterKey === '';
  const keyFile = keyFilePath(config.dataDir);
  if (usesKeyFile && fs.existsSync(keyFile)) {
    writeKeyFile(keyFile, [randomBytes(KEY_BYTES), ...readKeyFile(keyFile).map((entry) => entry.key)]);
  }
  const keys = openMasterKeyRing(
    { masterKey: config.files.masterKey, previousMasterKeys: config.files.previousMasterKeys, dataDir: config.dataDir },
    logger,
  );
  const current = keys.current.id;
  logger.info({ component: 'files', masterKeyId: current }, 'file key rotation started');

  const rows = await rewrapFileRows(db, keys, logger);
  const rewrappedUploads = await new UploadStaging(store, keys, logger).rewrapKeys();
  const secrets = await resealTotpSecrets(db, keys, logger);
  const retiredKeys = usesKeyFile ? await retireUnusedKeys(db, keys, keyFile, logger) : 0;

  const result = {
    masterKeyId: current,
    ...rows,
    rewrappedUploads,
    resealedSecrets: secrets.resealed,
    failedSecrets: secrets.failed,
    retiredKeys,
    durationMs: Date.now() - started,
  };
  logger.info({ component: 'files', ...result }, 'file key rotation finished');
  return result;
}

/** Re-wraps the data keys of files and thumbnails that another master key wraps. */
async function rewrapFileRows(db: Db, keys: MasterKeyRing, logger: Logger): Promise<{ rewrappedKeys: number; failedKeys: number }> {
  const current = keys.current.id;
  let rewrappedKeys = 0;
  let failedKeys = 0;
  let after = '';

  for (;;) {
    // Paging by id stays stable while the loop updates the rows it selected.
    const rows = await db
      .selectFrom('files')
      .select(['id', 'wrapped_key', 'master_key_id', 'thumbnail_wrapped_key', 'thumbnail_master_key_id'])
      .where('id', '>', after)
      .where((eb) =>
        eb.or([
          eb.and([eb('wrapped_key', 'is not', null), eb('master_key_id', '!=', current)]),
          eb.and([eb('thumbnail_wrapped_key', 'is not', null), eb('thumbnail_master_key_id', '!=', current)]),
        ]),
      )
      .orderBy('id')
      .limit(ROTATION_BATCH)
      .execute();
    const last = rows.at(-1);
    if (last === undefined) return { rewrappedKeys, failedKeys };
    after = last.id;

    await db.transaction().execute(async (tx) => {
      for (const row of rows) {
        const blob = rewrap(keys, row.id, row.wrapped_key, row.master_key_id, logger);
        const thumbnail = rewrap(keys, row.id, row.thumbnail_wrapped_key, row.thumbnail_master_key_id, logger);
        failedKeys += Number(blob === 'failed') + Number(thumbnail === 'failed');
        if (typeof blob === 'object') {
          // The old key id in the condition keeps a concurrent change of the row from being overwritten.
          await tx
            .updateTable('files')
            .set({ wrapped_key: blob.wrappedKey, master_key_id: blob.masterKeyId })
            .where('id', '=', row.id)
            .where('master_key_id', '=', row.master_key_id)
            .execute();
          rewrappedKeys += 1;
        }
        if (typeof thumbnail === 'object') {
          await tx
            .updateTable('files')
            .set({ thumbnail_wrapped_key: thumbnail.wrappedKey, thumbnail_master_key_id: thumbnail.masterKeyId })
            .where('id', '=', row.id)
            .where('thumbnail_master_key_id', '=', row.thumbnail_master_key_id)
            .execute();
          rewrappedKeys += 1;
        }
      }
    });
  }
}

/** Returns the key re-wrapped under the current master key, 'unchanged', or 'failed' after logging why. */
function rewrap(
  keys: MasterKeyRing,
  fileId: string,
  wrappedKey: string | null,
  masterKeyId: string | null,
  logger: Logger,
): { wrappedKey: string; masterKeyId: string } | 'unchanged' | 'failed' {
  if (wrappedKey === null || masterKeyId === null || masterKeyId === keys.current.id) return 'unchanged';
  try {
    return keys.wrap(keys.unwrap(wrappedKey, masterKeyId));
  } catch (error) {
    logger.error({ component: 'files', fileId, masterKeyId, err: error }, 'could not re-wrap a file data key');
    return 'failed';
  }
}

/**
 * Removes previous keys from the key file once no files row or sealed TOTP secret uses them. A key
 * still in use, such as by a file that a node wrapped before it noticed the
 * new key, stays in the file until a later rotation.
 */
async function retireUnusedKeys(db: Db, keys: MasterKeyRing, keyFile: string, logger: Logger): Promise<number> {
  const inUse = await totpSecretKeyIds(db);
  const blobKeys = await db.selectFrom('files').select('master_key_id').distinct().where('master_key_id', 'is not', null).execute();
  const thumbnailKeys = await db.selectFrom('files').select('thumbnail_master_key_id').distinct().where('thumbnail_master_key_id', 'is not', null).execute();
  for (const row of blobKeys) inUse.add(row.master_key_id as string);
  for (const row of thumbnailKeys) inUse.add(row.thumbnail_master_key_id as string);

  const stored: MasterKey[] = readKeyFile(keyFile);
  const kept = stored.filter((entry, index) => index === 0 || inUse.has(entry.id));
  if (kept.length === stored.length) return 0;
  writeKeyFile(keyFile, kept.map((entry) => entry.key));
  const retired = stored.length - kept.length;
  logger.info({ component: 'files', keyFile, retiredKeys: retired, keptPreviousKeys: kept.length - 1, masterKeyId: keys.current.id }, 'removed unused file master keys from the key file');
  return retired;
}
