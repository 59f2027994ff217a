import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import type { Config } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';

/**
 * Cipher suites offered, strongest first: the three TLS 1.3 suites, then for
 * TLS 1.2 only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (forward
 * secrecy and authenticated encryption). CBC suites, RSA key exchange, SHA-1
 * MACs and TLS 1.0 and 1.1 are all refused. DHE suites are left out because
 * they need Diffie-Hellman parameters of their own.
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

const BASE_OPTIONS: tls.SecureContextOptions = {
  minVersion: 'TLSv1.2',
  ciphers: TLS_CIPHERS,
  honorCipherOrder: true,
};

/** Reads the certificate chain and key files and builds a secure context; throws if they are unreadable or do not match. */
function readSecureContextOptions(config: Config['tls']): tls.SecureContextOptions {
  const options = { ...BASE_OPTIONS, cert: fs.readFileSync(config.certFile), key: fs.readFileSync(config.keyFile) };
  // Validates the pair now: createSecureContext rejects a key that does not match the certificate.
  tls.createSecureContext(options);
  return options;
}

/** Creates the HTTPS server for Fastify's serverFactory, with TLS 1.2 as the lowest version. */
export function createHttpsServer(config: Config['tls'], handler: (request: never, response: never) => void): https.Server {
  return https.createServer(readSecureContextOptions(config), handler as never);
}

/**
 * Puts a renewed certificate into service without a restart: on reload(), and
 * whenever the modification time of either file changes (checked every
 * `reloadCheckIntervalMs`, which follows a symbolic link swapped by a tool such
 * as certbot). A file that is unreadable or a key that does not match the
 * certificate, as during a half-finished copy, keeps the current certificate
 * and logs the error, and the next change tries again. Open connections keep
 * the certificate they started with.
 */
export class CertificateReloader {
  readonly #config: Config['tls'];
  readonly #server: https.Server;
  readonly #logger: Logger;
  readonly #onChange = () => this.reload();

  constructor(config: Config['tls'], server: https.Server, logger: Logger) {
    this.#config = config;
    this.#server = server;
    this.#logger = logger.child({ component: 'tls' });
    for (const file of [config.certFile, config.keyFile]) {
      fs.watchFile(file, { interval: config.reloadCheckIntervalMs, persistent: false }, this.#onChange);
    }
  }

  /** Reads both files again and returns whether the new certificate is in service. */
  reload(): boolean {
    try {
      this.#server.setSecureContext(readSecureContextOptions(this.#config));
      this.#logger.info({ certFile: this.#config.certFile }, 'certificate reloaded');
      return true;
    } catch (error) {
      this.#logger.error({ err: error, certFile: this.#config.certFile, keyFile: this.#config.keyFile }, 'certificate reload failed; keeping the current one');
      return false;
    }
  }

  close(): void {
    for (const file of [this.#config.certFile, this.#config.keyFile]) fs.unwatchFile(file, this.#onChange);
  }
}
