/**
 * What each connection failure means and how it is fixed (the KMS guide's connection-failure fixes, the CustomKeyStoresListEntry
 * and describe-custom-key-stores texts), in plain words an on-call engineer can follow at 3 a.m.
 * `plan()` reads the class to decide whether to repair or escalate; the runbook goes into the
 * `Repair Escalated` event.
 */
import type { FindingKind } from './health.js';
import type { ConnectionErrorCode, StoreType } from './types.js';

/**
 * How the reconciler treats a failure:
 * - `retryable`: disconnect, wait, connect again with backoff, up to `maxAttempts`; then a human.
 * - `fixableFromDesired`: repaired when the desired state names a fix (another cluster that exists); otherwise a human at once.
 * - `fixableFromDesiredOrRetryable`: repaired by applying desired XKS settings that differ; with no such drift, retried like `retryable`.
 * - `fixableByNewSecret`: repaired only when the secret holds a version newer than the one last applied (a human acted); otherwise a human at once.
 * - `fixableByCreateHsm`: repaired once the cluster has an ACTIVE HSM again, or by CreateHsm when `allowCreateHsm`; otherwise a human at once.
 * - `humanOnly`: escalated at once; tried once more after the hold is released (new generation, `cks retry`, new secret version).
 */
export type PlaybookClass =
  | 'retryable'
  | 'fixableFromDesired'
  | 'fixableFromDesiredOrRetryable'
  | 'fixableByNewSecret'
  | 'fixableByCreateHsm'
  | 'humanOnly';

/** The playbook of one ConnectionErrorCode. */
export interface Playbook {
  /** Store types KMS reports this code for. */
  appliesTo: readonly StoreType[];
  class: PlaybookClass;
  /** One line: what the code means. */
  description: string;
  /** The documented fix in plain words. */
  runbook: string;
}

const ANY: readonly StoreType[] = ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'];
const CLOUDHSM: readonly StoreType[] = ['AWS_CLOUDHSM'];
const XKS: readonly StoreType[] = ['EXTERNAL_KEY_STORE'];

const NEW_PASSWORD_VERSION =
  'Put exactly that password into the key store password secret (keyStorePasswordSecretArn) as a new version (AWSCURRENT). ' +
  'The reconciler then disconnects the store, updates its key store password and reconnects. ' +
  'A version that existed before is never re-sent: KMS rotates the kmsuser password on every connect, and a stale password counts toward locking kmsuser out.';

/** INVALID_CREDENTIALS is the one code reported for both types, with a different fix for each. */
const INVALID_CREDENTIALS_BY_TYPE: Record<StoreType, Pick<Playbook, 'description' | 'runbook'>> = {
  AWS_CLOUDHSM: {
    description: 'The kmsuser password KMS holds does not match the one in the cluster.',
    runbook:
      'As a crypto officer, set a new kmsuser password in the cluster (CloudHSM CLI `user change-password --username kmsuser --role crypto-user`, or cloudhsm_mgmt_util `changePswd CU kmsuser`). ' +
      NEW_PASSWORD_VERSION,
  },
  EXTERNAL_KEY_STORE: {
    description: 'The XKS proxy rejects the authentication credential KMS holds.',
    runbook:
      'Create a new authentication credential on the XKS proxy and put it into the credential secret (credentialSecretArn) as a new version, ' +
      'JSON {"accessKeyId": "...", "secretAccessKey": "..."}; the reconciler then updates the store and reconnects. ' +
      'If you fixed the proxy to accept the current credential instead, run `cks retry <store>`.',
  },
};

