import { defineConfig } from 'vitest/config';

/** What every project shares. */
const common = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
  setupFiles: ['test/helpers/setup.ts'],
};
/**
 * Tests that run child processes (the AWS CLI, the launcher, serverless, bundles) take many times
 * longer when the machine is busy; a timeout is a hang detector here, not a performance check.
 */
const slow = { ...common, testTimeout: 120_000 };

export default defineConfig({
  test: {
    // Most test time is spent waiting on child processes, sockets and timers, not computing: more
    // files at once than cores keeps both cores of a small machine busy.
    maxWorkers: 5,
    projects: [
      { test: { ...common, name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { ...slow, name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      {
        test: {
          ...slow,
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // The `cks` bundle is rebuilt when stale; `serverless package` starts once, in the
          // background, for every test that needs its artifacts.
          globalSetup: ['test/helpers/build-cli.ts', 'test/helpers/package-setup.ts'],
        },
      },
    ],
  },
});
