import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { rootCertificates } from 'node:tls';
import { AddressGuard, type ResolveAll } from '../../notifications/push/address-guard.js';
import type { SlackFilesConfig } from '../../platform/config.js';
import type { SlackFile } from './export-types.js';

/** A download that failed. The message names the host and the cause, never the token. */
export class DownloadFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DownloadFailed';
  }
}

/**
 * Downloads the bytes of files that an export lists but does not contain,
 * with a Slack token that the import's starter supplies (a user or bot token
 * with the files:read scope). The token goes only to the configured hosts
 * over https, through an agent whose DNS lookup rejects loopback, private and
 * link-local addresses, so an export cannot point the server, or the token,
 * at another machine. Redirects are not followed, because they could lead
 * anywhere. Once Slack rejects the token, the rest of the run fetches nothing.
 */
export class SlackFileDownloader {
  readonly #token: string;
  readonly #hosts: Set<string>;
  readonly #guard: AddressGuard;
  readonly #agent: https.Agent;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  #rejected = false;

  constructor(config: SlackFilesConfig, token: string, maxBytes: number, resolveAll?: ResolveAll) {
    this.#token = token;
    this.#hosts = new Set(config.hosts.map((host) => host.toLowerCase()));
    this.#guard = new AddressGuard(config.allowedAddresses, resolveAll);
    this.#timeoutMs = config.timeoutMs;
    this.#maxBytes = maxBytes;
    const extraCa = config.caFile === '' ? [] : [fs.readFileSync(config.caFile, 'utf8')];
    this.#agent = new https.Agent({
      keepAlive: true,
      maxSockets: 4,
      lookup: this.#guard.lookup,
      ...(extraCa.length > 0 && { ca: [...rootCertificates, ...extraCa] }),
    });
  }

  /** True once Slack rejected the token, after which later files stay placeholders without a request. */
  get tokenRejected(): boolean {
    return this.#rejected;
  }

  /** Returns the URL of a file's bytes, or undefined when the entry has none. */
  urlOf(file: SlackFile): string | undefined {
    const url = file.url_private_download ?? file.url_private;
    return typeof url === 'string' && url !== '' ? url : undefined;
  }

  /**
   * Starts the download of a file and returns the response body, which the
   * caller must read or destroy. The time limit covers the whole body, so a
   * stalled transfer errors the stream. Raises DownloadFailed.
   */
  async open(rawUrl: string, mediaType: string | undefined): Promise<IncomingMessage> {
    const url = this.#checkUrl(rawUrl);
    const timedOut = new DownloadFailed(`download from ${url.host} timed out after ${this.#timeoutMs} ms`);
    let response: IncomingMessage;
    try {
      response = await new Promise<IncomingMessage>((resolve, reject) => {
        const startedAt = Date.now();
        const headers = { authorization: `Bearer ${this.#token}`, 'user-agent': 'ChatterBox Slack import' };
        const request = https.get(url, { agent: this.#agent, headers }, (received) => {
          // From here the rest of the limit applies to the body, whose reader gets the error.
          clearTimeout(requestTimer);
          const bodyTimer = setTimeout(() => received.destroy(timedOut), this.#timeoutMs - (Date.now() - startedAt));
          received.once('close', () => clearTimeout(bodyTimer));
          resolve(received);
        });
        const requestTimer = setTimeout(() => request.destroy(timedOut), this.#timeoutMs);
        request.on('error', (error) => {
          clearTimeout(requestTimer);
          reject(error);
        });
      });
    } catch (error) {
      if (error instanceof DownloadFailed) throw error;
      throw new DownloadFailed(`download from ${url.host} failed: ${(error as Error).message}`);
    }

    const failure = this.#checkResponse(response, url.host, mediaType);
    if (failure !== undefined) {
      response.destroy();
      throw new DownloadFailed(failure);
    }
    return response;
  }

  close(): void {
    this.#agent.destroy();
  }

  #checkUrl(rawUrl: string): URL {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw new DownloadFailed('its URL is invalid');
    }
    if (url.protocol !== 'https:') throw new DownloadFailed(`its URL is not https (${url.protocol})`);
    if (url.username !== '' || url.password !== '') throw new DownloadFailed('its URL contains credentials');
    if (!this.#hosts.has(url.host.toLowerCase())) throw new DownloadFailed(`its host ${url.host} is not in CHATTERBOX_SLACK_FILE_HOSTS`);
    // The agent's lookup checks host names, but an address written in the URL never reaches it.
    const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (net.isIP(literal) !== 0 && !this.#guard.isAllowed(literal)) {
      throw new DownloadFailed(`its address ${literal} is loopback, private, link-local or reserved`);
    }
    return url;
  }

  /** Returns why a response cannot be stored, or undefined when it can. */
  #checkResponse(response: IncomingMessage, host: string, mediaType: string | undefined): string | undefined {
    const status = response.statusCode ?? 0;
    if (status === 401 || status === 403) {
      this.#rejected = true;
      return `${host} rejected the token (HTTP ${status}); no further files are fetched in this run`;
    }
    if (status >= 300 && status < 400) return `${host} returned a redirect (HTTP ${status}), which is not followed; check the token`;
    if (status !== 200) return `${host} returned HTTP ${status}`;
    // Slack returns its sign-in page for a file request whose token it does not accept.
    const received = String(response.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (received === 'text/html' && mediaType !== 'text/html') {
      this.#rejected = true;
      return `${host} returned a web page instead of the file, so it did not accept the token; no further files are fetched in this run`;
    }
    const length = Number(response.headers['content-length']);
    if (Number.isFinite(length) && length > this.#maxBytes) return `the file is ${length} bytes, more than the ${this.#maxBytes} bytes allowed`;
    return undefined;
  }
}