/** Every code, so the compiler enforces that none is forgotten. */
export const PLAYBOOKS: Record<ConnectionErrorCode, Playbook> = {
  INTERNAL_ERROR: {
    appliesTo: ANY,
    class: 'retryable',
    description: 'KMS could not complete the connection because of an internal error.',
    runbook:
      'Usually transient: the reconciler disconnects, waits and reconnects with backoff. If it keeps failing, check the AWS Health Dashboard for KMS in this Region, ' +
      'open an AWS Support case naming the custom key store id, and run `cks retry <store>` once AWS reports it fixed.',
  },
  NETWORK_ERRORS: {
    appliesTo: ANY,
    class: 'retryable',
    description: 'Network errors prevent KMS from reaching the backing key store.',
    runbook:
      'For a CloudHSM store, check that the cluster security group (cloudhsm-cluster-<cluster-id>-sg) still allows TCP 2223-2225 inbound and outbound to itself, ' +
      'and that the cluster subnets, route tables and network ACLs were not changed. For an external key store, check that the XKS proxy endpoint is reachable from AWS. ' +
      'Then run `cks retry <store>`.',
  },
  INVALID_CREDENTIALS: {
    appliesTo: ANY,
    class: 'fixableByNewSecret',
    description: `CloudHSM: ${INVALID_CREDENTIALS_BY_TYPE.AWS_CLOUDHSM.description} XKS: ${INVALID_CREDENTIALS_BY_TYPE.EXTERNAL_KEY_STORE.description}`,
    runbook: `CloudHSM: ${INVALID_CREDENTIALS_BY_TYPE.AWS_CLOUDHSM.runbook} External key store: ${INVALID_CREDENTIALS_BY_TYPE.EXTERNAL_KEY_STORE.runbook}`,
  },
  CLUSTER_NOT_FOUND: {
    appliesTo: CLOUDHSM,
    class: 'fixableFromDesired',
    description: 'KMS cannot find the CloudHSM cluster of the store (it was deleted).',
    runbook:
      'Create a cluster from the most recent backup of the deleted cluster (it shares its backup history, so KMS accepts it), give it at least one ACTIVE HSM, ' +
      'then set cloudHsmClusterId in the desired state to the new cluster id and `cks apply`. The reconciler then updates the store and reconnects.',
  },
  INSUFFICIENT_CLOUDHSM_HSMS: {
    appliesTo: CLOUDHSM,
    class: 'fixableByCreateHsm',
    description: 'The cluster of the store has no ACTIVE HSM.',
    runbook:
      'Add an HSM to the cluster (CloudHSM CreateHsm in one of its Availability Zones) and wait until it is ACTIVE, or set allowCreateHsm: true in the desired state so the reconciler adds one. ' +
      'Once the cluster has an ACTIVE HSM the reconciler reconnects the store.',
  },
  INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET: {
    appliesTo: CLOUDHSM,
    class: 'humanOnly',
    description: 'A private subnet of the cluster has no free IP address for the KMS connection.',
    runbook:
      'Free at least one IP address (two are better) in every private subnet of the cluster, for example by deleting unused network interfaces, then run `cks retry <store>`.',
  },
  SUBNET_NOT_FOUND: {
    appliesTo: CLOUDHSM,
    class: 'fixableFromDesired',
    description: 'A subnet in the cluster configuration was deleted.',
    runbook:
      'Create a new cluster from a recent backup of this cluster (this creates a new configuration with private subnets in at least two Availability Zones), give it at least one ACTIVE HSM, ' +
      'then set cloudHsmClusterId in the desired state to the new cluster id and `cks apply`. The reconciler then updates the store and reconnects.',
  },
  USER_LOCKED_OUT: {
    appliesTo: CLOUDHSM,
    class: 'fixableByNewSecret',
    description: 'kmsuser is locked out of the cluster after too many failed logins.',
    runbook:
      'As a crypto officer, change the kmsuser password in the cluster (CloudHSM CLI `user change-password --username kmsuser --role crypto-user`, or cloudhsm_mgmt_util `changePswd CU kmsuser`); this also unlocks it. ' +
      NEW_PASSWORD_VERSION,
  },
  USER_LOGGED_IN: {
    appliesTo: CLOUDHSM,
    class: 'humanOnly',
    description: 'kmsuser is logged into the cluster, so KMS cannot log in and rotate its password.',
    runbook:
      'Log kmsuser out of the cluster: end every CloudHSM client session logged in as kmsuser (logout, or stop the client holding it). ' +
      'If you changed the kmsuser password to log in, also put that password into the key store password secret as a new version. ' +
      'Then run `cks retry <store>` (or let the new secret version release it): the reconciler reconnects once.',
  },
  USER_NOT_FOUND: {
    appliesTo: CLOUDHSM,
    class: 'fixableByNewSecret',
    description: 'There is no kmsuser crypto user in the cluster.',
    runbook:
      'As a crypto officer, create the crypto user kmsuser in the cluster (CloudHSM CLI `user create --username kmsuser --role crypto-user`, or cloudhsm_mgmt_util `createUser CU kmsuser`). ' +
      NEW_PASSWORD_VERSION,
  },
  XKS_PROXY_ACCESS_DENIED: {
    appliesTo: XKS,
    class: 'humanOnly',
    description: 'The XKS proxy denies KMS access.',
    runbook:
      'Fix the authorization rules of the XKS proxy so that they allow KMS to call it on behalf of this account, then run `cks retry <store>`.',
  },
  XKS_PROXY_NOT_REACHABLE: {
    appliesTo: XKS,
    class: 'fixableFromDesiredOrRetryable',
    description: 'KMS cannot communicate with the XKS proxy.',
    runbook:
      "Check that uriEndpoint and uriPath in the desired state are the proxy's (the reconciler applies a corrected desired state by itself), that the proxy is running and reachable on its network, " +
      'and that at least one external key manager instance behind it is available. Then run `cks retry <store>`.',
  },
  XKS_PROXY_INVALID_RESPONSE: {
    appliesTo: XKS,
    class: 'retryable',
    description: 'KMS cannot interpret the responses of the XKS proxy.',
    runbook: 'Check the XKS proxy logs and version; if the error repeats, contact the proxy vendor. Once fixed, run `cks retry <store>`.',
  },
  XKS_PROXY_INVALID_CONFIGURATION: {
    appliesTo: XKS,
    class: 'fixableFromDesiredOrRetryable',
    description: 'A configuration error prevents the store from connecting to its proxy, usually the URI path.',
    runbook:
      "Check that uriPath in the desired state is the proxy's path (for example /kms/xks/v1, or /<prefix>/kms/xks/v1); correct the desired state and `cks apply` (the reconciler applies it), " +
      'or fix the proxy and run `cks retry <store>`.',
  },
  XKS_PROXY_TIMED_OUT: {
    appliesTo: XKS,
    class: 'retryable',
    description: 'The XKS proxy does not answer KMS in time.',
    runbook:
      'Check the load and latency of the XKS proxy and of the external key manager behind it; if the timeouts repeat, contact the proxy vendor. Then run `cks retry <store>`.',
  },
  XKS_PROXY_INVALID_TLS_CONFIGURATION: {
    appliesTo: XKS,
    class: 'humanOnly',
    description: 'KMS cannot connect to the XKS proxy because its TLS configuration is invalid.',
    runbook:
      'Make the proxy serve TLS 1.2 or 1.3 with a certificate that is not expired, matches the host name of uriEndpoint, and is signed by a public certificate authority KMS trusts. ' +
      'Then run `cks retry <store>`.',
  },
  XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND: {
    appliesTo: XKS,
    class: 'fixableFromDesiredOrRetryable',
    description: 'KMS cannot find the VPC endpoint service of the XKS proxy.',
    runbook:
      'Check that vpcEndpointServiceName in the desired state is right (the reconciler applies a corrected desired state by itself) and that the KMS service principal ' +
      'cks.kms.<region>.amazonaws.com is an allowed principal of the endpoint service. Then run `cks retry <store>`.',
  },
  XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION: {
    appliesTo: XKS,
    class: 'humanOnly',
    description: 'The VPC endpoint service does not meet the requirements of an external key store.',
    runbook:
      'Fix the endpoint service: an interface endpoint service in this account, a Network Load Balancer in at least two subnets in different Availability Zones, ' +
      'cks.kms.<region>.amazonaws.com among the allowed principals, no acceptance required, a private DNS name unique in the Region whose domain is verified, ' +
      'and a TLS certificate for that private DNS name. Then run `cks retry <store>`.',
  },
};

