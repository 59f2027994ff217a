import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';

/** Debian's Chromium, which .ci/run installs when it is missing; no test downloads a browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

export const chromiumInstalled = fs.existsSync(CHROMIUM_PATH);

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Builds the web client from the current sources into a temporary folder and returns it. */
export async function buildWebClient(): Promise<string> {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-web-'));
  // Vitest sets NODE_ENV to "test", with which Vite bundles React's development build: it was several
  // times slower per render in a CPU profile, so the tests would not measure what `npm run build:web` serves.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      configFile: path.join(projectRoot, 'web/vite.config.ts'),
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true, sourcemap: false },
    });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  return outDir;
}

/**
 * Starts headless Chromium with a fresh temporary profile (playwright-core
 * creates one per launch) and without the background traffic a browser
 * makes on its own: no component updates, sync or network prediction.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * The folder the tests save screenshots to: docs/screenshots (linked from docs/web-client.md)
 * when UPDATE_SCREENSHOTS=1, otherwise a temporary folder, so a test run leaves the checkout clean.
 */
export const SCREENSHOT_DIR = process.env.UPDATE_SCREENSHOTS === '1'
  ? path.join(projectRoot, 'docs/screenshots')
  : path.join(os.tmpdir(), 'chatterbox-screenshots');
