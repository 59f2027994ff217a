import { configDefaults, defineConfig } from 'vitest/config';

// Browser tests start Chromium, whose processes take both cores; they run alone, after every other file.
const BROWSER_TESTS = ['test/web/web-client.test.ts', 'test/web/web-client-features.test.ts', 'test/web/xss.test.ts'];
// Fault runs of a whole cluster take minutes; `npm run faults` runs them (vitest.faults.config.ts).
const FAULT_TESTS = ['test/faults/**'];

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: more workers only add contention between the servers the tests start.
    maxWorkers: 2,
    // Each project lists its own files: `extends` would append to a shared include list, not replace it.
    projects: [
      {
        extends: true,
        test: {
          name: 'server',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...BROWSER_TESTS, ...FAULT_TESTS],
          sequence: { groupOrder: 0 },
          // Each file builds its own servers, users and teams and closes them. No helper keeps hooks
          // or state that a later file could see. So a worker loads the modules once for all its files.
          isolate: false,
        },
      },
      { extends: true, test: { name: 'browser', include: BROWSER_TESTS, sequence: { groupOrder: 1 } } },
    ],
  },
});