/** Situations that are not a ConnectionErrorCode but still need a person. */
export type Situation =
  | 'stuckConnecting'
  | 'stuckDisconnecting'
  | 'storeMissing'
  | 'identityMismatch'
  | 'connectedWithoutActiveHsm'
  | 'clusterNotFound'
  | 'clusterNotActive'
  | 'noActiveHsm'
  | 'retriesExhausted'
  | 'actionFailing'
  | 'regionalIncident'
  | 'manualDisconnect'
  | 'manualConnect'
  | 'loginBudgetSpent'
  | 'approvalRequired'
  | 'settingsApprovalRequired'
  | 'secretMissing';

/** Runbooks for the situations above, in the same plain style as {@link PLAYBOOKS}. */
export const SITUATION_RUNBOOKS: Record<Situation, string> = {
  stuckConnecting:
    'The store has been CONNECTING far longer than KMS takes (about 20 minutes for CloudHSM, 5 for XKS). Check the AWS Health Dashboard for KMS and CloudHSM in this Region, ' +
    'and for CloudHSM that the cluster still has an ACTIVE HSM. If it stays CONNECTING, disconnect it (`aws kms disconnect-custom-key-store`), wait for DISCONNECTED, and run `cks retry <store>`; ' +
    'if that does not help, open an AWS Support case with the store id.',
  stuckDisconnecting:
    'The store has been DISCONNECTING far longer than KMS takes (minutes). Check the AWS Health Dashboard for KMS in this Region and open an AWS Support case with the store id; ' +
    'the reconciler continues by itself once the store is DISCONNECTED.',
  storeMissing:
    'No custom key store with this name (or id) exists in KMS. The reconciler never creates or deletes stores. If it was deleted on purpose, remove it from the desired state: `cks delete <store>`, or remove it from the stores file and `cks apply --prune`; ' +
    'if it was renamed outside the reconciler, set its id in the desired state; otherwise create it (CreateCustomKeyStore) and the reconciler takes over.',
  identityMismatch:
    'The store KMS returned does not match the desired item (a different type, or a different id than the one declared). The type is fixed when a store is created, ' +
    'so the reconciler will not act on it: correct the desired item (type, id or name) and `cks apply`.',
  connectedWithoutActiveHsm:
    'The store is CONNECTED but its cluster has no ACTIVE HSM (or no longer exists), so every use of its KMS keys fails. Add an HSM to the cluster (CloudHSM CreateHsm) and wait until it is ACTIVE, ' +
    'or set allowCreateHsm: true so the reconciler adds one; if the cluster was deleted, restore it from backup and set cloudHsmClusterId to the new cluster.',
  clusterNotFound:
    'Pre-flight: the cluster the store must connect to does not exist. Restore it from its most recent backup, give it an ACTIVE HSM, set cloudHsmClusterId in the desired state to the new cluster id and `cks apply`.',
  clusterNotActive:
    'Pre-flight: the cluster the store must connect to is not ACTIVE, so a connect would fail. Finish initializing and activating the cluster (or wait for its update to end); ' +
    'check DescribeClusters StateMessage. Then run `cks retry <store>`.',
  noActiveHsm:
    'Pre-flight: the cluster the store must connect to has no ACTIVE HSM, so a connect would fail with INSUFFICIENT_CLOUDHSM_HSMS. Add an HSM (CloudHSM CreateHsm) and wait until it is ACTIVE, ' +
    'or set allowCreateHsm: true so the reconciler adds one. The reconciler reconnects once the cluster has an ACTIVE HSM.',
  retriesExhausted:
    'The reconciler tried the documented automatic fix the allowed number of times (maxAttempts) and the store still does not connect. Follow the fix for the last error below, ' +
    'then run `cks retry <store>` to give the reconciler a fresh set of attempts.',
  actionFailing:
    "A KMS or CloudHSM call the reconciler needs keeps failing (see the exception in the reason). Check the reconciler role's permissions, the service quotas and the AWS Health Dashboard; " +
    'an error naming the desired settings (for example CloudHsmClusterNotRelatedException or an Xks* exception) means the desired item must be corrected and re-applied. Then run `cks retry <store>`.',
  regionalIncident:
    'Many custom key stores failed at once, which points to a regional problem (KMS, CloudHSM or the network), not to the stores. The reconciler is not repairing any store until the share of FAILED stores drops. ' +
    'Check the AWS Health Dashboard for KMS and CloudHSM in this Region and open an AWS Support case; to repair anyway, raise the limit (`cks settings --blast-radius-share 1`) ' +
    'and have a second person sign that change (`cks approve --settings`): a higher limit comes into force only with two people.',
  manualDisconnect:
    "Someone other than the reconciler disconnected this store, which is desired CONNECTED. The reconciler honours a human's disconnect and leaves the store DISCONNECTED: " +
    'when the work that needed it is done, run `cks resume <store>` (or apply a new generation of the desired item) and the reconciler reconnects it. ' +
    'To have such stores reconnected at once instead, set onManualDisconnect: reconnect on the store.',
  manualConnect:
    'Someone other than the reconciler connected this store, which is desired DISCONNECTED. The reconciler does not disconnect a store a human connected: ' +
    'if it should stay connected, set desiredState: CONNECTED and `cks apply`; to have the reconciler disconnect it again, run `cks resume <store>`.',
  loginBudgetSpent:
    "The reconciler's own connects have already caused the allowed number of failed kmsuser logins (loginBudget) since the last successful connect, so it sends no password and makes no connect: " +
    'CloudHSM locks kmsuser out after 5 failed logins, and a locked-out kmsuser stops every store on the cluster. Check the kmsuser password in the cluster (cloudhsm-cli), ' +
    'put that exact password in the password secret as a new version, then run `cks retry <store>`, which resets the budget and lets the reconciler try again.',
  approvalRequired:
    'The desired item makes a change that needs a second person: who this store trusts (the XKS proxy endpoint, path, connectivity or VPC endpoint service; with approvalForCloudHsm also the cluster or the name), ' +
    'a login budget above the one in force, onManualDisconnect: reconnect, or a login-budget reset with no new password. Until two persons sign it, the values in force apply. ' +
    'Someone who has not signed it reviews the change with `cks status <store>` and runs `cks approve <store>` (two sessions of one role are one person; a session with a source identity sets CKS_SOURCE_IDENTITY). ' +
    'If the change is not expected, restore the previous desired item with `cks apply` and look into who wrote it.',
  settingsApprovalRequired:
    'The desired settings weaken a safety setting (approvalForCloudHsm turned off, or a higher blastRadiusMaxFailedShare or blastRadiusMinFailed); until a second person signs the change, the value in force still applies. ' +
    'Someone other than the proposer reviews the change with `cks settings` and signs it with `cks approve --settings`. ' +
    'If the change is not expected, restore the previous value with `cks settings` and look into who wrote it.',
  secretMissing:
    "The desired item names a secret (keyStorePasswordSecretArn, or xksProxy.credentialSecretArn) that does not exist in Secrets Manager in the store's account and Region, or that holds no current value, " +
    'so the reconciler cannot repair the store. Check the ARN in the stores file: if it is wrong, correct it and `cks apply`; otherwise create the secret with that name ' +
    '(CloudHSM: the kmsuser password as its SecretString; XKS: JSON {"accessKeyId": ..., "secretAccessKey": ...}). The reconciler continues by itself once the secret exists.',
};

