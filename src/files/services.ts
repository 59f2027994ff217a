import path from 'node:path';
import type { Config } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import type { Db } from '../storage/database.js';
import type { BlobStore } from './blob-store.js';
import { openMasterKeyRing, type MasterKeyRing } from './keys.js';
import { LocalBlobStore } from './local-store.js';
import { S3BlobStore } from './s3-store.js';
import { UploadStaging } from './staging.js';
import { FileSweeper } from './sweep.js';
import { FileVault } from './vault.js';

/** The file storage of a node, as actions see it in ctx.files. */
export interface FileServices {
  store: BlobStore;
  vault: FileVault;
  staging: UploadStaging;
  keys: MasterKeyRing;
  sweeper: FileSweeper;
  /** Stops the sweeper and releases the store's connections. */
  close(): Promise<void>;
}

/** Opens the configured blob store and master keys, and builds the vault, staging and sweeper over them. */
export function openFileServices(config: Config, db: Db, logger: Logger, now: () => number = Date.now): FileServices {
  const keys = openMasterKeyRing(
    { masterKey: config.files.masterKey, previousMasterKeys: config.files.previousMasterKeys, dataDir: config.dataDir },
    logger,
  );
  const store = openBlobStore(config, logger);
  const staging = new UploadStaging(store, keys, logger);
  const sweeper = new FileSweeper(store, staging, db, config.files, logger, now);

  return {
    store,
    vault: new FileVault(store, keys, logger),
    staging,
    keys,
    sweeper,
    close: async () => {
      await sweeper.stop();
      if (store instanceof S3BlobStore) store.close();
    },
  };
}

/** Opens the blob store that config.files.store selects. */
export function openBlobStore(config: Config, logger: Logger): BlobStore {
  if (config.files.store === 's3') {
    const { bucket, region, endpoint } = config.files.s3;
    logger.info({ component: 'files', store: 's3', bucket, region, endpoint: endpoint || undefined }, 'file store ready');
    return new S3BlobStore(config.files.s3, logger);
  }

  const root = path.join(config.dataDir, 'files');
  logger.info({ component: 'files', store: 'local', root }, 'file store ready');
  return new LocalBlobStore(root);
}
