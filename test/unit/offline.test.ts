import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { matchesPattern } from '../../shared/dev/demo/event-pattern.js';
import { parseRoutes } from '../../shared/dev/demo/routes.js';
import { parseService } from '../../shared/dev/offline/service.js';
import { changes, type Item } from '../../shared/dev/offline/stream.js';

// Operators' items live under DESIRED#..., the reconciler's under SCOPE#... (shared/domain/table-keys.ts).
const OPERATOR_PK = { S: 'DESIRED#000000000000#us-east-1' };
const PK = { S: 'SCOPE#000000000000#us-east-1' };
const desired = (generation: number): Item => ({
  pk: OPERATOR_PK,
  sk: { S: 'STORE#orders#DESIRED' },
  desiredState: { S: 'CONNECTED' },
  generation: { N: String(generation) },
});
const status = (phase: string): Item => ({ pk: PK, sk: { S: 'STORE#orders#STATUS' }, phase: { S: phase } });
const table = (...items: Item[]): Map<string, Item> => new Map(items.map((item) => [`${item.pk!.S}|${item.sk!.S}`, item]));

describe('changes (the emulated table stream)', () => {
  it('makes INSERT, MODIFY and REMOVE records with the keys and the images of NEW_AND_OLD_IMAGES', () => {
    // Prepare
    const before = table(desired(1), status('IDLE'));
    const after = table(desired(2));

    // Act
    const records = changes(before, after, 'eu-west-1');

    // Assess
    expect(records).toEqual([
      {
        eventID: expect.any(String),
        eventName: 'MODIFY',
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        awsRegion: 'eu-west-1',
        dynamodb: {
          Keys: { pk: OPERATOR_PK, sk: { S: 'STORE#orders#DESIRED' } },
          NewImage: desired(2),
          OldImage: desired(1),
          StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
      },
      expect.objectContaining({
        eventName: 'REMOVE',
        dynamodb: { Keys: { pk: PK, sk: { S: 'STORE#orders#STATUS' } }, OldImage: status('IDLE'), StreamViewType: 'NEW_AND_OLD_IMAGES' },
      }),
    ]);
    expect(changes(after, table(desired(2), status('IDLE')), 'eu-west-1')).toEqual([
      expect.objectContaining({ eventName: 'INSERT', dynamodb: expect.objectContaining({ NewImage: status('IDLE') }) }),
    ]);
  });

  it('makes no record for an item written again unchanged', () => {
    expect(changes(table(desired(1)), table(desired(1)), 'us-east-1')).toEqual([]);
  });

  it("lets through serverless.yml's stream filter only desired items that exist after the change", () => {
    // Prepare
    const { streamFilters } = parseRoutes(readFileSync(new URL('../../serverless.yml', import.meta.url), 'utf8'));
    const passes = (record: unknown) => streamFilters.some((pattern) => matchesPattern(pattern, record));

    // Act
    const records = changes(table(desired(1), status('IDLE')), table(desired(2), status('DISCONNECTING')), 'us-east-1');
    const removal = changes(table(desired(2)), table(), 'us-east-1');

    // Assess
    expect(records.map((record) => [record.dynamodb.Keys.sk!.S, passes(record)])).toEqual([
      ['STORE#orders#DESIRED', true],
      ['STORE#orders#STATUS', false],
    ]);
    expect(removal.map(passes)).toEqual([false]);
  });
});

describe('parseService (serverless print --format json)', () => {
  const printed = {
    service: 'cks-reconciler',
    provider: { stage: 'e2e', region: 'eu-west-1', environment: { CKS_TABLE: 'cks-reconciler-e2e-stores' } },
    functions: {
      sweep: { handler: 'functions/sweep.handler', name: 'cks-reconciler-e2e-sweep', role: 'SweepRole' },
      onEvent: {
        handler: 'functions/on-event.handler',
        name: 'cks-reconciler-e2e-on-event',
        role: 'OnEventRole',
        events: [
          {
            eventBridge: {
              pattern: { source: ['aws.kms'], detail: { userIdentity: { arn: [{ 'anything-but': [{ 'Fn::GetAtt': ['SweepRole', 'Arn'] }] }] } } },
            },
          },
        ],
      },
      onChange: {
        handler: 'functions/on-change.handler',
        name: 'cks-reconciler-e2e-on-change',
        role: 'OnChangeRole',
        events: [{ stream: { type: 'dynamodb', filterPatterns: [{ dynamodb: { Keys: { sk: { S: [{ prefix: 'STORE#' }] } } } }] } }],
      },
    },
    resources: { Resources: { SweepRole: { Type: 'AWS::IAM::Role', Properties: {} } } },
  };

  it('reads the stage, Region, table, the onEvent and onChange names, their rule patterns (role ARNs resolved) and stream filters, and the stack resources', () => {
    expect(parseService(JSON.stringify(printed))).toEqual({
      stage: 'e2e',
      region: 'eu-west-1',
      table: 'cks-reconciler-e2e-stores',
      onEventName: 'cks-reconciler-e2e-on-event',
      onChangeName: 'cks-reconciler-e2e-on-change',
      routes: {
        eventPatterns: [
          { source: ['aws.kms'], detail: { userIdentity: { arn: [{ 'anything-but': ['arn:aws:iam::000000000000:role/SweepRole'] }] } } },
        ],
        streamFilters: [{ dynamodb: { Keys: { sk: { S: [{ prefix: 'STORE#' }] } } } }],
        roles: { sweep: 'SweepRole', onEvent: 'OnEventRole', onChange: 'OnChangeRole' },
      },
      template: printed.resources,
    });
  });

  it('names what is missing when the config resolves no table', () => {
    const noTable = { ...printed, provider: { ...printed.provider, environment: {} } };

    expect(() => parseService(JSON.stringify(noTable))).toThrow(
      'serverless.yml must resolve provider.stage, provider.region, provider.environment.CKS_TABLE, functions.onEvent.name and functions.onChange.name',
    );
  });
});
