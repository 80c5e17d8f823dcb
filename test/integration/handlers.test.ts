/**
 * The two Lambda handlers against the fake: first in-process through `makeHandler`, then as the
 * esbuild bundles that ship, loaded by a plain `node` process configured only by environment.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConnectCustomKeyStoreCommand, DisconnectCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeHandler as makeOnEvent } from '../../functions/on-event.js';
import { makeHandler as makeSweep } from '../../functions/sweep.js';
import { UnknownEventError } from '../../shared/reconcile/triggers.js';
import { createCloudHsmStore } from '../helpers/fake.js';
import { startReconcilerEnv, TABLE, type ReconcilerEnv } from '../helpers/reconciler.js';

const exec = promisify(execFile);
const CONTEXT = { awsRequestId: 'req-1', invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:cks-reconciler-dev-sweep' };

let env: ReconcilerEnv;

beforeEach(async () => {
  env = await startReconcilerEnv();
});

afterEach(async () => {
  await env.close();
});

async function failedStore(name: string): Promise<string> {
  const { storeId, clusterId } = await createCloudHsmStore(env.fake, { name, kmsuserPassword: 'kmsuser-Passw0rd' });
  await env.kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
  env.fake.advance(120);
  const secretArn = await env.createSecret(`${name}-pw`, 'kmsuser-Passw0rd');
  await env.apply({ name, desiredState: 'CONNECTED', cloudHsmClusterId: clusterId, keyStorePasswordSecretArn: secretArn, mode: 'enforce' });
  await env.fake.admin('POST', `/_fake/stores/${name}/fail`, { errorCode: 'NETWORK_ERRORS' });
  return storeId;
}

describe('handlers in-process', () => {
  it('the sweep handler reconciles every managed store and returns what it did', async () => {
    await failedStore('payments');
    const sweep = makeSweep((context) => env.deps(context.awsRequestId));

    const result = await sweep({ 'detail-type': 'Scheduled Event', source: 'aws.events' }, CONTEXT);

    expect(result.trigger).toBe('schedule');
    expect(result.stores).toEqual([expect.objectContaining({ name: 'payments', action: 'disconnect' })]);
  });

  it('the event handler reconciles the store a CloudTrail event from the fake names, and only that one', async () => {
    const storeId = await failedStore('payments');
    await failedStore('ledger');
    // An operator disconnects the store by hand: the fake records the CloudTrail event.
    await env.kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    const trail = (await env.fake.admin('GET', '/_fake/cloudtrail')).body.events as Array<{ detail: { eventName: string } }>;
    const event = trail.filter((e) => e.detail.eventName === 'DisconnectCustomKeyStore').at(-1);
    env.fake.advance(10);
    const onEvent = makeOnEvent((context) => env.deps(context.awsRequestId));

    const result = await onEvent(event, CONTEXT);

    expect(result).toMatchObject({ trigger: 'cloudtrail', stores: [{ name: 'payments', action: 'connect' }] });
  });

  it('the event handler reconciles the store a desired-state stream record names', async () => {
    await failedStore('payments');
    const onEvent = makeOnEvent((context) => env.deps(context.awsRequestId));
    const record = { eventName: 'MODIFY', dynamodb: { Keys: { pk: { S: 'DESIRED#000000000000#us-east-1' }, sk: { S: 'STORE#payments#DESIRED' } } } };

    const result = await onEvent({ Records: [record] }, CONTEXT);

    expect(result).toMatchObject({ trigger: 'stream', stores: [{ name: 'payments', action: 'disconnect' }] });
  });

  it('the event handler skips a CloudTrail event of a failed call without touching AWS', async () => {
    const onEvent = makeOnEvent(() => {
      throw new Error('no dependency may be built for a skipped event');
    });
    const event = {
      'detail-type': 'AWS API Call via CloudTrail',
      source: 'aws.kms',
      detail: { eventName: 'ConnectCustomKeyStore', errorCode: 'CustomKeyStoreInvalidStateException', requestParameters: { customKeyStoreId: 'cks-1234567890abcdef0' } },
    };

    await expect(onEvent(event, CONTEXT)).resolves.toEqual({ skipped: 'the event names no store to reconcile' });
  });

  it('the event handler rejects an event of unknown shape with an error that says what it expected, and changes nothing', async () => {
    const onEvent = makeOnEvent(() => {
      throw new Error('no dependency may be built for an unknown event');
    });

    await expect(onEvent({ hello: 'world' }, CONTEXT)).rejects.toThrow(UnknownEventError);
    await expect(onEvent({ hello: 'world' }, CONTEXT)).rejects.toThrow(/expected a CloudTrail API-call event .* or a DynamoDB stream batch .*got keys hello/);
  });
});

describe('handlers as built bundles', () => {
  let outdir: string;

  beforeAll(async () => {
    outdir = await mkdtemp(join(tmpdir(), 'cks-bundle-'));
    await build({
      entryPoints: ['functions/sweep.ts', 'functions/on-event.ts'],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      outdir,
      outExtension: { '.js': '.mjs' },
      banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
      logLevel: 'silent',
    });
  }, 60_000);

  afterAll(async () => {
    await rm(outdir, { recursive: true, force: true });
  });

  /** Invokes a bundled handler in a fresh `node` process configured the way Lambda configures it: by environment. */
  async function invoke(bundle: string, event: unknown): Promise<Record<string, unknown>> {
    const script = join(outdir, `invoke-${Date.now()}.mjs`);
    await writeFile(
      script,
      `const { handler } = await import(${JSON.stringify(join(outdir, bundle))});
       const result = await handler(${JSON.stringify(event)}, ${JSON.stringify(CONTEXT)});
       process.stdout.write('RESULT ' + JSON.stringify(result) + '\\n');`,
    );
    const { stdout } = await exec(process.execPath, [script], {
      env: {
        PATH: process.env.PATH,
        AWS_ENDPOINT_URL: env.fake.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'reconciler',
        AWS_SECRET_ACCESS_KEY: 'fake',
        CKS_TABLE: TABLE,
        CKS_EVENT_BUS: 'cks-it',
        POWERTOOLS_METRICS_DISABLED: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
    const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`no result from ${bundle}:\n${stdout}`);
    return JSON.parse(line.slice('RESULT '.length));
  }

  it('the bundled sweep heals a NETWORK_ERRORS store over successive scheduled invocations', async () => {
    await failedStore('payments');
    const actions: unknown[] = [];

    for (let i = 0; i < 6 && (await env.state('payments')).connectionState !== 'CONNECTED'; i++) {
      const result = await invoke('sweep.mjs', { source: 'aws.events', 'detail-type': 'Scheduled Event' });
      actions.push((result.stores as Array<{ action: string }>)[0]?.action);
      env.fake.advance(120);
    }

    expect(await env.state('payments')).toEqual({ connectionState: 'CONNECTED', connectionErrorCode: null });
    expect(actions).toEqual(expect.arrayContaining(['disconnect', 'connect']));
  }, 60_000);

  it('the bundled event handler reconciles the store of a stream record', async () => {
    await failedStore('ledger');

    const result = await invoke('on-event.mjs', {
      Records: [{ eventName: 'INSERT', dynamodb: { Keys: { pk: { S: 'DESIRED#000000000000#us-east-1' }, sk: { S: 'STORE#ledger#DESIRED' } } } }],
    });

    expect(result).toMatchObject({ trigger: 'stream', stores: [{ name: 'ledger', action: 'disconnect' }] });
  }, 60_000);
});
