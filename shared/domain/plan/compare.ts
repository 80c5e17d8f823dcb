/** How the observed store differs from the desired one: identity, settings, secrets (names and versions, never values). */
import type { ObservedStore, PlanInput, StoreStatus, UpdateChanges } from '../types.js';

/** Type and id cannot be fixed by the reconciler: a mismatch means the desired item names another store. */
export function identityDrift(input: PlanInput, observed: ObservedStore): string[] {
  return [
    ...(observed.type !== input.desired.type ? ['type'] : []),
    ...(input.desired.id !== undefined && observed.id !== input.desired.id ? ['id'] : []),
  ];
}

/** The store's id is declared and KMS shows it under another name. */
export function renamed(input: PlanInput, observed: ObservedStore): boolean {
  return input.desired.id !== undefined && observed.name !== input.desired.name;
}

/**
 * Whether KMS renames the store (UpdateCustomKeyStore NewCustomKeyStoreName) in its current state,
 * as the KMS API model says: a CloudHSM key store only while DISCONNECTED, an external key store
 * while CONNECTED or DISCONNECTED. In any other state the call fails.
 */
export function renameAllowed(observed: ObservedStore): boolean {
  const state = observed.connectionState;
  return state === 'DISCONNECTED' || (observed.type === 'EXTERNAL_KEY_STORE' && state === 'CONNECTED');
}

/** What must wait for the store to be DISCONNECTED: the settings that differ, and a rename KMS refuses in the current state. */
export function deferredChanges(input: PlanInput, observed: ObservedStore): UpdateChanges {
  const rename = renamed(input, observed) && !renameAllowed(observed) ? { newName: input.desired.name } : {};
  return { ...rename, ...settingsChanges(input, observed) };
}

/** Settings (not secrets) UpdateCustomKeyStore must change so that the store matches the desired state. */
export function settingsChanges(input: PlanInput, observed: ObservedStore): UpdateChanges {
  const { desired } = input;
  if (desired.type === 'AWS_CLOUDHSM') {
    const clusterId = desired.cloudHsmClusterId;
    return clusterId !== undefined && clusterId !== observed.cloudHsmClusterId ? { cloudHsmClusterId: clusterId } : {};
  }
  const want = desired.xksProxy;
  if (want === undefined) return {};
  const have = observed.xksProxy;
  const xks: NonNullable<UpdateChanges['xks']> = {};
  if (want.uriEndpoint !== have?.uriEndpoint) xks.uriEndpoint = want.uriEndpoint;
  if (want.uriPath !== have?.uriPath) xks.uriPath = want.uriPath;
  if (want.connectivity !== have?.connectivity) xks.connectivity = want.connectivity;
  // KMS needs the service name with VPC_ENDPOINT_SERVICE connectivity, so it goes along with a connectivity change.
  if (want.vpcEndpointServiceName !== undefined && (want.vpcEndpointServiceName !== have?.vpcEndpointServiceName || xks.connectivity !== undefined)) {
    xks.vpcEndpointServiceName = want.vpcEndpointServiceName;
  }
  return Object.keys(xks).length > 0 ? { xks } : {};
}

/** Secret versions to send: only versions newer than the last applied (or baselined) one. */
export function secretChanges(input: PlanInput, cur: StoreStatus): UpdateChanges {
  const { desired } = input;
  const passwordArn = desired.keyStorePasswordSecretArn;
  if (desired.type === 'AWS_CLOUDHSM') {
    return passwordArn !== undefined && input.passwordVersion !== null && isNew(input.passwordVersion, cur.appliedPasswordVersion)
      ? { password: { secretArn: passwordArn, versionId: input.passwordVersion } }
      : {};
  }
  const credentialArn = desired.xksProxy?.credentialSecretArn;
  return credentialArn !== undefined && input.xksCredentialVersion !== null && isNew(input.xksCredentialVersion, cur.appliedXksCredentialVersion)
    ? { xks: { credential: { secretArn: credentialArn, versionId: input.xksCredentialVersion } } }
    : {};
}

/** Field names of an update, for reasons and drift reports (`keyStorePassword` names the secret version, never a value). */
export function changedFields(changes: UpdateChanges): string[] {
  return [
    ...(changes.newName !== undefined ? ['name'] : []),
    ...(changes.cloudHsmClusterId !== undefined ? ['cloudHsmClusterId'] : []),
    ...(changes.password !== undefined ? [`keyStorePassword (secret version ${changes.password.versionId})`] : []),
    ...Object.entries(changes.xks ?? {}).map(([field, value]) =>
      field === 'credential' ? `xksProxy.credential (secret version ${(value as { versionId: string }).versionId})` : `xksProxy.${field}`,
    ),
  ];
}

/** A version not read (null) is never new; a version is new when it differs from the one applied or baselined. */
export function isNew(current: string | null, applied: string | null): boolean {
  return current !== null && current !== applied;
}

/** The cluster a CloudHSM store should use: the desired one, else the one it has. */
export function targetClusterId(input: PlanInput): string | undefined {
  return input.desired.cloudHsmClusterId ?? input.observed?.cloudHsmClusterId;
}

/** A CONNECTED CloudHSM store whose cluster is gone or has no ACTIVE HSM: every use of its keys fails. */
export function connectedWithoutHsm(input: PlanInput, observed: ObservedStore): boolean {
  if (observed.type !== 'AWS_CLOUDHSM' || observed.connectionState !== 'CONNECTED') return false;
  const cluster = observed.cloudHsmClusterId !== undefined ? input.clusters.get(observed.cloudHsmClusterId) : undefined;
  return cluster === undefined || cluster.activeHsms === 0;
}

/** Every way the observed store differs from the desired one (field names), for report-only modes. */
export function observedDrift(input: PlanInput, observed: ObservedStore | null): string[] {
  if (observed === null) return [];
  const { desired } = input;
  const state = observed.connectionState;
  const settled =
    desired.desiredState === 'CONNECTED' ? state === 'CONNECTED' || state === 'CONNECTING' : state === 'DISCONNECTED' || state === 'DISCONNECTING';
  return [
    ...identityDrift(input, observed),
    ...(renamed(input, observed) ? ['name'] : []),
    ...(settled ? [] : ['connectionState']),
    ...(connectedWithoutHsm(input, observed) ? ['activeHsms'] : []),
    ...(observed.type === desired.type ? changedFields(settingsChanges(input, observed)) : []),
  ];
}

/** `FAILED with NETWORK_ERRORS`, `CONNECTED`. */
export function describe(observed: ObservedStore): string {
  return observed.connectionErrorCode !== null ? `${observed.connectionState} with ${observed.connectionErrorCode}` : observed.connectionState;
}
