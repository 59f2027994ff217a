#!/usr/bin/env node
import { rotateFileKey } from './files/rotate.js';
import { loadConfig } from './platform/config.js';
import { createLogger } from './platform/logger.js';

const USAGE = `Usage: chatterbox <command>

Commands:
  rotate-file-key   Re-wrap every file's data key under the current master key. With the
                    generated key file, first add a new random key to it. Reads the same
                    environment variables as the server.`;

/** Runs one administrative command against the configured storage, then exits. */
async function main(argv: readonly string[]): Promise<number> {
  const [command] = argv;
  if (command === undefined || command === 'help' || command === '--help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'rotate-file-key') {
    console.error(`Unknown command "${command}".\n\n${USAGE}`);
    return 2;
  }

  let config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const logger = createLogger(config.logLevel);
  const result = await rotateFileKey(config, logger);
  return result.failedKeys === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('The command failed:', error);
    process.exit(1);
  },
);
