import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyReply } from 'fastify';
import type { App } from '../http/app.js';
import type { AppContext } from '../platform/context.js';

/**
 * Serves the web client (web/, built by Vite into dist/web) at `/`.
 *
 * Only the built files and the client's own page paths are served here. The
 * fallback that returns index.html for a client-side route is limited to the
 * prefixes in CLIENT_ROUTE_PREFIXES, so it never serves /api, /metrics,
 * /healthz or /readyz, whose unknown paths keep the API's 404 body.
 */

/** Paths the client router of web/src/app/routes.ts uses; each of them returns index.html. */
export const CLIENT_ROUTE_PREFIXES = ['/login', '/register', '/teams', '/t/'] as const;

/**
 * The page's Content-Security-Policy: scripts, styles and connections come
 * from this origin only, and no inline script runs. `connect-src 'self'`
 * covers the WebSocket of the same host in browsers that follow CSP level 3.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Returns dist/web of the installation: the nearest folder above this module that contains package.json. */
export function defaultWebDir(): string {
  let folder = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(folder, 'package.json'))) {
    const parent = path.dirname(folder);
    if (parent === folder) break;
    folder = parent;
  }
  return path.join(folder, 'dist', 'web');
}

function setPageHeaders(reply: FastifyReply): void {
  void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
  void reply.header('referrer-policy', 'same-origin');
  void reply.header('cache-control', 'no-cache');
}

/** Registers the web client's files and page routes; without a build, / returns 503 and the build command. */
export async function registerWebClient(app: App, ctx: AppContext): Promise<void> {
  const root = ctx.config.webDir === '' ? defaultWebDir() : ctx.config.webDir;
  const logger = ctx.logger.child({ component: 'web' });

  if (!fs.existsSync(path.join(root, 'index.html'))) {
    logger.warn({ webDir: root }, 'web client not built; run "npm run build:web" to serve it at /');
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply.status(503).type('text/plain; charset=utf-8').send('The web client is not built. Run "npm run build:web", then restart the server.\n'),
    );
    return;
  }

  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    // Routes for the files present at start only: a catch-all route would also match unknown /api paths.
    wildcard: false,
    index: false,
    schemaHide: true,
    // setHeaders below sets cache-control, which the plugin would otherwise overwrite.
    cacheControl: false,
    setHeaders(response, filePath) {
      // Vite puts a content hash into every file name under assets/, so those never change.
      if (filePath.startsWith(path.join(root, 'assets') + path.sep)) {
        response.setHeader('cache-control', 'public, max-age=31536000, immutable');
      } else {
        response.setHeader('cache-control', 'no-cache');
      }
      if (filePath.endsWith('.html')) response.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
    },
  });

  const sendPage = async (_request: unknown, reply: FastifyReply) => {
    setPageHeaders(reply);
    return reply.sendFile('index.html', root, { cacheControl: false });
  };
  app.get('/', { schema: { hide: true } }, sendPage);
  for (const prefix of CLIENT_ROUTE_PREFIXES) {
    app.get(prefix.endsWith('/') ? `${prefix}*` : prefix, { schema: { hide: true } }, sendPage);
  }
  logger.info({ webDir: root }, 'serving the web client at /');
}
