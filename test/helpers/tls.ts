import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface TestCertificate {
  dir: string;
  certFile: string;
  keyFile: string;
  /** PEM of the self-signed certificate, which clients pass as their only trusted CA. */
  cert: string;
}

/**
 * Creates a self-signed P-256 certificate for 127.0.0.1 and localhost with
 * the openssl command, valid for one day, in `dir` (a new temporary folder
 * by default). `commonName` distinguishes two certificates.
 */
export function createCertificate(commonName = 'chatterbox-test', dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-tls-'))): TestCertificate {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${commonName}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', keyFile, '-out', certFile,
    ],
    { stdio: 'pipe' },
  );
  return { dir, certFile, keyFile, cert: fs.readFileSync(certFile, 'utf8') };
}

export interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** Common name of the certificate the server presented. */
  peerCommonName: string;
}

/** Sends one HTTPS request that trusts only `ca`, and parses a JSON body. */
export function httpsRequest(
  url: string,
  options: { ca: string; method?: string; headers?: Record<string, string>; body?: unknown; tls?: tls.ConnectionOptions },
): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const request = https.request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        agent: false,
        headers: { ...(payload !== undefined && { 'content-type': 'application/json' }), ...options.headers },
        ...options.tls,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const socket = response.socket as tls.TLSSocket;
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: text === '' ? undefined : (JSON.parse(text) as unknown),
            peerCommonName: String(socket.getPeerCertificate().subject?.CN ?? ''),
          });
        });
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

/** Attempts a bare TLS handshake and returns the negotiated protocol and cipher, or the error it failed with. */
export function tryHandshake(port: number, ca: string, options: tls.ConnectionOptions): Promise<{ protocol: string | null; cipher: string } | { error: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...options }, () => {
      const result = { protocol: socket.getProtocol(), cipher: socket.getCipher().name };
      socket.end();
      resolve(result);
    });
    socket.on('error', (error) => resolve({ error: error.message }));
  });
}
