/**
 * The sample events in events/ (for `serverless invoke local -f onEvent --path ...` and the sweep):
 * each is read by the trigger parser as the event it stands for.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTrigger } from '../../shared/reconcile/triggers.js';

function sample(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../events/${name}`, import.meta.url), 'utf8'));
}

describe('sample events', () => {
  it('a CloudTrail DisconnectCustomKeyStore names the store, who disconnected it and when', () => {
    expect(parseTrigger(sample('cloudtrail-disconnect-custom-key-store.json'))).toEqual({
      trigger: 'cloudtrail',
      names: [],
      ids: ['cks-1234567890abcdef0'],
      clusterIds: [],
      changes: [
        {
          storeId: 'cks-1234567890abcdef0',
          storeName: null,
          by: 'arn:aws:sts::000000000000:assumed-role/operator/alice',
          at: Date.parse('2026-11-25T12:00:00Z'),
          eventName: 'DisconnectCustomKeyStore',
        },
      ],
    });
  });

  it('a CloudTrail DeleteHsm names the cluster', () => {
    expect(parseTrigger(sample('cloudtrail-delete-hsm.json'))).toEqual({
      trigger: 'cloudtrail',
      names: [],
      ids: [],
      clusterIds: ['cluster-2a23b4cdefg'],
    });
  });

  it('a stream record of a desired item names the store', () => {
    expect(parseTrigger(sample('dynamodb-stream-desired-change.json'))).toEqual({
      trigger: 'stream',
      names: ['payments-hsm'],
      ids: [],
      clusterIds: [],
    });
  });

  it('the scheduled event is an EventBridge Scheduled Event', () => {
    expect(sample('schedule.json')).toMatchObject({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
  });
});
