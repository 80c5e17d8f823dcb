import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that spend their time waiting on real time (serverless-offline's one-minute schedule, the
 * demo's run, the simulator's seeds, many sweeps against the fake) start first, so that the rest of
 * the suite runs beside them instead of after them. Others keep vitest's own order.
 */
const LONG_WAITS = ['offline.test.ts', 'simulate.test.ts', 'safety.test.ts', 'reconciler.test.ts', 'demo.test.ts'];

class LongWaitsFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification): number => {
      const index = LONG_WAITS.findIndex((name) => file.moduleId.endsWith(`/${name}`));
      return index === -1 ? LONG_WAITS.length : index;
    };
    const sorted = await super.sort(files);
    return sorted
      .map((file, order) => ({ file, order }))
      .sort((a, b) => rank(a.file) - rank(b.file) || a.order - b.order)
      .map(({ file }) => file);
  }
}

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
const slow = { ...common, testTimeout: 240_000 };

export default defineConfig({
  test: {
    // Most test time is spent waiting on child processes, sockets and timers, not computing: more
    // files at once than cores keeps both cores of a small machine busy.
    maxWorkers: 5,
    sequence: { sequencer: LongWaitsFirst },
    projects: [
      { test: { ...common, name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // The stack's policies are read once per run (see stack-setup.ts), for every project that runs under them.
      { test: { ...slow, name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: ['test/helpers/stack-setup.ts'] } },
      {
        test: {
          ...slow,
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // The `cks` bundle is rebuilt when stale; `serverless package` starts once, in the
          // background, for every test that needs its artifacts; the stack's policies are read once.
          globalSetup: ['test/helpers/build-cli.ts', 'test/helpers/package-setup.ts', 'test/helpers/stack-setup.ts'],
        },
      },
    ],
  },
});
