/**
 * The service as the Serverless Framework resolves it for one stage: `serverless print` with the same
 * options `serverless offline` gets, so that the table, the function names and the rule patterns the
 * runner uses are exactly the ones the functions run with.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { parseRoutes, type Routes } from '../demo/routes.js';
import type { StackTemplate } from '../iam/stack.js';

/** The `serverless` CLI of this project (osls): run with Node, never through a shell. */
export const SERVERLESS_BIN = createRequire(import.meta.url).resolve('serverless/bin/serverless.js');

/** What the runner needs of the resolved `serverless.yml`. */
export interface Service {
  stage: string;
  region: string;
  /** `provider.environment.CKS_TABLE`: the desired-state table the functions use. */
  table: string;
  /** The deployed names of the `onEvent` and `onChange` functions: what the Lambda Invoke API is called with. */
  onEventName: string;
  onChangeName: string;
  /** The onEvent function's EventBridge rule patterns, onChange's stream filters, and the functions' roles. */
  routes: Routes;
  /** The stack's resources (its IAM policies among them), as serverless resolved them. */
  template: StackTemplate;
}

/**
 * Resolves the service with `serverless print --format json <args>` (`args`: `--stage`, `--region`,
 * `--param`, as given to `serverless offline`). Throws with the CLI's own message when it fails.
 */
export async function loadService(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Service> {
  const { stdout } = await promisify(execFile)(process.execPath, [SERVERLESS_BIN, 'print', '--format', 'json', ...args], {
    env,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: Error & { stdout?: string; stderr?: string }) => {
    const said = `${error.stdout ?? ''}${error.stderr ?? ''}`.trim();
    throw new Error(`serverless print ${args.join(' ')} failed: ${said || error.message}`);
  });
  return parseService(stdout);
}

/** Reads the output of `serverless print --format json`. */
export function parseService(printed: string): Service {
  const config = JSON.parse(printed) as {
    provider?: { stage?: unknown; region?: unknown; environment?: Record<string, unknown> };
    functions?: { onEvent?: { name?: unknown }; onChange?: { name?: unknown } };
    resources?: StackTemplate;
  };
  const stage = config.provider?.stage;
  const region = config.provider?.region;
  const table = config.provider?.environment?.CKS_TABLE;
  const onEventName = config.functions?.onEvent?.name;
  const onChangeName = config.functions?.onChange?.name;
  const template = config.resources;
  if (
    typeof stage !== 'string' ||
    typeof region !== 'string' ||
    typeof table !== 'string' ||
    typeof onEventName !== 'string' ||
    typeof onChangeName !== 'string'
  ) {
    throw new Error(
      'serverless.yml must resolve provider.stage, provider.region, provider.environment.CKS_TABLE, functions.onEvent.name and functions.onChange.name',
    );
  }
  if (!template?.Resources) throw new Error("serverless.yml must resolve resources.Resources (the stack's IAM policies)");
  // JSON is YAML: the printed config goes through the same reader as the demo's serverless.yml.
  return { stage, region, table, onEventName, onChangeName, routes: parseRoutes(printed), template };
}