/** Runbooks of the health findings (`Store At Risk`): risks of a CONNECTED store, to fix before it fails. */
export const FINDING_RUNBOOKS: Record<FindingKind, string> = {
  xksCertificateExpiring:
    "The TLS certificate of the store's XKS proxy endpoint expires soon; when it does, KMS cannot reach the proxy and every cryptographic call with the store's KMS keys fails. " +
    'Renew the certificate on the proxy (or its load balancer) before it expires: same host name as uriEndpoint (or the private DNS name of the VPC endpoint service), signed by a public certificate authority KMS trusts. ' +
    'The finding clears once XksProxyCertificateDaysToExpire rises above the threshold (certificateExpiryDays in the settings).',
  xksCredentialOld:
    'The XKS proxy authentication credential of the store is older than the rotation policy (credentialMaxAgeDays in the settings). ' +
    'Create a new credential on the proxy and put it into the credential secret (credentialSecretArn) as a new version, JSON {"accessKeyId": "...", "secretAccessKey": "..."}: ' +
    'the reconciler updates the store with it and XksProxyCredentialAge starts again from zero, which clears the finding.',
  xksKeyManagerNotActive:
    'An external key manager instance behind the XKS proxy is Degraded or Unavailable (XksExternalKeyManagerStates). With none Active, every cryptographic call fails with KMSInvalidStateException. ' +
    "Check the external key manager's health and the proxy's connection to it (see the vendor's documentation); the finding clears once every instance reads Active.",
  xksProxyErrors:
    "The XKS proxy answers many KMS requests with errors (XksProxyErrors over proxyErrorsPer5Min in the settings), so cryptographic calls with the store's KMS keys fail. " +
    'Check the proxy logs for the failing operations and error codes (the KmsOperation and XksOperation dimensions of the metric), the external key manager behind it and the authorization rules; ' +
    'the finding clears when the errors drop below the threshold.',
  xksProxyLatency:
    'The XKS proxy answers slowly (XksProxyLatency over proxyLatencyMs in the settings); KMS gives up after 250 ms, so slow answers turn into failed cryptographic calls and XKS_PROXY_TIMED_OUT. ' +
    'Check the load of the proxy and of the external key manager, and the network between AWS and the proxy; the finding clears when the average latency drops below the threshold.',
  clusterTooFewHsms:
    'The CloudHSM cluster of this CONNECTED store has fewer than two ACTIVE HSMs: one more HSM failure and the store fails with INSUFFICIENT_CLOUDHSM_HSMS, and every use of its KMS keys fails. ' +
    'Add an HSM in another Availability Zone of the cluster (CloudHSM CreateHsm) and wait until it is ACTIVE; the finding clears once the cluster has two ACTIVE HSMs.',
  clusterSingleZone:
    'Every HSM of the CloudHSM cluster of this CONNECTED store is in one Availability Zone: an outage of that zone fails the store with INSUFFICIENT_CLOUDHSM_HSMS. ' +
    'Add an HSM in another Availability Zone of the cluster (CloudHSM CreateHsm), then remove a surplus one if cost matters; the finding clears once the HSMs span two zones.',
  keyStoreProbeFailed:
    "The reconciler's probe of this CONNECTED store failed (the reason names the call and the error): KMS says CONNECTED, but the store cannot serve cryptographic calls, so its KMS keys are unusable now. " +
    "For an external key store, check that the XKS proxy is up and reachable from KMS, that its TLS certificate is valid, that it accepts the store's proxy path and authentication credential, and that the external key manager behind it is Active; " +
    'the probe key (probeKeyId) must exist, be enabled, live in this store and allow kms:Encrypt to the reconciler. ' +
    'For a CloudHSM key store, check that its cluster has ACTIVE HSMs (DescribeClusters). The finding clears when a later probe succeeds.',
};

/** The playbook for a code on a store of a given type: INVALID_CREDENTIALS narrowed to that type's fix. */
export function playbookFor(code: ConnectionErrorCode, type: StoreType): Playbook {
  const playbook = PLAYBOOKS[code];
  return code === 'INVALID_CREDENTIALS' ? { ...playbook, ...INVALID_CREDENTIALS_BY_TYPE[type] } : playbook;
}
