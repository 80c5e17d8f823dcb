/**
 * The few calls the demo makes to the fake's admin API (`/_fake/`): build and break
 * the world as a human would, and read what the reconciler published and what CloudTrail saw.
 */
import type { ConnectionErrorCode } from '../../domain/types.js';
import type { PolicyDocument } from '../fake/iam/model.js';
import type { PrincipalKeys, StackAdmin } from '../iam/stack.js';

/** A PutEvents entry the fake received (`GET /_fake/events`). */
export interface RecordedEvent {
  seq: number;
  time: string;
  Source: string;
  DetailType: string;
  Detail: Record<string, unknown>;
}

/** An EventBridge-shaped "AWS API Call via CloudTrail" event (`GET /_fake/cloudtrail`). */
export interface CloudTrailEvent {
  /** Fake time of the call, ISO 8601 to the second. */
  time: string;
  source: string;
  'detail-type': string;
  /** The account and Region of the call. */
  account: string;
  region: string;
  detail: {
    eventName: string;
    errorCode?: string;
    userIdentity?: { sessionContext?: { sessionIssuer?: { arn?: string; userName?: string } } };
  };
}

/** The fake's admin API at `url`. Every call throws on a non-2xx answer, with the fake's message. */
export class FakeAdmin implements StackAdmin {
  constructor(private readonly url: string) {}

  /** An ACTIVE, initialized cluster with `activeHsms` HSMs and kmsuser's password (in the fake's default scope, or `accountId`/`region`). */
  createCluster(input: { clusterId: string; kmsuserPassword: string; activeHsms?: number; accountId?: string; region?: string }): Promise<{
    clusterId: string;
    trustAnchorCertificate: string;
  }> {
    return this.call('POST', '/_fake/clusters', input);
  }

  /** Changes a cluster the way its owners (or an outage) would, e.g. `{activeHsms: 0}`. */
  async patchCluster(clusterId: string, patch: Record<string, unknown>): Promise<void> {
    await this.call('PATCH', `/_fake/clusters/${encodeURIComponent(clusterId)}`, patch);
  }

  async createXksProxy(input: { uriEndpoint: string; uriPath: string; accessKeyId: string; secretAccessKey: string }): Promise<void> {
    await this.call('POST', '/_fake/xks-proxies', input);
  }

  /** The store drops to FAILED with this code now (a lost connection); `scope` for a store of another account and Region. */
  async failStore(nameOrId: string, errorCode: ConnectionErrorCode, scope: { accountId?: string; region?: string } = {}): Promise<void> {
    await this.call('POST', `/_fake/stores/${encodeURIComponent(nameOrId)}/fail`, { errorCode, ...scope });
  }

  /** A role STS AssumeRole gives credentials for: who may assume it, and what its sessions may do. */
  async createRole(input: Parameters<StackAdmin['createRole']>[0]): Promise<void> {
    await this.call('POST', '/_fake/roles', input);
  }

  /** An IAM user with these identity policies, and its access key. */
  createPrincipal(input: { accountId: string; userName: string; policies: PolicyDocument[] }): Promise<PrincipalKeys> {
    return this.call('POST', '/_fake/principals', input);
  }

  /** Puts an account in an organization (`aws:PrincipalOrgID`). */
  async setOrganization(accountId: string, organizationId: string): Promise<void> {
    await this.call('POST', '/_fake/organizations', { accountId, organizationId });
  }

  /** The reconciler's events received since sequence number `since`, oldest first. */
  events(since: number): Promise<RecordedEvent[]> {
    return this.call('GET', `/_fake/events?since=${since}`);
  }

  /** CloudTrail events since cursor `since`, and the cursor to pass next time. */
  cloudTrail(since: number): Promise<{ events: CloudTrailEvent[]; next: number }> {
    return this.call('GET', `/_fake/cloudtrail?since=${since}`);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const reply = (await response.json()) as T & { message?: string };
    if (!response.ok) throw new Error(`fake admin ${method} ${path}: ${response.status} ${reply.message ?? ''}`);
    return reply;
  }
}
