/** `BaldrApiService.<Operation>`: parse the request, call the model, shape the reply. */
import type { Operation } from '../world.js';
import { parseCreateHsm, parseDeleteHsm, parseDescribeClusters } from './requests.js';

export const cloudHsmOperations: ReadonlyMap<string, Operation> = new Map<string, Operation>([
  [
    'DescribeClusters',
    ({ partition }, input) => {
      const { clusters, nextToken } = partition.clusters.describeClusters(parseDescribeClusters(input));
      return { Clusters: clusters, NextToken: nextToken };
    },
  ],
  ['CreateHsm', ({ partition }, input) => ({ Hsm: partition.clusters.createHsm(parseCreateHsm(input)) })],
  ['DeleteHsm', ({ partition }, input) => ({ HsmId: partition.clusters.deleteHsm(parseDeleteHsm(input)).id })],
]);
