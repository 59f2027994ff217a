import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { ApiClient } from '../../src/client/api.js';
import { buildChatterBox, type ChatterBox } from '../../src/http/app.js';
import { buildConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';
import { DatabaseKeyError } from '../../src/storage/sqlite-encryption.js';
import { buildTeam, buildUser } from '../helpers/factories.js';
import { TEST_DATABASE_URL } from '../helpers/server.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const KEY = 'test-key-for-the-canary-run';
const CANARIES = 1000;
// Encryption at rest applies to the SQLite file alone. The PostgreSQL pass would run these tests
// again unchanged, so they run in the SQLite pass only.
const SQLITE_PASS = TEST_DATABASE_URL === undefined;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-encrypted-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts a server on the embedded SQLite file of `dataDir`, encrypted with `databaseKey` unless it is empty. */
async function startSqlite(dataDir: string, databaseKey: string): Promise<{ server: ChatterBox; url: string }> {
  const config = buildConfig({ port: 0, dataDir, databaseKey, rateLimits: { registrationsPerAddressPerHour: 1_000_000, postsPerUserPerMinute: 100_000 } });
  const server = await buildChatterBox(config, createLogger('silent'));
  const url = await server.listen();
  return { server, url };
}

/** Returns the canaries found in any file of the data folder: the database, its WAL and shared memory. */
function findCanaries(dataDir: string, canaries: string[]): string[] {
  // Every file under the folder, the file store and the key files included.
  const contents = (fs.readdirSync(dataDir, { recursive: true }) as string[])
    .map((name) => path.join(dataDir, name))
    .filter((file) => fs.statSync(file).isFile())
    .map((file) => fs.readFileSync(file));
  return canaries.filter((canary) => contents.some((bytes) => bytes.includes(canary)));
}

/** Posts canaries as messages, and every tenth as a channel topic, and returns them. */
async function plantCanaries(url: string, count: number): Promise<string[]> {
  const user = await buildUser(url, 'canary');
  const team = await buildTeam(user);
  const canaries: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const canary = `canary-${randomUUID()}`;
    canaries.push(canary);
    if (index % 10 === 0) {
      await user.api.patch(`/api/conversations/${team.generalId}`, { topic: `topic ${canary}` });
    } else {
      await user.api.post(`/api/conversations/${team.generalId}/messages`, { text: `message ${canary}` });
    }
  }
  return canaries;
}

function runCli(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'db', 'rekey'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe.runIf(SQLITE_PASS)('canaries', () => {
  test('no canary readable in encrypted files', async () => {
    const dataDir = tempDataDir();
    const { server, url } = await startSqlite(dataDir, KEY);
    let closed = false;
    cleanups.push(async () => {
      if (!closed) await server.close();
    });

    const canaries = await plantCanaries(url, CANARIES);

    // While the server runs, recent pages are in the write-ahead log.
    expect(fs.existsSync(path.join(dataDir, 'chatterbox.db-wal'))).toBe(true);
    expect(findCanaries(dataDir, canaries)).toEqual([]);
    expect(fs.readFileSync(path.join(dataDir, 'chatterbox.db')).subarray(0, 16).toString('latin1')).not.toBe('SQLite format 3\0');
    await server.close();
    closed = true;
    expect(findCanaries(dataDir, canaries)).toEqual([]);
    const reopened = await startSqlite(dataDir, KEY);
    cleanups.push(() => reopened.server.close());
    const user = await buildUser(reopened.url, 'reader');
    expect((await user.api.raw('GET', '/api/users/me')).status).toBe(200);
  }, 120_000);

  test('canaries readable without key', async () => {
    const dataDir = tempDataDir();
    const { server, url } = await startSqlite(dataDir, '');
    cleanups.push(() => server.close());

    const canaries = await plantCanaries(url, 20);

    expect(findCanaries(dataDir, canaries)).toEqual(canaries);
  });
});

describe.runIf(SQLITE_PASS)('key checks at start', () => {
  async function createEncrypted(key: string): Promise<string> {
    const dataDir = tempDataDir();
    const { server, url } = await startSqlite(dataDir, key);
    await buildUser(url, 'keyed');
    await server.close();
    return dataDir;
  }

  test('wrong key stops start', async () => {
    const dataDir = await createEncrypted(KEY);

    await expect(startSqlite(dataDir, 'another-key-of-enough-length')).rejects.toThrow(DatabaseKeyError);
    await expect(startSqlite(dataDir, 'another-key-of-enough-length')).rejects.toThrow(/CHATTERBOX_DB_KEY does not decrypt .*chatterbox\.db/);
  });

  test('missing key stops start', async () => {
    const dataDir = await createEncrypted(KEY);

    await expect(startSqlite(dataDir, '')).rejects.toThrow(/chatterbox\.db is encrypted .*set CHATTERBOX_DB_KEY/);
  });

  test('key on plaintext database stops start', async () => {
    const dataDir = await createEncrypted('');

    await expect(startSqlite(dataDir, KEY)).rejects.toThrow(/is not encrypted\. Encrypt it first/);
  });

  test('server process exits with message', async () => {
    const dataDir = await createEncrypted(KEY);

    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/server.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'silent', CHATTERBOX_DATA_DIR: dataDir, CHATTERBOX_DB_KEY: 'wrong-key-but-long-enough' },
      encoding: 'utf8',
      timeout: 30_000,
    });

    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/ChatterBox failed to start: CHATTERBOX_DB_KEY does not decrypt/);
    expect(result.stderr).not.toContain('wrong-key-but-long-enough');
  }, 40_000);

  test('short key rejected by config', async () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/server.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'silent', CHATTERBOX_DATA_DIR: tempDataDir(), CHATTERBOX_DB_KEY: 'short' },
      encoding: 'utf8',
      timeout: 30_000,
    });

    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/CHATTERBOX_DB_KEY must be at least 16 characters/);
  }, 40_000);
});

