import fs from 'node:fs';
import Database from 'better-sqlite3-multiple-ciphers';

/** The first 16 bytes of every unencrypted SQLite 3 file. */
const PLAINTEXT_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * A database file that could not be opened with the configured key. Its
 * message names the file and what to do, and never contains the key.
 */
export class DatabaseKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseKeyError';
  }
}

/**
 * Selects SQLCipher 4 as the page cipher (AES-256-CBC with an HMAC-SHA512
 * per page, PBKDF2-HMAC-SHA512 key derivation), so that the standard sqlcipher
 * shell can open the file too. It must run before the key is set.
 */
function selectCipher(connection: Database.Database): void {
  connection.pragma("cipher = 'sqlcipher'");
  connection.pragma('legacy = 4');
}

/** Returns true when the file exists and starts with the plaintext SQLite header. */
function isPlaintextDatabase(file: string): boolean {
  let handle: number | undefined;
  try {
    handle = fs.openSync(file, 'r');
    const header = Buffer.alloc(PLAINTEXT_HEADER.length);
    const read = fs.readSync(handle, header, 0, header.length, 0);
    return read === header.length && header.equals(PLAINTEXT_HEADER);
  } catch {
    return false;
  } finally {
    if (handle !== undefined) fs.closeSync(handle);
  }
}

function hasContent(file: string): boolean {
  try {
    return fs.statSync(file).size > 0;
  } catch {
    return false;
  }
}

/**
 * Opens a SQLite file, encrypted with `key` unless the key is empty, and reads
 * its schema once, so that a wrong or missing key fails here with a
 * DatabaseKeyError instead of on the first query.
 */
export function openSqliteFile(file: string, key: string): Database.Database {
  const existing = hasContent(file);
  if (existing && key !== '' && isPlaintextDatabase(file)) {
    throw new DatabaseKeyError(
      `CHATTERBOX_DB_KEY is set but ${file} is not encrypted. Encrypt it first with ` +
        '`CHATTERBOX_DB_KEY= CHATTERBOX_DB_NEW_KEY=<key> chatterbox db rekey` (see docs/security.md), or unset CHATTERBOX_DB_KEY.',
    );
  }

  const connection = new Database(file);
  try {
    if (key !== '') {
      selectCipher(connection);
      connection.key(Buffer.from(key, 'utf8'));
    }
    connection.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (error) {
    connection.close();
    if ((error as { code?: unknown }).code !== 'SQLITE_NOTADB') throw error;
    throw new DatabaseKeyError(
      key === ''
        ? `${file} is encrypted or is not a SQLite database: set CHATTERBOX_DB_KEY to its key.`
        : `CHATTERBOX_DB_KEY does not decrypt ${file}: the key is wrong, or the file is not a ChatterBox database.`,
    );
  }
  if (key !== '') {
    // SQLite3 Multiple Ciphers encrypts the database, its WAL and its journals, but not temporary
    // files of large sorts and indexes, so those stay in memory.
    connection.pragma('temp_store = MEMORY');
  }
  return connection;
}

/**
 * Changes the key of a SQLite file, which no server may have open. An empty
 * `oldKey` encrypts a plaintext file, and an empty `newKey` decrypts one.
 * SQLite3 Multiple Ciphers cannot rekey in WAL mode, so the file leaves WAL
 * mode for the rewrite and returns to it after.
 */
export function rekeySqliteFile(file: string, oldKey: string, newKey: string): void {
  if (!hasContent(file)) throw new DatabaseKeyError(`No database at ${file}; check CHATTERBOX_DATA_DIR.`);
  const connection = openSqliteFile(file, oldKey);
  try {
    // The exclusive lock fails fast while a server holds the file.
    connection.pragma('busy_timeout = 0');
    connection.pragma('locking_mode = EXCLUSIVE');
    try {
      connection.pragma('journal_mode = DELETE');
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY') throw error;
      throw new DatabaseKeyError(`${file} is in use: stop the server before changing its key.`);
    }
    if (newKey !== '') selectCipher(connection);
    connection.prepare('SELECT count(*) FROM sqlite_master').get();
    const status = connection.rekey(Buffer.from(newKey, 'utf8'));
    if (status !== 0) throw new Error(`Rekeying ${file} failed with SQLite status ${status}`);
    connection.pragma('journal_mode = WAL');
  } finally {
    connection.close();
  }
}
