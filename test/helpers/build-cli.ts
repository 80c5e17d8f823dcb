/**
 * Vitest global setup: rebuilds the `cks` bundle (dist/cli) when a source changed since it was built,
 * so that the tests that run `bin/cks.js` never run stale code.
 */
import { buildCli, staleBundle } from '../../bin/build-cli.js';

export default async function setup(): Promise<void> {
  if (staleBundle() !== undefined) await buildCli();
}
