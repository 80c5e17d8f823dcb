/**
 * The fake's admin API (`/_fake/`), as the simulator uses it: reset and seed the world, break and mend
 * it as people and outages do, and read back the ground truth (state, events, calls).
 */
import http from 'node:http';
import type { ConnectionErrorCode, ConnectionState } from '../../domain/types.js';
import type { PolicyDocument } from '../fake/iam/model.js';

/** A store in `GET /_fake/state`: the list entry, plus what KMS holds that AWS does not show. */
export interface FakeStore {
  CustomKeyStoreId: string;
  CustomKeyStoreName: string;
  CustomKeyStoreType: string;
  ConnectionState: ConnectionState;
  ConnectionErrorCode?: ConnectionErrorCode;
  CloudHsmClusterId?: string;
  XksProxyConfiguration?: { UriEndpoint: string; UriPath: string };
}

export interface FakeCluster {
  ClusterId: string;
  State: string;
  Hsms: Array<{ State: string }>;
  kmsuser: { exists: boolean; loggedIn: boolean; lockedOut: boolean; failedLogins: number };
}

/** The one account and Region the simulator uses. */
export interface FakeWorld {
  nowMs: number;
  stores: FakeStore[];
  clusters: FakeCluster[];
}

/** A PutEvents entry the fake received. */
export interface FakeEvent {
  seq: number;
  DetailType: string;
  Source: string;
  Detail: Record<string, unknown>;
}

export interface FaultSpec {
  operation: string;
  error: string;
  count: number;
  probability?: number;
}

export class FakeAdmin {
  /** One kept-alive connection: a seed makes a hundred admin calls, and `fetch` costs several times more per call. */
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly url: string) {}

  /** An empty world whose identifiers, passwords and fault draws come from `seed`. */
  async reset(seed: number): Promise<void> {
    await this.call('POST', '/_fake/reset', { seed });
  }

  /** A role whose sessions (and callers naming it) act with these policies. */
  async createRole(input: { accountId: string; roleName: string; policies: PolicyDocument[] }): Promise<void> {
    await this.call('POST', '/_fake/roles', input);
  }

  async world(): Promise<FakeWorld> {
    const state = await this.call<{ nowMs: number; partitions: Array<{ stores: FakeStore[]; clusters: FakeCluster[] }> }>('GET', '/_fake/state');
    const partition = state.partitions[0];
    return { nowMs: state.nowMs, stores: partition?.stores ?? [], clusters: partition?.clusters ?? [] };
  }

  async createCluster(input: { clusterId: string; kmsuserPassword?: string; relatedTo?: string }): Promise<{ trustAnchorCertificate: string }> {
    return this.call('POST', '/_fake/clusters', input);
  }

  async patchCluster(clusterId: string, patch: Record<string, unknown>): Promise<void> {
    await this.call('PATCH', `/_fake/clusters/${clusterId}`, patch);
  }

  async createProxy(input: { uriEndpoint: string; uriPath: string; accessKeyId: string; secretAccessKey: string }): Promise<void> {
    await this.call('POST', '/_fake/xks-proxies', input);
  }

  async patchProxy(uriEndpoint: string, patch: Record<string, unknown>): Promise<void> {
    await this.call('PATCH', '/_fake/xks-proxies', { uriEndpoint, ...patch });
  }

  /** The store drops to FAILED with `errorCode` now. */
  async fail(name: string, errorCode: ConnectionErrorCode): Promise<void> {
    await this.call('POST', `/_fake/stores/${name}/fail`, { errorCode });
  }

  /** The store's next connect attempt ends FAILED with `errorCode`. */
  async outcome(name: string, errorCode: ConnectionErrorCode): Promise<void> {
    await this.call('POST', `/_fake/stores/${name}/outcome`, { errorCode });
  }

  async addFault(fault: FaultSpec): Promise<void> {
    await this.call('POST', '/_fake/faults', fault);
  }

  async clearFaults(): Promise<void> {
    await this.call('DELETE', '/_fake/faults');
  }

  /** Events received with a sequence number of `since` or later, oldest first. */
  events(since: number): Promise<FakeEvent[]> {
    return this.call('GET', `/_fake/events?since=${since}`);
  }

  /** CloudTrail events recorded with a sequence number of `since` or later, oldest first, and the cursor past them. */
  cloudTrail(since: number): Promise<{ events: unknown[]; next: number }> {
    return this.call('GET', `/_fake/cloudtrail?since=${since}`);
  }

  /** The fake's call log, as text (for the secret scan). */
  async callLog(): Promise<string> {
    return JSON.stringify(await this.call('GET', '/_fake/calls'));
  }

  close(): void {
    this.#agent.destroy();
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? '' : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = http.request(
        `${this.url}${path}`,
        { method, agent: this.#agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const reply = JSON.parse(Buffer.concat(chunks).toString('utf8')) as T & { message?: string };
            const status = response.statusCode ?? 500;
            if (status >= 300) reject(new Error(`fake admin ${method} ${path}: ${status} ${reply.message ?? ''}`));
            else resolve(reply);
          });
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  }
}
