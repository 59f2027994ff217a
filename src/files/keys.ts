import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../platform/logger.js';

/** Length of a master key and of every data key: AES-256. */
export const KEY_BYTES = 32;

/** Name of the generated key file inside the data folder. */
export const KEY_FILE_NAME = 'file-master.key';

/** AES-256-GCM nonce and tag sizes used to wrap data keys. */
const WRAP_NONCE_BYTES = 12;
const WRAP_TAG_BYTES = 16;

/** Start of a value sealed by MasterKeyRing.sealSecret; the master key id and the sealed bytes follow. */
const SEALED_PREFIX = 'sealed1:';

/** A master key with its id; the id is stored beside every key it wraps. */
export interface MasterKey {
  /** `k` and 16 hex digits of the SHA-256 of the key: stable, and reveals nothing useful about the key. */
  id: string;
  key: Buffer;
}

/** Source of the master keys: the environment, or the key file in the data folder. */
export interface MasterKeySource {
  /** Base64 of 32 bytes; empty selects the key file. */
  masterKey: string;
  /** Older keys, base64, still accepted to unwrap data keys that were not re-wrapped yet. */
  previousMasterKeys: string[];
  dataDir: string;
}

/** A data key could not be unwrapped: its master key is unknown, or the wrapped value was altered. */
export class KeyUnwrapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyUnwrapError';
  }
}

/** Returns the master key id of a value of sealSecret, or undefined for any other value, such as a plaintext secret stored before sealing. */
export function sealedKeyId(value: string): string | undefined {
  if (!value.startsWith(SEALED_PREFIX)) return undefined;
  const end = value.indexOf(':', SEALED_PREFIX.length);
  return end === -1 ? undefined : value.slice(SEALED_PREFIX.length, end);
}

/** Derives the key that seals secrets of one purpose under one master key. */
function sealingKey(master: MasterKey, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master.key, Buffer.alloc(0), `chatterbox sealed ${purpose}`, KEY_BYTES));
}

