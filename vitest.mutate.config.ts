import { defineConfig } from 'vitest/config';

/**
 * The tests `npm run mutate` runs against each mutant: those that cover the plan, one store's run, the
 * sweep and the DynamoDB adapter's conditional writes, and that finish in seconds (no e2e, no demo, no
 * simulator, no stack deployed into the fake).
 */
export default defineConfig({
  test: {
    include: [
      'test/unit/plan.test.ts',
      'test/unit/plan-core.test.ts',
      'test/unit/plan-hold.test.ts',
      'test/unit/plan-properties.test.ts',
      'test/unit/plan-safety.test.ts',
      'test/unit/plan-guards.test.ts',
      'test/unit/plan-approval.test.ts',
      'test/unit/plan-transitions.test.ts',
      'test/unit/reconcile.test.ts',
      'test/unit/reconcile-store.test.ts',
      'test/unit/reconcile-scope-removed.test.ts',
      'test/unit/reconcile-settings.test.ts',
      'test/unit/fleet.test.ts',
      'test/integration/dynamodb-store.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    setupFiles: ['test/helpers/setup.ts'],
  },
});
