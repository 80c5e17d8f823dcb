#!/usr/bin/env node
// The `cks` operator CLI: runs the bundle in dist/cli that `npm ci` builds (bin/build-cli.js).
import { staleBundle } from './build-cli.js';

const problem = staleBundle();
if (problem === undefined) {
  // stderr is for one clear line per error; the SDK's notice about future Node versions is not one.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { run } = await import('../dist/cli/cks.js');
  process.exitCode = await run(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    ...(process.stdout.isTTY && { columns: process.stdout.columns }),
  });
} else {
  process.stderr.write(`cks: ${problem}\n`);
  process.exitCode = 1;
}
