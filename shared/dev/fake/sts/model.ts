/**
 * STS model: the roles callers may assume (created through the admin API) and the sessions
 * `AssumeRole` handed out. A session's access key id is how the fake knows, on every later call, that
 * the caller acts in the role's account as that role; it stops working when the session expires.
 *
 * A role has a trust policy (given, or made from a list of trusted accounts: absent, any account)
 * and permission policies (absent: everything is allowed, as for a principal nobody described).
 * Simplification: role chaining is allowed and not limited to one hour.
 */
import { randomBytes } from 'node:crypto';
import { ACCOUNT_PATTERN } from '../context.js';
import { type PolicyDocument, type User, uniqueId, userArn } from '../iam/model.js';

/** A role that `AssumeRole` may return credentials for. */
export interface Role {
  accountId: string;
  roleName: string;
  /** Accounts whose principals may assume it, when no trust policy was given; null: every account. */
  trustedAccounts: string[] | null;
  /** Who may assume it (a resource policy on the role, evaluated with the caller's permissions). */
  trustPolicy: PolicyDocument;
  /** What its sessions may do; null: everything. */
  policies: PolicyDocument[] | null;
  /** `AROA…`: the unique id in an assumed-role user's id (`AROA…:<session>`). */
  roleId: string;
}

/** Temporary credentials and who they act as. */
export interface Session {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  accountId: string;
  roleName: string;
  roleId: string;
  sessionName: string;
  /** `SourceIdentity` given to AssumeRole, or carried over from the session that assumed this role. */
  sourceIdentity: string | null;
  /** Fake time the credentials stop working, epoch ms. */
  expiresAt: number;
}

/** Who makes a call: the access key id, and the session it belongs to when it came from AssumeRole. */
export interface Principal {
  accountId: string;
  accessKeyId: string;
  /** The role name a non-STS caller put in `x-amz-security-token` (see `server.ts`), else null. */
  roleName: string | null;
  session: Session | null;
  /** The IAM user the key belongs to, when `POST /_fake/principals` made it. */
  user: User | null;
}

export function roleArn(role: Pick<Role, 'accountId' | 'roleName'>): string {
  return `arn:aws:iam::${role.accountId}:role/${role.roleName}`;
}

/**
 * The principal's ARN, one per access key id: an assumed-role session as STS names it, a caller that
 * named a role as a session of that role named after its key, anyone else as an IAM user named after
 * its key.
 */
export function principalArn(principal: Principal): string {
  const { accountId, session } = principal;
  if (session) return `arn:aws:sts::${accountId}:assumed-role/${session.roleName}/${session.sessionName}`;
  if (principal.user) return userArn(principal.user);
  if (principal.roleName !== null) return `arn:aws:sts::${accountId}:assumed-role/${principal.roleName}/${principal.accessKeyId}`;
  return `arn:aws:iam::${accountId}:user/${principal.accessKeyId}`;
}

/** The principal's unique id, as `GetCallerIdentity` returns it in `UserId`. */
export function principalUserId(principal: Principal): string {
  if (principal.session) return `${principal.session.roleId}:${principal.session.sessionName}`;
  return principal.user ? principal.user.userId : principal.accessKeyId;
}

/** The trust policy a list of trusted accounts stands for (null: every account; empty: nobody). */
export function trustPolicyOf(trustedAccounts: string[] | null): PolicyDocument {
  if (trustedAccounts !== null && trustedAccounts.length === 0) {
    return { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: { AWS: '*' }, Action: 'sts:AssumeRole' }] };
  }
  const principal = trustedAccounts === null ? '*' : trustedAccounts.map((accountId) => `arn:aws:iam::${accountId}:root`);
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: principal }, Action: ['sts:AssumeRole', 'sts:SetSourceIdentity'] }],
  };
}

export class StsBackend {
  readonly #roles = new Map<string, Role>();
  readonly #sessions = new Map<string, Session>();

  /** Creates a role, or replaces who it trusts and what it may do. */
  putRole(input: {
    accountId: string;
    roleName: string;
    trustedAccounts?: string[] | undefined;
    trustPolicy?: PolicyDocument | undefined;
    policies?: PolicyDocument[] | undefined;
  }): Role {
    const arn = roleArn(input);
    const trustedAccounts = input.trustedAccounts ?? null;
    const role: Role = {
      accountId: input.accountId,
      roleName: input.roleName,
      trustedAccounts,
      trustPolicy: input.trustPolicy ?? trustPolicyOf(trustedAccounts),
      policies: input.policies ?? null,
      roleId: this.#roles.get(arn)?.roleId ?? uniqueId('AROA', 17),
    };
    this.#roles.set(arn, role);
    return role;
  }

  role(arn: string): Role | undefined {
    return this.#roles.get(arn);
  }

  roles(): Role[] {
    return [...this.#roles.values()];
  }

  /** New temporary credentials for the role, valid for `durationSeconds` of fake time from `now`. */
  startSession(role: Role, sessionName: string, sourceIdentity: string | null, durationSeconds: number, now: number): Session {
    const session: Session = {
      accessKeyId: uniqueId('ASIA', 16),
      secretAccessKey: randomBytes(30).toString('base64'),
      // Longer than a role name and with `/`, so it is never read as one (see `server.ts`).
      sessionToken: `FQoGZXIvYXdzE/${randomBytes(96).toString('base64')}`,
      accountId: role.accountId,
      roleName: role.roleName,
      roleId: role.roleId,
      sessionName,
      sourceIdentity,
      expiresAt: now + durationSeconds * 1000,
    };
    this.#sessions.set(session.accessKeyId, session);
    return session;
  }

  /**
   * Who signs with this access key id: the session's role in its account when the key came from
   * AssumeRole (expired or not: {@link checkCredentials} refuses expired ones), the user's when the
   * admin API made the key, else the account is the key id when that is 12 digits, or `defaultAccountId`.
   */
  principal(accessKeyId: string, roleName: string | null, defaultAccountId: string, user: User | undefined): Principal {
    const session = this.#sessions.get(accessKeyId) ?? null;
    if (session) return { accountId: session.accountId, accessKeyId, roleName: session.roleName, session, user: null };
    if (user) return { accountId: user.accountId, accessKeyId, roleName: null, session: null, user };
    const accountId = ACCOUNT_PATTERN.test(accessKeyId) ? accessKeyId : defaultAccountId;
    return { accountId, accessKeyId, roleName, session: null, user: null };
  }

  reset(): void {
    this.#roles.clear();
    this.#sessions.clear();
  }
}
