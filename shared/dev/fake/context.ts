/**
 * What the fake's parts share without depending on one another: the account-Region scope that
 * state is partitioned by, the caller of an AWS call, and the world as the service models see it.
 */

/** An account and Region: the unit the fake partitions state by. */
export interface Scope {
  accountId: string;
  region: string;
}

export const DEFAULT_SCOPE: Readonly<Scope> = { accountId: '000000000000', region: 'us-east-1' };

/** The shape of an AWS Region name (`us-east-1`, `ap-southeast-12`); anything else is refused. */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/** An AWS account id. */
export const ACCOUNT_PATTERN = /^\d{12}$/;

export function scopeKey(scope: Scope): string {
  return `${scope.accountId}/${scope.region}`;
}

/** Who made an AWS call, from its signature headers. */
export interface Caller {
  accessKeyId: string;
  /** The role name (the fake takes it from `x-amz-security-token`; see `server.ts`). */
  roleName: string;
}

/** What the service models need from the world. */
export interface WorldContext {
  /** Fake time, epoch milliseconds. */
  now(): number;
  /** A world-wide increasing sequence number (creation order, paging cursors). */
  nextSeq(): number;
  /** Runs `run` when fake time reaches now + `delaySeconds`. */
  schedule(delaySeconds: number, run: () => void): void;
  /** Custom key stores allowed per account and Region. */
  readonly storeQuota: number;
}
