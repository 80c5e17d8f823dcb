/**
 * The sample events in events/ (for `serverless invoke local -f onEvent|onChange --path ...` and the sweep):
 * each is read by the trigger parser as the event it stands for.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCloudTrailEvent, parseSchedule, parseStreamBatch } from '../../shared/runtime/triggers.js';

function sample(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../events/${name}`, import.meta.url), 'utf8'));
}

/** The account and Region every sample is about: the local fake's. */
const SAMPLE_SCOPE = { accountId: '000000000000', region: 'us-east-1' };

describe('sample events', () => {
  it('a CloudTrail DisconnectCustomKeyStore names the store, who disconnected it and when', () => {
    expect(parseCloudTrailEvent(sample('cloudtrail-disconnect-custom-key-store.json'))).toEqual([
      {
        trigger: 'cloudtrail',
        scope: SAMPLE_SCOPE,
        targets: { names: [], ids: ['cks-1234567890abcdef0'], clusterIds: [] },
        changes: [
          {
            storeId: 'cks-1234567890abcdef0',
            storeName: null,
            by: 'arn:aws:sts::000000000000:assumed-role/operator/alice',
            at: Date.parse('2026-11-25T12:00:00Z'),
            eventName: 'DisconnectCustomKeyStore',
          },
        ],
      },
    ]);
  });

  it('a CloudTrail DeleteHsm names the cluster', () => {
    expect(parseCloudTrailEvent(sample('cloudtrail-delete-hsm.json'))).toEqual([
      { trigger: 'cloudtrail', scope: SAMPLE_SCOPE, targets: { names: [], ids: [], clusterIds: ['cluster-2a23b4cdefg'] }, changes: [] },
    ]);
  });

  it('a stream record of a desired item names the store', () => {
    expect(parseStreamBatch(sample('dynamodb-stream-desired-change.json'))).toEqual([
      { trigger: 'stream', scope: SAMPLE_SCOPE, targets: { names: ['payments-hsm'], ids: [], clusterIds: [] } },
    ]);
  });

  it('the scheduled event is an EventBridge Scheduled Event, read as the fleet pass', () => {
    expect(sample('schedule.json')).toMatchObject({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
    expect(parseSchedule(sample('schedule.json'))).toEqual({ trigger: 'schedule' });
  });
});
