/**
 * The Lambda handlers against the fake, in-process through `makeHandler` (the bundles that ship
 * are run in test/e2e/bundled-handlers.test.ts).
 */
import { DisconnectCustomKeyStoreCommand } from '@aws-sdk/client-kms';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeHandler as makeOnChange } from '../../functions/on-change.js';
import { makeHandler as makeOnEvent } from '../../functions/on-event.js';
import { makeHandler as makeSweep } from '../../functions/sweep.js';
import { singleScope } from '../../shared/runtime/lambda.js';
import { UnknownEventError } from '../../shared/runtime/triggers.js';
import { LAMBDA_CONTEXT as CONTEXT, failedCloudHsmStore, type ReconcilerEnv, startReconcilerEnv } from '../helpers/reconciler.js';

let env: ReconcilerEnv;

beforeEach(async () => {
  env = await startReconcilerEnv();
});

afterEach(async () => {
  // Each handler runs as its own role under the stack's policies, and none of its calls is refused.
  expect(await env.denials(), 'calls the stack’s policies refused').toEqual([]);
  await env.close();
});

const failedStore = (name: string) => failedCloudHsmStore(env, name);

describe('handlers in-process', () => {
  it('the sweep handler reconciles every managed store and returns what it did', async () => {
    await failedStore('payments');
    const sweep = makeSweep((context) => singleScope(env.deps(context.awsRequestId)));

    const result = await sweep({ 'detail-type': 'Scheduled Event', source: 'aws.events' }, CONTEXT);

    expect(result).toMatchObject({ trigger: 'schedule', status: 'reconciled' });
    expect(result.status === 'reconciled' && result.stores).toEqual([expect.objectContaining({ name: 'payments', action: 'disconnect' })]);
  });

  it('the event handler reconciles the store a CloudTrail event from the fake names, and only that one', async () => {
    const storeId = await failedStore('payments');
    await failedStore('ledger');
    // An operator disconnects the store by hand: the fake records the CloudTrail event.
    await env.kms.send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    const trail = (await env.fake.admin('GET', '/_fake/cloudtrail')).body.events as Array<{ detail: { eventName: string } }>;
    const event = trail.filter((e) => e.detail.eventName === 'DisconnectCustomKeyStore').at(-1);
    env.fake.advance(10);
    const onEvent = makeOnEvent((context) => singleScope(env.deps(context.awsRequestId, 'OnEventRole')));

    const result = await onEvent(event, CONTEXT);

    expect(result).toMatchObject({ trigger: 'cloudtrail', stores: [{ name: 'payments', action: 'connect' }] });
  });

  it('the change handler reconciles the store a desired-state stream record names', async () => {
    await failedStore('payments');
    const onChange = makeOnChange((context) => singleScope(env.deps(context.awsRequestId, 'OnChangeRole')));
    const record = { eventName: 'MODIFY', dynamodb: { Keys: { pk: { S: 'DESIRED#000000000000#us-east-1' }, sk: { S: 'STORE#payments#DESIRED' } } } };

    const result = await onChange({ Records: [record] }, CONTEXT);

    expect(result).toMatchObject({ trigger: 'stream', stores: [{ name: 'payments', action: 'disconnect' }] });
  });

  it('the event handler skips a CloudTrail event of a failed call without touching AWS', async () => {
    const onEvent = makeOnEvent(() => {
      throw new Error('no dependency may be built for a skipped event');
    });
    const event = {
      'detail-type': 'AWS API Call via CloudTrail',
      source: 'aws.kms',
      detail: {
        eventName: 'ConnectCustomKeyStore',
        errorCode: 'CustomKeyStoreInvalidStateException',
        requestParameters: { customKeyStoreId: 'cks-1234567890abcdef0' },
      },
    };

    await expect(onEvent(event, CONTEXT)).resolves.toEqual({ skipped: 'the event names no store to reconcile' });
  });

  it('the event handler rejects an event of unknown shape with an error that says what it expected, and changes nothing', async () => {
    const onEvent = makeOnEvent(() => {
      throw new Error('no dependency may be built for an unknown event');
    });

    await expect(onEvent({ hello: 'world' }, CONTEXT)).rejects.toThrow(UnknownEventError);
    await expect(onEvent({ hello: 'world' }, CONTEXT)).rejects.toThrow(/the on-event function expects a CloudTrail API-call event .*got keys hello/);
  });

  it('each event handler refuses the other one’s event, and changes nothing', async () => {
    const build = () => {
      throw new Error('no dependency may be built for the other function’s event');
    };
    const record = { eventName: 'MODIFY', dynamodb: { Keys: { pk: { S: 'DESIRED#000000000000#us-east-1' }, sk: { S: 'STORE#payments#DESIRED' } } } };
    const call = {
      'detail-type': 'AWS API Call via CloudTrail',
      detail: { eventName: 'ConnectCustomKeyStore', requestParameters: { customKeyStoreId: 'cks-1' } },
    };

    await expect(makeOnEvent(build)({ Records: [record] }, CONTEXT)).rejects.toThrow(
      /the on-event function expects a CloudTrail API-call event .*got keys Records/,
    );
    await expect(makeOnChange(build)(call, CONTEXT)).rejects.toThrow(
      /the on-change function expects a DynamoDB stream batch .*got keys detail-type, detail/,
    );
  });

  it('the sweep handler rejects an event that is not its schedule, saying what it expected, and builds nothing', async () => {
    const sweep = makeSweep(() => {
      throw new Error('no dependency may be built for an unknown event');
    });

    await expect(sweep({ Records: [] }, CONTEXT)).rejects.toThrow(
      new UnknownEventError(
        'unrecognised event: the sweep function runs on its schedule and expects an EventBridge Scheduled Event (source "aws.events"); got keys Records',
      ),
    );
  });
});