describe.runIf(SQLITE_PASS)('rekey command', () => {
  test('rotates key and keeps data', async () => {
    const dataDir = tempDataDir();
    const first = await startSqlite(dataDir, KEY);
    const user = await buildUser(first.url, 'rotated');
    await first.server.close();
    const newKey = 'the-new-key-after-rotation';

    const result = runCli({ CHATTERBOX_DATA_DIR: dataDir, CHATTERBOX_DB_KEY: KEY, CHATTERBOX_DB_NEW_KEY: newKey });

    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/key rotated/);
    await expect(startSqlite(dataDir, KEY)).rejects.toThrow(DatabaseKeyError);
    const second = await startSqlite(dataDir, newKey);
    cleanups.push(() => second.server.close());
    const login = await new ApiClient(second.url).raw('POST', '/api/auth/login', { login: user.username, password: 'correct horse battery' });
    expect(login.status).toBe(200);
    const rotations = await second.server.ctx.storage.db.selectFrom('audit_log').selectAll().where('action', '=', 'database.key_rotated').execute();
    expect(rotations.map((row) => JSON.parse(row.details) as unknown)).toEqual([{ change: 'rotated' }]);
  }, 60_000);

  test('encrypts plaintext database', async () => {
    const dataDir = tempDataDir();
    const plain = await startSqlite(dataDir, '');
    const user = await buildUser(plain.url, 'plainfirst');
    await plain.server.close();

    const result = runCli({ CHATTERBOX_DATA_DIR: dataDir, CHATTERBOX_DB_NEW_KEY: KEY });

    expect(result.status).toBe(0);
    expect(fs.readFileSync(path.join(dataDir, 'chatterbox.db')).includes(user.username)).toBe(false);
    const encrypted = await startSqlite(dataDir, KEY);
    cleanups.push(() => encrypted.server.close());
    expect((await new ApiClient(encrypted.url).raw('POST', '/api/auth/login', { login: user.username, password: 'correct horse battery' })).status).toBe(200);
  }, 60_000);

  test('wrong current key refused', async () => {
    const dataDir = tempDataDir();
    const first = await startSqlite(dataDir, KEY);
    await first.server.close();

    const result = runCli({ CHATTERBOX_DATA_DIR: dataDir, CHATTERBOX_DB_KEY: 'not-the-current-key', CHATTERBOX_DB_NEW_KEY: 'the-new-key-after-rotation' });

    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/CHATTERBOX_DB_KEY does not decrypt/);
    const reopened = await startSqlite(dataDir, KEY);
    await reopened.server.close();
  }, 60_000);

  test('refused while server runs', async () => {
    const dataDir = tempDataDir();
    const running = await startSqlite(dataDir, KEY);
    cleanups.push(() => running.server.close());

    const result = runCli({ CHATTERBOX_DATA_DIR: dataDir, CHATTERBOX_DB_KEY: KEY, CHATTERBOX_DB_NEW_KEY: 'the-new-key-after-rotation' });

    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/is in use: stop the server/);
    expect((await new ApiClient(running.url).raw('GET', '/healthz')).status).toBe(200);
  }, 60_000);
});