/** Computes the id of a master key. */
export function masterKeyId(key: Buffer): string {
  return `k${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

/** Decodes a base64 master key, throwing with the variable's name when it is not 32 bytes. */
export function decodeMasterKey(encoded: string, name: string): Buffer {
  const trimmed = encoded.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || key.length !== KEY_BYTES) {
    throw new Error(`${name} must be ${KEY_BYTES} bytes in base64 (44 characters, such as the output of "openssl rand -base64 32")`);
  }
  return key;
}

/**
 * The current master key, which wraps every new data key, and the previous
 * keys, which only unwrap. With the key file as source, the ring reads the
 * file again when it changed, so a running node wraps new files under the
 * key that rotate-file-key just added, and can read files it re-wrapped.
 */
export class MasterKeyRing {
  private currentKey!: MasterKey;
  private keys = new Map<string, MasterKey>();
  private keyFileChangedAt = 0;

  constructor(
    keys: MasterKey[],
    private readonly keyFile?: string,
  ) {
    if (keys[0] === undefined) throw new Error('A master key ring needs at least one key');
    this.replace(keys);
    if (keyFile !== undefined) this.keyFileChangedAt = fs.statSync(keyFile).mtimeMs;
  }

  /** The key that wraps new data keys. */
  get current(): MasterKey {
    this.refresh();
    return this.currentKey;
  }

  /**
   * Derives a 32-byte secret for one purpose, such as signing download links,
   * from the current master key with HKDF-SHA256. Nodes that share the master
   * key derive the same secret; after a rotation the secret changes.
   */
  deriveSecret(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.current.key, Buffer.alloc(0), `chatterbox ${purpose}`, KEY_BYTES));
  }

  /**
   * Encrypts a short secret, such as a TOTP seed, with AES-256-GCM under a key
   * derived by HKDF-SHA256 from the current master key for `purpose`. The
   * `context`, such as the id of the row's owner, is authenticated, so a
   * sealed value copied to another row does not open there. Returns
   * `sealed1:<master key id>:<base64 of nonce, ciphertext and tag>`.
   */
  sealSecret(purpose: string, plaintext: string, context: string): string {
    const master = this.current;
    const nonce = randomBytes(WRAP_NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', sealingKey(master, purpose), nonce);
    cipher.setAAD(Buffer.from(`${master.id}:${context}`, 'utf8'));
    const sealed = Buffer.concat([nonce, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${SEALED_PREFIX}${master.id}:${sealed.toString('base64')}`;
  }

  /** Decrypts a value of sealSecret; throws KeyUnwrapError when its master key is unknown or the value, purpose or context differ. */
  openSecret(purpose: string, sealedValue: string, context: string): string {
    const keyId = sealedKeyId(sealedValue);
    if (keyId === undefined) throw new KeyUnwrapError('The value is not a sealed secret');
    const master = this.find(keyId);
    if (master === undefined) throw new KeyUnwrapError(`Master key ${keyId} is not configured`);

    const sealed = Buffer.from(sealedValue.slice(SEALED_PREFIX.length + keyId.length + 1), 'base64');
    if (sealed.length < WRAP_NONCE_BYTES + WRAP_TAG_BYTES) throw new KeyUnwrapError('The sealed secret is too short');
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(master, purpose), sealed.subarray(0, WRAP_NONCE_BYTES));
    decipher.setAAD(Buffer.from(`${keyId}:${context}`, 'utf8'));
    decipher.setAuthTag(sealed.subarray(sealed.length - WRAP_TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(WRAP_NONCE_BYTES, sealed.length - WRAP_TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new KeyUnwrapError(`The sealed secret does not authenticate under master key ${keyId}`);
    }
  }

  /** Wraps a data key under the current master key; returns the wrapped key (base64) and the master key id. */
  wrap(dataKey: Buffer): { wrappedKey: string; masterKeyId: string } {
    const { id, key } = this.current;
    const nonce = randomBytes(WRAP_NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    // The key id is authenticated, so a wrapped key cannot be relabelled as belonging to another master key.
    cipher.setAAD(Buffer.from(id, 'ascii'));
    const sealed = Buffer.concat([nonce, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]);
    return { wrappedKey: sealed.toString('base64'), masterKeyId: id };
  }

  /** Unwraps a data key; throws KeyUnwrapError when the master key is unknown or the value was altered. */
  unwrap(wrappedKey: string, keyId: string): Buffer {
    const master = this.find(keyId);
    if (master === undefined) throw new KeyUnwrapError(`Master key ${keyId} is not configured`);

    const sealed = Buffer.from(wrappedKey, 'base64');
    if (sealed.length !== WRAP_NONCE_BYTES + KEY_BYTES + WRAP_TAG_BYTES) throw new KeyUnwrapError('Wrapped key has the wrong length');
    const decipher = createDecipheriv('aes-256-gcm', master.key, sealed.subarray(0, WRAP_NONCE_BYTES));
    decipher.setAAD(Buffer.from(keyId, 'ascii'));
    decipher.setAuthTag(sealed.subarray(WRAP_NONCE_BYTES + KEY_BYTES));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(WRAP_NONCE_BYTES, WRAP_NONCE_BYTES + KEY_BYTES)), decipher.final()]);
    } catch {
      throw new KeyUnwrapError(`Wrapped key does not authenticate under master key ${keyId}`);
    }
  }

  private find(keyId: string): MasterKey | undefined {
    const known = this.keys.get(keyId);
    if (known !== undefined) return known;
    this.refresh();
    return this.keys.get(keyId);
  }

  /** Reads the key file again if its modification time changed; one stat per call. */
  private refresh(): void {
    if (this.keyFile === undefined) return;
    const changedAt = fs.statSync(this.keyFile).mtimeMs;
    if (changedAt === this.keyFileChangedAt) return;
    this.replace(readKeyFile(this.keyFile));
    this.keyFileChangedAt = changedAt;
  }

  private replace(keys: MasterKey[]): void {
    const [first] = keys;
    if (first === undefined) return;
    this.currentKey = first;
    this.keys = new Map(keys.map((entry) => [entry.id, entry]));
  }
}

