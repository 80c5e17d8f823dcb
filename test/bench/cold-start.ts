/**
 * `npm run bench:cold-start [-- <runs>]`: what loading each Lambda function costs.
 *
 * Packages the service as a deployment does (`serverless package`, offline), unpacks each function's
 * artifact, then starts <runs> fresh `node` processes per function (default 15, functions taking
 * turns) with the function's environment: its variables from the generated template, NODE_OPTIONS
 * included, plus the ones the Lambda runtime sets. Each process times the `import()` of the handler
 * file, as the Node.js runtime loads it, and nothing else. Prints per function the size of the
 * bundled code, its source map and the zip, and the median, lowest and highest init time.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { unzip } from '../helpers/zip.js';
import { median } from './median.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RUNS = Number(process.argv[2] ?? 15);
const REGION = 'us-east-1';

interface LambdaFunction {
  id: string;
  /** The handler file, absolute, unpacked from the artifact. */
  entry: string;
  env: Record<string, string>;
  codeBytes: number;
  mapBytes: number;
  zipBytes: number;
}

if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`runs must be a whole number of at least 1, got "${process.argv[2]}"`);

const work = mkdtempSync(join(tmpdir(), 'cks-bench-cold-start-'));
try {
  const functions = packageFunctions(work);
  const times = new Map<string, number[]>(functions.map((fn) => [fn.id, []]));
  for (let run = 0; run < RUNS; run++) {
    for (const fn of functions) times.get(fn.id)!.push(initTime(fn));
  }
  console.log(`module init of each function, ${RUNS} fresh node ${process.version} processes each`);
  console.log('function              code        map         zip         init median (min-max)');
  for (const fn of functions) {
    const list = times.get(fn.id)!;
    console.log(
      `${fn.id.padEnd(20)}  ${kb(fn.codeBytes)}  ${kb(fn.mapBytes)}  ${kb(fn.zipBytes)}  ` +
        `${ms(median(list))} (${ms(Math.min(...list))}-${ms(Math.max(...list))})`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Runs `serverless package` into `work` and unpacks every function's artifact there. */
function packageFunctions(work: string): LambdaFunction[] {
  const artifacts = join(work, 'artifacts');
  const packaged = spawnSync(process.execPath, [join(ROOT, 'node_modules/serverless/bin/serverless.js'), 'package', '--package', artifacts], {
    cwd: ROOT,
    env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (packaged.status !== 0) throw new Error(`serverless package failed:\n${packaged.stdout}${packaged.stderr}`);
  const template = JSON.parse(readFileSync(join(artifacts, 'cloudformation-template-update-stack.json'), 'utf8')) as {
    // biome-ignore lint/suspicious/noExplicitAny: the template is untyped JSON, read field by field below
    Resources: Record<string, { Type: string; Properties: Record<string, any> }>;
  };
  return Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
    .map(([id, { Properties: fn }]) => {
      const zip = join(artifacts, basename(String(fn.Code.S3Key)));
      const dir = join(work, id);
      const files = unzip(readFileSync(zip));
      for (const [name, content] of files) {
        mkdirSync(dirname(join(dir, name)), { recursive: true });
        writeFileSync(join(dir, name), content);
      }
      const handlerFile = String(fn.Handler).slice(0, String(fn.Handler).lastIndexOf('.'));
      const code = ['.js', '.mjs', '.cjs'].map((ext) => `${handlerFile}${ext}`).find((name) => files.has(name));
      if (code === undefined) throw new Error(`${id}: no file for handler ${fn.Handler} in ${zip}`);
      const variables = (fn.Environment?.Variables ?? {}) as Record<string, unknown>;
      for (const [name, value] of Object.entries(variables)) {
        if (typeof value !== 'string') throw new Error(`${id}: ${name} is not a literal in the template`);
      }
      return {
        id,
        entry: join(dir, code),
        env: {
          PATH: process.env.PATH ?? '',
          ...(variables as Record<string, string>),
          AWS_REGION: REGION,
          AWS_DEFAULT_REGION: REGION,
          AWS_LAMBDA_FUNCTION_NAME: String(fn.FunctionName),
          AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.MemorySize),
          AWS_EXECUTION_ENV: `AWS_Lambda_${fn.Runtime}`,
          LAMBDA_TASK_ROOT: dir,
          TZ: ':UTC',
        },
        codeBytes: files.get(code)!.length,
        mapBytes: files.get(`${code}.map`)?.length ?? 0,
        zipBytes: statSync(zip).size,
      };
    });
}

/** Milliseconds one fresh process takes to import the function's handler file. */
function initTime(fn: LambdaFunction): number {
  const script = `
    const start = performance.now();
    await import(${JSON.stringify(pathToFileURL(fn.entry).href)});
    process.stdout.write(String(performance.now() - start));
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fn.env.LAMBDA_TASK_ROOT,
    env: fn.env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const elapsed = Number(child.stdout);
  if (child.status !== 0 || !(elapsed > 0)) throw new Error(`${fn.id} did not load: ${child.stderr}`);
  return elapsed;
}

/** Kilobytes of 1000 bytes. */
function kb(bytes: number): string {
  return `${(bytes / 1000).toFixed(1)} KB`.padStart(10);
}

function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}
