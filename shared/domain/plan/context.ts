import type { ObservedStore, PlanInput, StoreStatus } from '../types.js';
import type { PendingApproval } from './approval.js';
import { connectedWithoutHsm, describe } from './compare.js';

/** What a guard or a transition sees: the input, the store as observed, and the status to act from. */
export interface Ctx {
  input: PlanInput;
  observed: ObservedStore;
  cur: StoreStatus;
  /** An escalation hold was released in this run: the reconciler tries once more, in a new incident. */
  released: boolean;
  /** The change of this generation waiting for a second person's signature, if any. */
  pending: PendingApproval | null;
}

/** The situation in a few words, for reasons: `FAILED with NETWORK_ERRORS`, `DISCONNECTED but desired CONNECTED`, ... */
export function situation({ input, observed }: Ctx): string {
  if (connectedWithoutHsm(input, observed)) {
    const cluster = observed.cloudHsmClusterId !== undefined ? input.clusters.get(observed.cloudHsmClusterId) : undefined;
    return cluster === undefined
      ? `CONNECTED, but its cluster ${observed.cloudHsmClusterId ?? '(none)'} does not exist`
      : `CONNECTED, but its cluster ${cluster.clusterId} has no ACTIVE HSM`;
  }
  const repairingFailure = input.desired.desiredState === 'CONNECTED' && observed.connectionState === 'FAILED';
  return observed.connectionState === input.desired.desiredState || repairingFailure
    ? describe(observed)
    : `${describe(observed)} but desired ${input.desired.desiredState}`;
}
