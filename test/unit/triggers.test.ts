import { describe, expect, it } from 'vitest';
import { followUpMessageBody } from '../../shared/fleet/follow-ups.js';
import { parseCloudTrailEvent, parseOnEvent, parseSchedule, parseStreamBatch, UnknownEventError } from '../../shared/runtime/triggers.js';

function cloudTrail(detail: Record<string, unknown>): Record<string, unknown> {
  return { 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.kms', detail };
}

function streamRecord(sk: string, pk = 'DESIRED#000000000000#us-east-1'): Record<string, unknown> {
  return { eventName: 'MODIFY', dynamodb: { Keys: { pk: { S: pk }, sk: { S: sk } } } };
}

const HOME = { accountId: '000000000000', region: 'us-east-1' };
const MEMBER = { accountId: '444455556666', region: 'eu-west-1' };

/** What a CloudTrail event of the deployment's own scope (the event says none) names. */
function named(targets: Partial<{ names: string[]; ids: string[]; clusterIds: string[] }>) {
  return [{ trigger: 'cloudtrail', scope: null, targets: { names: [], ids: [], clusterIds: [], ...targets }, changes: [] }];
}

describe('parseCloudTrailEvent and parseStreamBatch', () => {
  it('names the store id and name of a KMS call, from request and response, in either case', () => {
    const event = cloudTrail({
      eventName: 'UpdateCustomKeyStore',
      requestParameters: { CustomKeyStoreId: 'cks-1234567890abcdef0', newCustomKeyStoreName: 'ledger' },
      responseElements: { customKeyStoreId: 'cks-1234567890abcdef0' },
    });

    expect(parseCloudTrailEvent(event)).toEqual(named({ names: ['ledger'], ids: ['cks-1234567890abcdef0'] }));
  });

  it('reads a call whose response elements CloudTrail wrote as null', () => {
    const event = cloudTrail({ eventName: 'ConnectCustomKeyStore', requestParameters: { customKeyStoreId: 'cks-1' }, responseElements: null });

    expect(parseCloudTrailEvent(event)).toEqual(named({ ids: ['cks-1'] }));
  });

  it('names the cluster of a CloudHSM call', () => {
    const event = cloudTrail({ eventName: 'DeleteHsm', requestParameters: { clusterId: 'cluster-abc', hsmId: 'hsm-1' } });

    expect(parseCloudTrailEvent(event)).toEqual(named({ clusterIds: ['cluster-abc'] }));
  });

  it('names nothing for a failed call or another operation', () => {
    expect(
      parseCloudTrailEvent(
        cloudTrail({ eventName: 'ConnectCustomKeyStore', errorCode: 'AccessDenied', requestParameters: { customKeyStoreId: 'cks-1' } }),
      ),
    ).toEqual([]);
    expect(parseCloudTrailEvent(cloudTrail({ eventName: 'Encrypt', requestParameters: 'not an object' }))).toEqual([]);
  });

  it('rejects a store call that names no store, and a CloudTrail event without an event name', () => {
    expect(() => parseCloudTrailEvent(cloudTrail({ eventName: 'DisconnectCustomKeyStore', requestParameters: { customKeyStoreId: '' } }))).toThrow(
      new UnknownEventError('CloudTrail DisconnectCustomKeyStore event names no custom key store or cluster'),
    );
    expect(() => parseCloudTrailEvent(cloudTrail({ eventName: 42 }))).toThrow(new UnknownEventError('CloudTrail event has no detail.eventName'));
  });

  it('names the stores whose desired items a stream batch changed, once each, and none for status items', () => {
    const batch = { Records: [streamRecord('STORE#payments#DESIRED'), streamRecord('STORE#payments#DESIRED'), streamRecord('STORE#ledger#STATUS')] };

    expect(parseStreamBatch(batch)).toEqual([{ trigger: 'stream', scope: HOME, targets: { names: ['payments'], ids: [], clusterIds: [] } }]);
    expect(parseStreamBatch({ Records: [streamRecord('STORE#ledger#STATUS'), streamRecord('SETTINGS')] })).toEqual([]);
  });

  it('names the store a signature signs, in the scope it signs, so that an approval applies promptly; none for the settings', () => {
    const digest = 'd'.repeat(64);
    const batch = {
      Records: [
        streamRecord(`DESIRED#444455556666#eu-west-1#STORE#pay#ments#3#${digest}`, 'SIGNER#source/alice'),
        streamRecord(`DESIRED#444455556666#eu-west-1#SETTINGS#2#${digest}`, 'SIGNER#principal/AIDABOB'),
      ],
    };

    expect(parseStreamBatch(batch)).toEqual([{ trigger: 'stream', scope: MEMBER, targets: { names: ['pay#ments'], ids: [], clusterIds: [] } }]);
  });

  it('rejects a stream record without a sort key, saying which record', () => {
    const batch = { Records: [streamRecord('STORE#payments#DESIRED'), { dynamodb: { Keys: { sk: { N: '1' } } } }] };

    expect(() => parseStreamBatch(batch)).toThrow(new UnknownEventError('stream record 1 has no dynamodb.Keys.sk.S'));
  });

  it('rejects what is not a JSON object, and an object of another shape, naming its keys', () => {
    expect(() => parseCloudTrailEvent('hello')).toThrow(new UnknownEventError('event must be a JSON object, got string'));
    expect(() => parseStreamBatch(null)).toThrow(new UnknownEventError('event must be a JSON object, got object'));
    expect(() => parseCloudTrailEvent({ 'detail-type': 'AWS API Call via CloudTrail', detail: [] })).toThrow(/got keys detail-type, detail$/);
    expect(() => parseStreamBatch({})).toThrow(/got keys \(none\)$/);
  });

  it("refuses the other function's event: a stream batch is onChange's, a CloudTrail event onEvent's", () => {
    const batch = { Records: [streamRecord('STORE#payments#DESIRED')] };
    const call = cloudTrail({ eventName: 'ConnectCustomKeyStore', requestParameters: { customKeyStoreId: 'cks-1' } });

    expect(() => parseCloudTrailEvent(batch)).toThrow(
      new UnknownEventError(
        'unrecognised event: the on-event function expects a CloudTrail API-call event (detail-type "AWS API Call via CloudTrail"); got keys Records',
      ),
    );
    expect(() => parseStreamBatch(call)).toThrow(
      new UnknownEventError(
        'unrecognised event: the on-change function expects a DynamoDB stream batch (Records[]); got keys detail-type, source, detail',
      ),
    );
  });

  it("places a CloudTrail event in the account and Region of the call, else of the envelope, else none (the deployment's own)", () => {
    const call = { eventName: 'ConnectCustomKeyStore', requestParameters: { customKeyStoreId: 'cks-1' } };
    const forwarded = {
      ...cloudTrail({ ...call, recipientAccountId: MEMBER.accountId, awsRegion: MEMBER.region }),
      account: '111122223333',
      region: 'us-east-1',
    };
    const enveloped = { ...cloudTrail(call), account: MEMBER.accountId, region: MEMBER.region };

    expect(parseCloudTrailEvent(forwarded).map((part) => part.scope)).toEqual([MEMBER]);
    expect(parseCloudTrailEvent(enveloped).map((part) => part.scope)).toEqual([MEMBER]);
    expect(parseCloudTrailEvent(cloudTrail(call)).map((part) => part.scope)).toEqual([null]);
  });

  it("splits a stream batch by the scope of each record's partition, stores in record order", () => {
    const batch = {
      Records: [
        streamRecord('STORE#a#DESIRED', 'DESIRED#000000000000#us-east-1'),
        streamRecord('STORE#b#DESIRED', 'DESIRED#444455556666#eu-west-1'),
        streamRecord('STORE#c#DESIRED', 'DESIRED#000000000000#us-east-1'),
      ],
    };

    expect(parseStreamBatch(batch)).toEqual([
      { trigger: 'stream', scope: HOME, targets: { names: ['a', 'c'], ids: [], clusterIds: [] } },
      { trigger: 'stream', scope: MEMBER, targets: { names: ['b'], ids: [], clusterIds: [] } },
    ]);
  });

  it('records who connected or disconnected a store, and when, where CloudTrail says', () => {
    const event = cloudTrail({
      eventName: 'DisconnectCustomKeyStore',
      requestParameters: { customKeyStoreId: 'cks-1' },
      userIdentity: { arn: 'arn:aws:iam::000000000000:user/alice' },
      eventTime: '2026-11-25T12:00:00Z',
    });

    expect(parseCloudTrailEvent(event)).toEqual([
      {
        trigger: 'cloudtrail',
        scope: null,
        targets: { names: [], ids: ['cks-1'], clusterIds: [] },
        changes: [
          {
            storeId: 'cks-1',
            storeName: null,
            by: 'arn:aws:iam::000000000000:user/alice',
            at: Date.parse('2026-11-25T12:00:00Z'),
            eventName: 'DisconnectCustomKeyStore',
          },
        ],
      },
    ]);
  });
});

describe('parseSchedule', () => {
  it('reads an EventBridge Scheduled Event as the fleet pass', () => {
    expect(parseSchedule({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} })).toEqual({ trigger: 'schedule' });
  });

  it('rejects any other event, saying what the sweep function expects and what it got', () => {
    expect(() => parseSchedule({ Records: [] })).toThrow(
      new UnknownEventError(
        'unrecognised event: the sweep function runs on its schedule and expects an EventBridge Scheduled Event (source "aws.events"); got keys Records',
      ),
    );
    expect(() => parseSchedule('tick')).toThrow(/expects an EventBridge Scheduled Event \(source "aws.events"\); got a string$/);
  });
});

