/**
 * IAM in the fake: the users the admin API creates (with their identity policies), each account's
 * organization, and the resource policies of event buses. Roles and sessions live in the STS model;
 * this module holds what IAM knows besides them.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { validateIdentityPolicy, validateResourcePolicy, validateTrustPolicy } from '@cloud-copilot/iam-policy';
import { AwsError } from '../errors.js';

/** An IAM policy document, as JSON. */
export type PolicyDocument = Record<string, unknown>;

/** What a principal nobody described may do: everything (DESIGN: walk-throughs with any key keep working). */
export const ALLOW_ALL: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [{ Sid: 'FakeDefaultPrincipal', Effect: 'Allow', Action: '*', Resource: '*' }],
};

/** An IAM user made by `POST /_fake/principals`: its requests are authorized by its policies only. */
export interface User {
  accountId: string;
  userName: string;
  /** `AIDA…`: the user's unique id, `aws:userid`. */
  userId: string;
  accessKeyId: string;
  secretAccessKey: string;
  policies: PolicyDocument[];
}

const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** An IAM unique id: the prefix (`AIDA`, `AKIA`, `AROA`, `ASIA`) and 16-17 upper-case characters. */
export function uniqueId(prefix: string, length: number): string {
  let text = prefix;
  for (let i = 0; i < length; i++) text += UPPER_ALNUM[randomInt(UPPER_ALNUM.length)];
  return text;
}

export function userArn(user: Pick<User, 'accountId' | 'userName'>): string {
  return `arn:aws:iam::${user.accountId}:user/${user.userName}`;
}

/** Refuses a document the IAM API would refuse, with the validator's findings. */
export function checkPolicy(document: unknown, kind: 'identity' | 'trust' | 'resource'): PolicyDocument {
  const validate = kind === 'identity' ? validateIdentityPolicy : kind === 'trust' ? validateTrustPolicy : validateResourcePolicy;
  const errors = validate(document);
  if (errors.length > 0) {
    const findings = errors.map((error) => `${error.path}: ${error.message}`).join('; ');
    throw new AwsError('MalformedPolicyDocument', `Not a valid ${kind} policy: ${findings}`, 400);
  }
  return document as PolicyDocument;
}

/** Decisions remembered at most (the oldest are dropped first). */
const MAX_DECISIONS = 20_000;

export class IamBackend {
  /**
   * Decisions already made, by everything they depend on; emptied whenever a policy, a role or an
   * organization changes. Policy evaluation costs milliseconds, and the reconciler repeats its calls.
   */
  readonly #decisions = new Map<string, { action: string; resource: string; message: string } | null>();
  readonly #users = new Map<string, User>();
  readonly #organizations = new Map<string, string>();
  readonly #busPolicies = new Map<string, PolicyDocument>();

  decision(key: string): { action: string; resource: string; message: string } | null | undefined {
    return this.#decisions.get(key);
  }

  remember(key: string, decision: { action: string; resource: string; message: string } | null): void {
    if (this.#decisions.size >= MAX_DECISIONS) this.#decisions.delete(this.#decisions.keys().next().value as string);
    this.#decisions.set(key, decision);
  }

  /** Forgets every decision: something they depend on changed. */
  changed(): void {
    this.#decisions.clear();
  }

  /** Creates a user with one access key, or replaces the policies of the user of that name. */
  putUser(input: { accountId: string; userName: string; policies: PolicyDocument[] }): User {
    this.changed();
    const existing = [...this.#users.values()].find((user) => user.accountId === input.accountId && user.userName === input.userName);
    if (existing) {
      existing.policies = input.policies;
      return existing;
    }
    const user: User = {
      ...input,
      userId: uniqueId('AIDA', 17),
      accessKeyId: uniqueId('AKIA', 16),
      secretAccessKey: randomBytes(30).toString('base64'),
    };
    this.#users.set(user.accessKeyId, user);
    return user;
  }

  user(accessKeyId: string): User | undefined {
    return this.#users.get(accessKeyId);
  }

  users(): User[] {
    return [...this.#users.values()];
  }

  /** Puts an account in an organization (`aws:PrincipalOrgID`, `aws:ResourceOrgID`); null takes it out. */
  setOrganization(accountId: string, organizationId: string | null): void {
    this.changed();
    if (organizationId === null) this.#organizations.delete(accountId);
    else this.#organizations.set(accountId, organizationId);
  }

  organizationOf(accountId: string): string | undefined {
    return this.#organizations.get(accountId);
  }

  organizations(): Record<string, string> {
    return Object.fromEntries(this.#organizations);
  }

  /** The resource policy of an event bus (by ARN); null removes it. */
  setBusPolicy(busArn: string, policy: PolicyDocument | null): void {
    this.changed();
    if (policy === null) this.#busPolicies.delete(busArn);
    else this.#busPolicies.set(busArn, policy);
  }

  busPolicy(busArn: string): PolicyDocument | undefined {
    return this.#busPolicies.get(busArn);
  }

  busPolicies(): Record<string, PolicyDocument> {
    return Object.fromEntries(this.#busPolicies);
  }

  reset(): void {
    this.changed();
    this.#users.clear();
    this.#organizations.clear();
    this.#busPolicies.clear();
  }
}
