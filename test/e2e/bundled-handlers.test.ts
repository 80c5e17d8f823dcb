/**
 * The two Lambda handlers as they ship: the artifacts of this run's `serverless package`, unpacked
 * and loaded by a plain `node` process configured only by environment, against the fake.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FunctionRole } from '../../shared/dev/iam/stack.js';
import { PACKAGE_TIMEOUT_MS, packagedService, unpackFunction } from '../helpers/package.js';
import { LAMBDA_CONTEXT as CONTEXT, failedCloudHsmStore, type ReconcilerEnv, startReconcilerEnv, TABLE } from '../helpers/reconciler.js';
import { roleCredentials } from '../helpers/stack.js';

const exec = promisify(execFile);

let env: ReconcilerEnv;

beforeEach(async () => {
  env = await startReconcilerEnv();
});

afterEach(async () => {
  // Each bundle runs as its function's role under the stack's policies, and none of its calls is refused.
  expect(await env.denials(), 'calls the stack’s policies refused').toEqual([]);
  await env.close();
});

describe('handlers as built bundles', () => {
  let outdir: string;
  /** The file each bundle's handler is in, by function. */
  const bundle: Record<'sweep' | 'onChange', string> = { sweep: '', onChange: '' };

  beforeAll(async () => {
    const service = await packagedService();
    outdir = await mkdtemp(join(tmpdir(), 'cks-bundle-'));
    for (const [fn, handler] of [
      ['sweep', 'functions/sweep.handler'],
      ['onChange', 'functions/on-change.handler'],
    ] as const) {
      const { entry } = unpackFunction(service, handler, join(outdir, fn));
      if (!entry) throw new Error(`no entry file for ${handler} in its artifact`);
      bundle[fn] = join(outdir, fn, entry);
    }
  }, PACKAGE_TIMEOUT_MS);

  afterAll(async () => {
    await rm(outdir, { recursive: true, force: true });
  });

  /**
   * Invokes a bundled handler in a fresh `node` process configured the way Lambda configures it: by
   * environment, its credentials a session of its function's role.
   */
  async function invoke(file: string, role: FunctionRole, event: unknown): Promise<Record<string, unknown>> {
    const credentials = roleCredentials(role);
    const script = join(outdir, `invoke-${Date.now()}.mjs`);
    await writeFile(
      script,
      `const { handler } = await import(${JSON.stringify(file)});
       const result = await handler(${JSON.stringify(event)}, ${JSON.stringify(CONTEXT)});
       process.stdout.write('RESULT ' + JSON.stringify(result) + '\\n');`,
    );
    const { stdout } = await exec(process.execPath, [script], {
      env: {
        PATH: process.env.PATH,
        AWS_ENDPOINT_URL: env.fake.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_SESSION_TOKEN: credentials.sessionToken,
        CKS_TABLE: TABLE,
        CKS_EVENT_BUS: 'cks-it',
        POWERTOOLS_METRICS_DISABLED: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
    const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`no result from ${file}:\n${stdout}`);
    return JSON.parse(line.slice('RESULT '.length));
  }

  it('the bundled sweep heals a NETWORK_ERRORS store over successive scheduled invocations', async () => {
    await failedCloudHsmStore(env, 'payments');
    const actions: unknown[] = [];

    for (let i = 0; i < 6 && (await env.state('payments')).connectionState !== 'CONNECTED'; i++) {
      const result = await invoke(bundle.sweep, 'SweepRole', { source: 'aws.events', 'detail-type': 'Scheduled Event' });
      actions.push((result.stores as Array<{ action: string }>)[0]?.action);
      env.fake.advance(120);
    }

    expect(await env.state('payments')).toEqual({ connectionState: 'CONNECTED', connectionErrorCode: null });
    expect(actions).toEqual(expect.arrayContaining(['disconnect', 'connect']));
  }, 60_000);

  it('the bundled change handler reconciles the store of a stream record', async () => {
    await failedCloudHsmStore(env, 'ledger');

    const result = await invoke(bundle.onChange, 'OnChangeRole', {
      Records: [{ eventName: 'INSERT', dynamodb: { Keys: { pk: { S: 'DESIRED#000000000000#us-east-1' }, sk: { S: 'STORE#ledger#DESIRED' } } } }],
    });

    expect(result).toMatchObject({ trigger: 'stream', stores: [{ name: 'ledger', action: 'disconnect' }] });
  }, 60_000);
});
