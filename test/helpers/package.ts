/**
 * This run's `serverless package` (started once by `package-setup.ts`, the e2e project's global
 * setup): wait for it, then read the template and unpack the functions' artifacts.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject } from 'vitest';
import { PACKAGE_TIMEOUT_MS, type PackageResult, RESULT_FILE } from './package-setup.js';
import { unzip } from './zip.js';

export { PACKAGE_TIMEOUT_MS, runServerless, STAGE, serverlessEnv } from './package-setup.js';

export interface PackagedService {
  /** The packaged copy of the project is `<work>/project`; the artifacts are in its `.serverless`. */
  work: string;
  /** What `serverless package` printed. */
  output: string;
}

/** Waits for this run's `serverless package`; throws with its output if it failed. */
export async function packagedService(): Promise<PackagedService> {
  const work = inject('packageWork');
  const resultFile = join(work, RESULT_FILE);
  const deadline = Date.now() + PACKAGE_TIMEOUT_MS;
  while (!existsSync(resultFile)) {
    if (Date.now() > deadline) throw new Error(`serverless package did not finish in ${PACKAGE_TIMEOUT_MS} ms`);
    await sleep(200);
  }
  const result = JSON.parse(readFileSync(resultFile, 'utf8')) as PackageResult;
  if (!result.ok) throw new Error(result.output);
  return { work, output: result.output };
}

/** The CloudFormation template of this run's package (the one `serverless deploy` would update the stack with). */
export function templateFile(service: PackagedService): string {
  return join(service.work, 'project', '.serverless', 'cloudformation-template-update-stack.json');
}

/** A function's artifact, unpacked. */
export interface UnpackedFunction {
  /** The zip serverless wrote. */
  artifact: string;
  files: Map<string, Buffer>;
  /** The file the Node.js runtime loads for the handler (`<file>.js`, `.mjs` or `.cjs`), if the artifact has one. */
  entry: string | undefined;
}

/** Unpacks the artifact of the function whose handler is `handler` (e.g. `functions/sweep.handler`) into `into`. */
export function unpackFunction(service: PackagedService, handler: string, into: string): UnpackedFunction {
  const serverlessDir = join(service.work, 'project', '.serverless');
  const template = JSON.parse(readFileSync(templateFile(service), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties?: { Handler?: string; Code?: { S3Key?: string } } }>;
  };
  const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties?.Handler === handler);
  if (functions.length !== 1) throw new Error(`${functions.length} functions with handler ${handler} in the template`);
  const artifact = join(serverlessDir, basename(String(functions[0]?.Properties?.Code?.S3Key)));
  const files = unzip(readFileSync(artifact));
  for (const [name, content] of files) {
    mkdirSync(dirname(join(into, name)), { recursive: true });
    writeFileSync(join(into, name), content);
  }
  const file = handler.slice(0, handler.lastIndexOf('.'));
  const entry = ['.js', '.mjs', '.cjs'].map((ext) => `${file}${ext}`).find((name) => files.has(name));
  return { artifact, files, entry };
}
