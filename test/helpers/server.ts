import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildChatterBox, type ChatterBox } from '../../src/http/app.js';
import { buildConfig, type ConfigOverrides } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logger.js';

export interface TestServer {
  url: string;
  wsUrl: string;
  server: ChatterBox;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * Starts a real server on an ephemeral port with a fresh SQLite file in a
 * temporary folder. LOG_LEVEL=info shows its logs.
 */
export async function startServer(overrides: ConfigOverrides = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'chatterbox-test-'));
  const config = buildConfig({ port: 0, ...overrides, dataDir });
  const server = await buildChatterBox(config, createLogger(process.env.LOG_LEVEL ?? 'silent'));
  const url = await server.listen();
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/api/realtime',
    server,
    dataDir,
    close: async () => {
      await server.close();
      if (overrides.dataDir === undefined) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
