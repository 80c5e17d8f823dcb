/**
 * CloudHSM v2 clusters over `@aws-sdk/client-cloudhsm-v2`.
 */
import { type CloudHSMV2Client, type Cluster, CreateHsmCommand, DescribeClustersCommand } from '@aws-sdk/client-cloudhsm-v2';
import { type ClusterView, clusterStateOf } from '../domain/types.js';
import { AwsCallError } from '../errors.js';
import type { CloudHsmPort } from '../reconcile/ports.js';
import { awsCall } from './aws-errors.js';
import { type MutatingCalls, oneAttempt } from './mutating-calls.js';

/** DescribeClusters accepts at most 25 results per page; we ask for as many ids per call. */
const BATCH_SIZE = 25;

/** {@link CloudHsmPort} over a `CloudHSMV2Client`. */
export class CloudHsmSdkAdapter implements CloudHsmPort {
  /** `mutations` spaces CreateHsm (shared with the other adapters' mutating calls). */
  constructor(
    private readonly client: CloudHSMV2Client,
    private readonly mutations: MutatingCalls,
  ) {}

  async describeClusters(clusterIds: readonly string[]): Promise<Map<string, ClusterView>> {
    const ids = [...new Set(clusterIds)];
    const views = new Map<string, ClusterView>();
    for (let start = 0; start < ids.length; start += BATCH_SIZE) {
      const batch = ids.slice(start, start + BATCH_SIZE);
      let nextToken: string | undefined;
      do {
        const page = await awsCall('CloudHSMV2.DescribeClusters', () =>
          this.client.send(new DescribeClustersCommand({ Filters: { clusterIds: batch }, MaxResults: BATCH_SIZE, NextToken: nextToken })),
        );
        for (const cluster of page.Clusters ?? []) {
          // A DELETED cluster is gone for every purpose of ours: report it as not found.
          if (cluster.ClusterId !== undefined && cluster.State !== 'DELETED') {
            views.set(cluster.ClusterId, toClusterView(cluster.ClusterId, cluster));
          }
        }
        nextToken = page.NextToken;
      } while (nextToken !== undefined);
    }
    return views;
  }

  async createHsm(clusterId: string, availabilityZone: string): Promise<{ hsmId: string }> {
    const result = await this.mutations.send('CloudHSMV2.CreateHsm', () =>
      this.client.send(oneAttempt(new CreateHsmCommand({ ClusterId: clusterId, AvailabilityZone: availabilityZone }))),
    );
    const hsmId = result.Hsm?.HsmId;
    if (hsmId === undefined) {
      throw new AwsCallError('CloudHSMV2.CreateHsm', 'MissingHsmId', false, 'the response names no HSM');
    }
    return { hsmId };
  }
}

function toClusterView(clusterId: string, cluster: Cluster): ClusterView {
  const hsms = cluster.Hsms ?? [];
  const live = hsms.filter((hsm) => hsm.State === 'ACTIVE' || hsm.State === 'CREATE_IN_PROGRESS');
  return {
    clusterId,
    state: clusterStateOf(cluster.State),
    activeHsms: hsms.filter((hsm) => hsm.State === 'ACTIVE').length,
    creatingHsms: hsms.filter((hsm) => hsm.State === 'CREATE_IN_PROGRESS').length,
    availabilityZones: Object.keys(cluster.SubnetMapping ?? {}).sort(),
    hsmAvailabilityZones: [...new Set(live.map((hsm) => hsm.AvailabilityZone).filter((az): az is string => az !== undefined))].sort(),
  };
}