/**
 * Opens the master key ring. CHATTERBOX_FILE_KEY (with any previous keys) wins;
 * without it, the key file in the data folder is read, or created with a new
 * random key and mode 0600 on the first start.
 */
export function openMasterKeyRing(source: MasterKeySource, logger: Logger): MasterKeyRing {
  if (source.masterKey !== '') {
    const keys = [source.masterKey, ...source.previousMasterKeys].map((encoded, index) =>
      toMasterKey(decodeMasterKey(encoded, index === 0 ? 'CHATTERBOX_FILE_KEY' : 'CHATTERBOX_FILE_PREVIOUS_KEYS')),
    );
    logger.info({ component: 'files', masterKeyId: keys[0]?.id, previousKeys: keys.length - 1 }, 'file master key read from the environment');
    return new MasterKeyRing(keys);
  }

  const file = keyFilePath(source.dataDir);
  if (!fs.existsSync(file) && createKeyFile(file)) {
    logger.warn(
      { component: 'files', keyFile: file, masterKeyId: readKeyFile(file)[0]?.id },
      'generated a new file master key; back it up, because files cannot be read without it, and set CHATTERBOX_FILE_KEY when several nodes share the files',
    );
  }
  const keys = readKeyFile(file);
  logger.info({ component: 'files', keyFile: file, masterKeyId: keys[0]?.id, previousKeys: keys.length - 1 }, 'file master key read from the key file');
  return new MasterKeyRing(keys, file);
}

/** Path of the generated key file. */
export function keyFilePath(dataDir: string): string {
  return path.join(dataDir, KEY_FILE_NAME);
}

/**
 * Reads the key file: one base64 key per line, the current key first and
 * previous keys after it. Blank lines and lines starting with # are skipped.
 */
export function readKeyFile(file: string): MasterKey[] {
  const lines = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (lines.length === 0) throw new Error(`The file master key file ${file} contains no key; restore it from a backup`);
  return lines.map((line, index) => toMasterKey(decodeMasterKey(line, `${file} line ${index + 1}`)));
}

/**
 * Replaces the key file with these keys, current first. Writes a temporary
 * file with mode 0600, syncs it, and renames it over the old one, so a crash
 * leaves either the old or the new file, never a torn one.
 */
export function writeKeyFile(file: string, keys: Buffer[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  const body = [
    '# ChatterBox file master keys, base64. The first key wraps new files; later keys only read older ones.',
    ...keys.map((key) => key.toString('base64')),
    '',
  ].join('\n');
  const descriptor = fs.openSync(temporary, 'w', 0o600);
  try {
    // The mode given to openSync is reduced by the umask; set it explicitly.
    fs.fchmodSync(descriptor, 0o600);
    fs.writeSync(descriptor, body);
    fs.fsyncSync(descriptor);
  } finally {
    fs.closeSync(descriptor);
  }
  fs.renameSync(temporary, file);
  syncDirectory(path.dirname(file));
}

/** Creates a master key with its id from raw bytes. */
export function toMasterKey(key: Buffer): MasterKey {
  return { id: masterKeyId(key), key };
}

/** Creates the key file with one new random key; returns false when another process created it first. */
function createKeyFile(file: string): boolean {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const key = randomBytes(KEY_BYTES);
  let descriptor: number;
  try {
    // The `wx` flag rejects an existing file, so two processes starting at once cannot overwrite each other's key.
    descriptor = fs.openSync(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    fs.fchmodSync(descriptor, 0o600);
    fs.writeSync(descriptor, `# ChatterBox file master key, base64. Back it up: stored files cannot be read without it.\n${key.toString('base64')}\n`);
    fs.fsyncSync(descriptor);
  } finally {
    fs.closeSync(descriptor);
  }
  syncDirectory(path.dirname(file));
  return true;
}

/** Makes a rename or a new file in the folder durable. */
export function syncDirectory(directory: string): void {
  const descriptor = fs.openSync(directory, 'r');
  try {
    fs.fsyncSync(descriptor);
  } finally {
    fs.closeSync(descriptor);
  }
}
