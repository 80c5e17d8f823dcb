import {
  CloudHSMV2Client,
  CloudHsmInternalFailureException,
  type Cluster,
  type CreateHsmCommandInput,
  type CreateHsmCommandOutput,
  type DescribeClustersCommandInput,
  type DescribeClustersCommandOutput,
  CreateHsmCommand as SdkCreateHsmCommand,
  DescribeClustersCommand as SdkDescribeClustersCommand,
} from '@aws-sdk/client-cloudhsm-v2';
import { type AwsCommand, mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { callWindow } from '../../shared/adapters/clients.js';
import { CloudHsmSdkAdapter } from '../../shared/adapters/cloudhsm.js';
import { MutatingCalls } from '../../shared/adapters/mutating-calls.js';
import { TokenBucket } from '../../shared/adapters/token-bucket.js';
import { AwsCallError } from '../../shared/errors.js';
import type { Clock } from '../../shared/reconcile/ports.js';

/*
 * client-cloudhsm-v2 3.332 is typed against the older `@aws-sdk/types`, whose middleware stack lacks a
 * method aws-sdk-client-mock 4's types require. The runtime is the same, so the classes are re-typed once.
 */
type MockableCommand<Input extends object, Output extends object> = new (input: Input) => AwsCommand<Input, Output & { $metadata: object }>;
const DescribeClustersCommand = SdkDescribeClustersCommand as unknown as MockableCommand<DescribeClustersCommandInput, DescribeClustersCommandOutput>;
const CreateHsmCommand = SdkCreateHsmCommand as unknown as MockableCommand<CreateHsmCommandInput, CreateHsmCommandOutput>;
const hsmMock = mockClient(CloudHSMV2Client as unknown as Parameters<typeof mockClient>[0]);

const instantClock: Clock = { now: () => 0, sleep: async () => undefined };

function clusterId(n: number): string {
  return `cluster-${String(n).padStart(11, 'a')}`;
}

function cluster(id: string, overrides: Partial<Cluster> = {}): Cluster {
  return { ClusterId: id, State: 'ACTIVE', Hsms: [], SubnetMapping: {}, ...overrides };
}

describe('CloudHsmSdkAdapter', () => {
  let adapter: CloudHsmSdkAdapter;

  beforeEach(() => {
    hsmMock.reset();
    adapter = new CloudHsmSdkAdapter(
      new CloudHSMV2Client({ region: 'us-east-1' }),
      new MutatingCalls(new TokenBucket({ ratePerSecond: 2, burst: 1, clock: instantClock }), instantClock, callWindow(60_000)),
    );
  });

  describe('describeClusters', () => {
    it('asks for at most 25 distinct ids per call', async () => {
      // Prepare
      const ids = Array.from({ length: 60 }, (_, i) => clusterId(i));
      hsmMock.on(DescribeClustersCommand).callsFake((input: { Filters: { clusterIds: string[] } }) => ({
        Clusters: input.Filters.clusterIds.map((id) => cluster(id)),
      }));

      // Act
      const views = await adapter.describeClusters([...ids, ...ids.slice(0, 10)]);

      // Assess
      const batches = hsmMock.commandCalls(DescribeClustersCommand).map((call) => call.args[0].input.Filters?.clusterIds ?? []);
      expect(batches.map((batch) => batch.length)).toEqual([25, 25, 10]);
      expect(batches.flat()).toEqual(ids);
      expect(views.size).toBe(60);
    });

    it('makes no call for no ids', async () => {
      // Act
      const views = await adapter.describeClusters([]);

      // Assess
      expect(views.size).toBe(0);
      expect(hsmMock).not.toHaveReceivedAnyCommand();
    });

    it('follows NextToken within a batch', async () => {
      // Prepare
      hsmMock
        .on(DescribeClustersCommand, { NextToken: undefined })
        .resolves({ Clusters: [cluster(clusterId(1))], NextToken: 't1' })
        .on(DescribeClustersCommand, { NextToken: 't1' })
        .resolves({ Clusters: [cluster(clusterId(2))] });

      // Act
      const views = await adapter.describeClusters([clusterId(1), clusterId(2)]);

      // Assess
      expect([...views.keys()]).toEqual([clusterId(1), clusterId(2)]);
      expect(hsmMock).toHaveReceivedCommandTimes(DescribeClustersCommand, 2);
      expect(hsmMock).toHaveReceivedNthCommandWith(DescribeClustersCommand, 2, {
        Filters: { clusterIds: [clusterId(1), clusterId(2)] },
        NextToken: 't1',
      });
    });

    it('counts HSMs by state and lists the AZs of subnets and of live HSMs', async () => {
      // Prepare
      const id = clusterId(1);
      hsmMock.on(DescribeClustersCommand).resolves({
        Clusters: [
          cluster(id, {
            State: 'DEGRADED',
            SubnetMapping: { 'us-east-1c': 'subnet-3', 'us-east-1a': 'subnet-1', 'us-east-1b': 'subnet-2' },
            Hsms: [
              { HsmId: 'hsm-1', State: 'ACTIVE', AvailabilityZone: 'us-east-1b' },
              { HsmId: 'hsm-2', State: 'CREATE_IN_PROGRESS', AvailabilityZone: 'us-east-1a' },
              { HsmId: 'hsm-3', State: 'DEGRADED', AvailabilityZone: 'us-east-1c' },
              { HsmId: 'hsm-4', State: 'ACTIVE', AvailabilityZone: 'us-east-1b' },
            ],
          }),
        ],
      });

      // Act
      const views = await adapter.describeClusters([id]);

      // Assess
      expect(views.get(id)).toEqual({
        clusterId: id,
        state: 'DEGRADED',
        activeHsms: 2,
        creatingHsms: 1,
        availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
        hsmAvailabilityZones: ['us-east-1a', 'us-east-1b'],
      });
    });

    it('leaves out clusters that are DELETED or not returned', async () => {
      // Prepare
      hsmMock.on(DescribeClustersCommand).resolves({
        Clusters: [cluster(clusterId(1)), cluster(clusterId(2), { State: 'DELETED' })],
      });

      // Act
      const views = await adapter.describeClusters([clusterId(1), clusterId(2), clusterId(3)]);

      // Assess
      expect([...views.keys()]).toEqual([clusterId(1)]);
    });

    it('translates a service failure into a retryable AwsCallError', async () => {
      // Prepare
      hsmMock.on(DescribeClustersCommand).rejects(new CloudHsmInternalFailureException({ Message: 'boom', message: 'boom', $metadata: {} }));

      // Act
      const error: unknown = await adapter.describeClusters([clusterId(1)]).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(AwsCallError);
      expect(error).toMatchObject({ operation: 'CloudHSMV2.DescribeClusters', code: 'CloudHsmInternalFailureException', retryable: true });
    });
  });

  describe('createHsm', () => {
    it('creates an HSM in the given AZ and returns its id', async () => {
      // Prepare
      hsmMock.on(CreateHsmCommand).resolves({ Hsm: { HsmId: 'hsm-abcdefghijk', State: 'CREATE_IN_PROGRESS' } });

      // Act
      const result = await adapter.createHsm(clusterId(1), 'us-east-1b');

      // Assess
      expect(result).toEqual({ hsmId: 'hsm-abcdefghijk' });
      expect(hsmMock).toHaveReceivedCommandExactlyOnceWith(CreateHsmCommand, {
        ClusterId: clusterId(1),
        AvailabilityZone: 'us-east-1b',
      });
    });
  });
});
