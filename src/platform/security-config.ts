import fs from 'node:fs';
import path from 'node:path';
import { usernameKey } from '../accounts/queries.js';

/** Shortest CHATTERBOX_DB_KEY accepted: 16 characters, such as the output of `openssl rand -base64 16`. */
export const MIN_DATABASE_KEY_CHARS = 16;

/**
 * Reads the TLS, database-key and server-admin variables, adding each problem
 * to `problems` so that one start lists them all.
 */
export function readSecuritySettings(env: NodeJS.ProcessEnv, problems: string[]) {
  const certFile = env.CHATTERBOX_TLS_CERT ?? '';
  const keyFile = env.CHATTERBOX_TLS_KEY ?? '';
  if ((certFile === '') !== (keyFile === '')) {
    problems.push('CHATTERBOX_TLS_CERT and CHATTERBOX_TLS_KEY must be set together, or neither');
  }
  for (const [name, file] of [
    ['CHATTERBOX_TLS_CERT', certFile],
    ['CHATTERBOX_TLS_KEY', keyFile],
  ] as const) {
    if (file !== '' && !isReadableFile(file)) problems.push(`${name} must name a readable file, got "${file}"`);
  }

  const databaseKey = env.CHATTERBOX_DB_KEY ?? '';
  if (databaseKey !== '' && [...databaseKey].length < MIN_DATABASE_KEY_CHARS) {
    problems.push(`CHATTERBOX_DB_KEY must be at least ${MIN_DATABASE_KEY_CHARS} characters`);
  }
  if (databaseKey !== '' && env.DATABASE_URL) {
    problems.push('CHATTERBOX_DB_KEY encrypts the embedded SQLite file and has no effect on PostgreSQL; unset one of them (see docs/security.md)');
  }

  const adminUsers = (env.CHATTERBOX_ADMIN_USERS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  for (const name of adminUsers) {
    if (!/^[\p{L}\p{N}][\p{L}\p{N}._-]*$/u.test(name)) problems.push(`CHATTERBOX_ADMIN_USERS entry "${name}" is not a valid username`);
  }

  return {
    tls: {
      certFile: certFile === '' ? '' : path.resolve(certFile),
      keyFile: keyFile === '' ? '' : path.resolve(keyFile),
      reloadCheckIntervalMs: 60_000,
    },
    databaseKey,
    adminUsers: adminUsers.map(usernameKey),
  };
}

function isReadableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
