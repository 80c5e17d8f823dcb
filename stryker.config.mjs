// @ts-check
/**
 * Mutation testing of the decision and reconcile core (`npm run mutate`; see
 * docs/development/mutation-testing.md): the plan, one store's run, the sweep, and the DynamoDB
 * adapter's conditional writes.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  // The tests that cover these files and finish in seconds; `related` off: the list is the selection.
  vitest: { configFile: 'vitest.mutate.config.ts', related: false },
  coverageAnalysis: 'perTest',
  mutate: [
    'shared/domain/plan.ts',
    'shared/domain/plan/*.ts',
    'shared/reconcile/reconcile-store.ts',
    'shared/reconcile/reconcile-scope.ts',
    // Of the DynamoDB adapter, the conditional writes only: the store lease (acquire, status write,
    // release), the status delete, the scope-level records' outbox writes and the conditional-write
    // helpers. Reads, history, desired items (their generation-checked put too) and the table's creation are out of scope.
    // The ranges are line numbers: move them with any change to the file above or inside them.
    'shared/adapters/dynamodb-store.ts:171-247',
    'shared/adapters/dynamodb-store.ts:325-330',
    'shared/adapters/dynamodb-store.ts:417-479',
    'shared/adapters/dynamodb-store.ts:536-562',
  ],
  ignorePatterns: ['dist', 'docs', 'cloudformation', 'events', '.serverless', '.esbuild', 'coverage'],
  // The machine's cores are shared: two test runners, started under `nice` by `npm run mutate`.
  concurrency: 2,
  // Only mutants whose code or covering tests changed are run again (the file is under reports/, not committed).
  incremental: true,
  incrementalFile: 'reports/mutation/incremental.json',
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { reportMutants: true, reportTests: false, reportScoreTable: true },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  thresholds: { high: 95, low: 90, break: null },
};
