import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import type { FilesConfig } from '../../src/platform/config.js';

/** An S3-protocol server on 127.0.0.1 with one empty bucket, for tests of the S3 file store. */
export interface TestS3Server {
  /** Settings for config.files.s3 that reach this server. */
  s3: FilesConfig['s3'];
  /** The folder where the server keeps its objects. */
  directory: string;
  close(): Promise<void>;
}

/** Credentials s3rver accepts by default. */
const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';

/** Starts s3rver on an ephemeral port of 127.0.0.1, storing objects in a new temporary folder. */
export async function startS3Server(bucket = 'chatterbox-test'): Promise<TestS3Server> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const address = (await server.run()) as AddressInfo;
  return {
    s3: {
      bucket,
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${address.port}`,
      accessKeyId: ACCESS_KEY_ID,
      secretAccessKey: SECRET_ACCESS_KEY,
      forcePathStyle: true,
    },
    directory,
    close: async () => {
      await server.close();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
