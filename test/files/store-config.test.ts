import { randomBytes } from 'node:crypto';
import { expect, test } from 'vitest';
import { buildConfig, loadConfig } from '../../src/platform/config.js';

function problemsOf(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('loadConfig accepted the environment');
}

test('file config defaults', () => {
  const { files } = loadConfig({});

  expect(files.store).toBe('local');
  expect(files.maxFileBytes).toBe(1024 * 1024 * 1024);
  expect(files.masterKey).toBe('');
  expect(files.previousMasterKeys).toEqual([]);
  expect(files.sweepIntervalMs).toBe(3600 * 1000);
});

test('file config reads s3 settings', () => {
  const key = randomBytes(32).toString('base64');
  const previous = randomBytes(32).toString('base64');

  const { files } = loadConfig({
    CHATTERBOX_FILE_STORE: 's3',
    CHATTERBOX_S3_BUCKET: 'chat-files',
    CHATTERBOX_S3_REGION: 'eu-central-1',
    CHATTERBOX_S3_ENDPOINT: 'http://127.0.0.1:9000',
    CHATTERBOX_S3_ACCESS_KEY_ID: 'minio',
    CHATTERBOX_S3_SECRET_ACCESS_KEY: 'minio-secret',
    CHATTERBOX_S3_FORCE_PATH_STYLE: 'true',
    CHATTERBOX_FILE_KEY: key,
    CHATTERBOX_FILE_PREVIOUS_KEYS: ` ${previous} `,
    CHATTERBOX_MAX_FILE_BYTES: '5000',
  });

  expect(files.store).toBe('s3');
  expect(files.s3).toEqual({
    bucket: 'chat-files',
    region: 'eu-central-1',
    endpoint: 'http://127.0.0.1:9000',
    accessKeyId: 'minio',
    secretAccessKey: 'minio-secret',
    forcePathStyle: true,
  });
  expect(files.masterKey).toBe(key);
  expect(files.previousMasterKeys).toEqual([previous]);
  expect(files.maxFileBytes).toBe(5000);
});

test('file config lists every problem', () => {
  const message = problemsOf({
    CHATTERBOX_FILE_STORE: 'ftp',
    CHATTERBOX_S3_ENDPOINT: 'minio:9000',
    CHATTERBOX_S3_ACCESS_KEY_ID: 'only-half',
    CHATTERBOX_MAX_FILE_BYTES: '-1',
    CHATTERBOX_S3_FORCE_PATH_STYLE: 'maybe',
  });

  expect(message).toContain('CHATTERBOX_FILE_STORE must be local or s3');
  expect(message).toContain('CHATTERBOX_S3_ENDPOINT must look like');
  expect(message).toContain('CHATTERBOX_S3_ACCESS_KEY_ID and CHATTERBOX_S3_SECRET_ACCESS_KEY must be set together');
  expect(message).toContain('CHATTERBOX_MAX_FILE_BYTES must be an integer');
  expect(message).toContain('CHATTERBOX_S3_FORCE_PATH_STYLE must be true or false');
});

test('s3 store needs a bucket', () => {
  expect(problemsOf({ CHATTERBOX_FILE_STORE: 's3' })).toContain('CHATTERBOX_S3_BUCKET is required');
});

test('invalid file key is rejected unseen', () => {
  const short = randomBytes(16).toString('base64');

  const message = problemsOf({ CHATTERBOX_FILE_KEY: short, CHATTERBOX_FILE_PREVIOUS_KEYS: `${randomBytes(32).toString('base64')},nonsense` });

  expect(message).toContain('CHATTERBOX_FILE_KEY must be 32 bytes in base64');
  expect(message).toContain('CHATTERBOX_FILE_PREVIOUS_KEYS entry 2 must be 32 bytes in base64');
  expect(message).not.toContain(short);
});

test('previous keys need a current key', () => {
  expect(problemsOf({ CHATTERBOX_FILE_PREVIOUS_KEYS: randomBytes(32).toString('base64') })).toContain('CHATTERBOX_FILE_PREVIOUS_KEYS needs CHATTERBOX_FILE_KEY');
});

test('file overrides merge with defaults', () => {
  const config = buildConfig({ files: { maxFileBytes: 10, s3: { bucket: 'b' } } });

  expect(config.files.maxFileBytes).toBe(10);
  expect(config.files.store).toBe('local');
  expect(config.files.s3.bucket).toBe('b');
  expect(config.files.s3.region).toBe('us-east-1');
});