describe('parseOnEvent', () => {
  const followUp = (body: string) => ({ Records: [{ messageId: 'm-1', eventSource: 'aws:sqs', body }] });

  it('reads a follow-up batch as one part per message: its scope and the one store it names', () => {
    const event = followUp(followUpMessageBody(MEMBER, 'finance-hsm'));

    expect(parseOnEvent(event)).toEqual([{ trigger: 'followup', scope: MEMBER, targets: { names: ['finance-hsm'], ids: [], clusterIds: [] } }]);
  });

  it('reads anything else as a CloudTrail event', () => {
    const event = cloudTrail({ eventName: 'ConnectCustomKeyStore', requestParameters: { customKeyStoreId: 'cks-1234567890abcdef0' } });

    expect(parseOnEvent(event)).toEqual(parseCloudTrailEvent(event));
  });

  it.each([
    ['not JSON', 'nope', 'follow-up message is not JSON'],
    ['no store', JSON.stringify(HOME), 'follow-up message must be'],
    ['an empty store', JSON.stringify({ ...HOME, store: '' }), 'follow-up message must be'],
    ['an extra field', JSON.stringify({ ...HOME, store: 'x', extra: 1 }), 'follow-up message must be'],
    ['a bad account', JSON.stringify({ accountId: '1', region: 'us-east-1', store: 'x' }), 'follow-up message must be'],
  ])('refuses a follow-up with %s, saying what it expects', (_case, body, message) => {
    expect(() => parseOnEvent(followUp(body))).toThrow(new RegExp(`^${message}`));
    expect(() => parseOnEvent(followUp(body))).toThrow(UnknownEventError);
  });
});
