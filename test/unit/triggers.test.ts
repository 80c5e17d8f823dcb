import { describe, expect, it } from 'vitest';
import { parseTrigger, UnknownEventError } from '../../shared/reconcile/triggers.js';

function cloudTrail(detail: Record<string, unknown>): Record<string, unknown> {
  return { 'detail-type': 'AWS API Call via CloudTrail', source: 'aws.kms', detail };
}

function streamRecord(sk: string): Record<string, unknown> {
  return { eventName: 'MODIFY', dynamodb: { Keys: { pk: { S: 'DESIRED#000000000000#us-east-1' }, sk: { S: sk } } } };
}

describe('parseTrigger', () => {
  it('names the store id and name of a KMS call, from request and response, in either case', () => {
    const event = cloudTrail({
      eventName: 'UpdateCustomKeyStore',
      requestParameters: { CustomKeyStoreId: 'cks-1234567890abcdef0', newCustomKeyStoreName: 'ledger' },
      responseElements: { customKeyStoreId: 'cks-1234567890abcdef0' },
    });

    expect(parseTrigger(event)).toEqual({ trigger: 'cloudtrail', names: ['ledger'], ids: ['cks-1234567890abcdef0'], clusterIds: [] });
  });

  it('reads a call whose response elements CloudTrail wrote as null', () => {
    const event = cloudTrail({ eventName: 'ConnectCustomKeyStore', requestParameters: { customKeyStoreId: 'cks-1' }, responseElements: null });

    expect(parseTrigger(event)).toEqual({ trigger: 'cloudtrail', names: [], ids: ['cks-1'], clusterIds: [] });
  });

  it('names the cluster of a CloudHSM call', () => {
    const event = cloudTrail({ eventName: 'DeleteHsm', requestParameters: { clusterId: 'cluster-abc', hsmId: 'hsm-1' } });

    expect(parseTrigger(event)).toEqual({ trigger: 'cloudtrail', names: [], ids: [], clusterIds: ['cluster-abc'] });
  });

  it('names nothing for a failed call or another operation', () => {
    expect(
      parseTrigger(cloudTrail({ eventName: 'ConnectCustomKeyStore', errorCode: 'AccessDenied', requestParameters: { customKeyStoreId: 'cks-1' } })),
    ).toBeNull();
    expect(parseTrigger(cloudTrail({ eventName: 'Encrypt', requestParameters: 'not an object' }))).toBeNull();
  });

  it('rejects a store call that names no store, and a CloudTrail event without an event name', () => {
    expect(() => parseTrigger(cloudTrail({ eventName: 'DisconnectCustomKeyStore', requestParameters: { customKeyStoreId: '' } }))).toThrow(
      new UnknownEventError('CloudTrail DisconnectCustomKeyStore event names no custom key store or cluster'),
    );
    expect(() => parseTrigger(cloudTrail({ eventName: 42 }))).toThrow(new UnknownEventError('CloudTrail event has no detail.eventName'));
  });

  it('names the stores whose desired items a stream batch changed, once each, and none for status items', () => {
    const batch = { Records: [streamRecord('STORE#payments#DESIRED'), streamRecord('STORE#payments#DESIRED'), streamRecord('STORE#ledger#STATUS')] };

    expect(parseTrigger(batch)).toEqual({ trigger: 'stream', names: ['payments'], ids: [], clusterIds: [] });
    expect(parseTrigger({ Records: [streamRecord('STORE#ledger#STATUS'), streamRecord('SETTINGS')] })).toBeNull();
  });

  it('rejects a stream record without a sort key, saying which record', () => {
    const batch = { Records: [streamRecord('STORE#payments#DESIRED'), { dynamodb: { Keys: { sk: { N: '1' } } } }] };

    expect(() => parseTrigger(batch)).toThrow(new UnknownEventError('stream record 1 has no dynamodb.Keys.sk.S'));
  });

  it('rejects what is not a JSON object, and an object of another shape, naming its keys', () => {
    expect(() => parseTrigger('hello')).toThrow(new UnknownEventError('event must be a JSON object, got string'));
    expect(() => parseTrigger(null)).toThrow(new UnknownEventError('event must be a JSON object, got object'));
    expect(() => parseTrigger({ 'detail-type': 'AWS API Call via CloudTrail', detail: [] })).toThrow(/got keys detail-type, detail$/);
    expect(() => parseTrigger({})).toThrow(/got keys \(none\)$/);
  });
});
