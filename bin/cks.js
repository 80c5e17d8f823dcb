#!/usr/bin/env node
// The `cks` operator CLI (DESIGN.md §5). Runs the TypeScript sources through tsx: no build step.
import { register } from 'tsx/esm/api';

// stderr is for one clear line per error; the SDK's notice about future Node versions is not one.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { run } = await import('../shared/cli/main.ts');
process.exitCode = await run(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});
