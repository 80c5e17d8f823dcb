/**
 * Credentials in the fleet's member accounts: STS AssumeRole into the member role, once per account
 * and credential lifetime, shared by every Region and client of that account.
 */
import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import type { Clock } from '../reconcile/ports.js';
import { awsCall } from './aws-errors.js';

/** Credentials as the SDK clients take them. */
interface AwsCredentialIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** What an SDK client's `credentials` option may be: credentials, fetched when needed. */
export type AwsCredentialIdentityProvider = () => Promise<AwsCredentialIdentity>;

/** How long an assumed session lasts: the default MaxSessionDuration of a role (one hour). */
const SESSION_SECONDS = 3600;
/** Credentials are replaced this long before they expire, so that no call runs with expiring ones. */
export const REFRESH_MARGIN_MS = 5 * 60_000;

/** An expiration the SDK always finds past: it then asks the provider again before each call. */
const ASK_AGAIN = new Date(0);

interface Cached {
  credentials: Promise<AwsCredentialIdentity>;
  /** Clock time from which the credentials are replaced; Infinity while AssumeRole is under way. */
  refreshAt: number;
}

/** The member role's credentials per account, cached until {@link REFRESH_MARGIN_MS} before they expire. */
export class MemberCredentials {
  readonly #cache = new Map<string, Cached>();

  constructor(
    private readonly sts: STSClient,
    private readonly roleName: string,
    private readonly clock: Clock,
    private readonly sessionName = 'cks-reconciler',
  ) {}

  /** `arn:aws:iam::<accountId>:role/<member role>`. */
  roleArn(accountId: string): string {
    return `arn:aws:iam::${accountId}:role/${this.roleName}`;
  }

  /**
   * A provider for the SDK clients of one account. The SDK keeps credentials until shortly before
   * their `expiration` as the system clock reads it, but only this deployment's clock says when they
   * expire (a demo's clock runs faster than the system's): the SDK is handed an expiration already
   * past, so it asks this provider before every call, and this cache answers, renewing by its clock.
   */
  provider(accountId: string): AwsCredentialIdentityProvider {
    return async () => ({ ...(await this.get(accountId)), expiration: ASK_AGAIN });
  }

  /** The account's credentials: cached, or from one AssumeRole (concurrent callers share it). A failure is not cached. */
  async get(accountId: string): Promise<AwsCredentialIdentity> {
    const cached = this.#cache.get(accountId);
    if (cached && this.clock.now() < cached.refreshAt) return cached.credentials;
    const entry: Cached = { credentials: this.#assume(accountId), refreshAt: Infinity };
    this.#cache.set(accountId, entry);
    try {
      const credentials = await entry.credentials;
      entry.refreshAt = (credentials.expiration?.getTime() ?? this.clock.now()) - REFRESH_MARGIN_MS;
      return credentials;
    } catch (error) {
      if (this.#cache.get(accountId) === entry) this.#cache.delete(accountId);
      throw error;
    }
  }

  async #assume(accountId: string): Promise<AwsCredentialIdentity> {
    const { Credentials } = await awsCall('STS.AssumeRole', () =>
      this.sts.send(new AssumeRoleCommand({ RoleArn: this.roleArn(accountId), RoleSessionName: this.sessionName, DurationSeconds: SESSION_SECONDS })),
    );
    if (!Credentials?.AccessKeyId || !Credentials.SecretAccessKey)
      throw new Error(`STS AssumeRole of ${this.roleArn(accountId)} returned no credentials`);
    return {
      accessKeyId: Credentials.AccessKeyId,
      secretAccessKey: Credentials.SecretAccessKey,
      ...(Credentials.SessionToken !== undefined && { sessionToken: Credentials.SessionToken }),
      ...(Credentials.Expiration !== undefined && { expiration: Credentials.Expiration }),
    };
  }
}
