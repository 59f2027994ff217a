import { defineConfig } from 'vitest/config';

// `npm run faults`: three node processes on PostgreSQL and Redis behind HAProxy, faults injected
// under load. The scenarios share one cluster and run in order, in one worker.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts', 'test/cluster/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
