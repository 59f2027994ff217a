import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

/** Writes a stand-in for Vite's output: the page, one hashed asset and the manifest. */
function writeFakeBuild(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-web-static-'));
  fs.mkdirSync(path.join(dir, 'assets'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>ChatterBox</title><script type="module" src="/assets/index-abc123.js"></script>');
  fs.writeFileSync(path.join(dir, 'assets/index-abc123.js'), 'console.log("chatterbox");');
  fs.writeFileSync(path.join(dir, 'manifest.webmanifest'), '{"name":"ChatterBox"}');
  return dir;
}

describe('web client files', () => {
  let server: TestServer;
  let webDir: string;

  beforeAll(async () => {
    webDir = writeFakeBuild();
    server = await startServer({ webDir });
  });

  afterAll(async () => {
    await server?.close();
    fs.rmSync(webDir, { recursive: true, force: true });
  });

  test('page at / with a strict CSP', async () => {
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await response.text()).toContain('<title>ChatterBox</title>');
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(response.headers.get('cache-control')).toBe('no-cache');
  });

  test('client routes return the page', async () => {
    for (const route of ['/login', '/register', '/teams', '/t/team-1', '/t/team-1/c/conversation-1?message=m1', '/t/team-1/threads']) {
      const response = await fetch(`${server.url}${route}`);
      expect(response.status, route).toBe(200);
      expect(response.headers.get('content-security-policy'), route).toContain("script-src 'self'");
      expect(await response.text(), route).toContain('<title>ChatterBox</title>');
    }
  });

  test('hashed assets are cached for good', async () => {
    const response = await fetch(`${server.url}/assets/index-abc123.js`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const manifest = await fetch(`${server.url}/manifest.webmanifest`);
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('cache-control')).toBe('no-cache');
  });

  test('fallback never answers API or operations paths', async () => {
    for (const route of ['/api/nope', '/api/teams/x/y/z', '/nope', '/assets/missing.js', '/ws', '/teams/extra']) {
      const response = await fetch(`${server.url}${route}`);
      expect(response.status, route).toBe(404);
      expect(response.headers.get('content-type'), route).toMatch(/^application\/json/);
      expect(((await response.json()) as { error: { code: string } }).error.code, route).toBe('ROUTE_NOT_FOUND');
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${server.url}/metrics`)).text()).toContain('chatterbox_websocket_connections');
    expect((await fetch(`${server.url}/api/users/me`)).status).toBe(401);
  });

  test('paths outside the build are not served', async () => {
    for (const route of ['/assets/..%2f..%2fpackage.json', '/..%2fpackage.json', '/%2e%2e/%2e%2e/etc/passwd']) {
      const response = await fetch(`${server.url}${route}`);
      expect(response.status, route).toBeGreaterThanOrEqual(400);
      expect(await response.text(), route).not.toContain('"dependencies"');
    }
  });

  test('only GET and HEAD reach the page', async () => {
    const response = await fetch(`${server.url}/`, { method: 'POST' });
    expect(response.status).toBe(404);
    expect((await fetch(`${server.url}/`, { method: 'HEAD' })).status).toBe(200);
  });
});

describe('web client not built', () => {
  let server: TestServer;
  let emptyDir: string;

  beforeAll(async () => {
    emptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-web-empty-'));
    server = await startServer({ webDir: emptyDir });
  });

  afterAll(async () => {
    await server?.close();
    fs.rmSync(emptyDir, { recursive: true, force: true });
  });

  test('/ answers 503 with the build command', async () => {
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(503);
    expect(await response.text()).toContain('npm run build:web');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
