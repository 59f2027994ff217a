import { loadConfig } from './platform/config.js';
import { createLogger } from './platform/logger.js';
import { buildChatterBox } from './http/app.js';
import { DatabaseKeyError } from './storage/sqlite-encryption.js';

/** Starts a ChatterBox node from environment variables and stops it cleanly on SIGINT or SIGTERM. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }

  const logger = createLogger(config.logLevel);
  const server = await buildChatterBox(config, logger);
  const url = await server.listen();
  logger.info({ component: 'server', url, dataDir: config.dataDir }, 'ChatterBox started');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ component: 'server', signal }, 'shutting down');
    const forced = setTimeout(() => {
      logger.error({ component: 'server' }, 'shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownGraceMs);
    forced.unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ component: 'server', err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // SIGHUP puts a renewed TLS certificate into service at once, without waiting for the file check.
  process.on('SIGHUP', () => {
    logger.info({ component: 'server', signal: 'SIGHUP' }, 'reloading the TLS certificate');
    server.reloadCertificate();
  });
}

main().catch((error: unknown) => {
  if (error instanceof DatabaseKeyError) {
    console.error(`ChatterBox failed to start: ${error.message}`);
    process.exit(2);
  }
  console.error('ChatterBox failed to start:', error);
  process.exit(1);
});
