/**
 * STS model: the roles callers may assume (created through the admin API) and the sessions
 * `AssumeRole` handed out. A session's access key id is how the fake knows, on every later call, that
 * the caller acts in the role's account as that role; it stops working when the session expires.
 *
 * Simplifications: a role's trust policy is a list of account ids (absent: any account); no
 * permission policies are evaluated; role chaining is allowed and not limited to one hour.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { ACCOUNT_PATTERN } from '../context.js';

/** A role that `AssumeRole` may return credentials for. */
export interface Role {
  accountId: string;
  roleName: string;
  /** Accounts whose principals may assume it; null: every account. An empty list denies everyone. */
  trustedAccounts: string[] | null;
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
}

const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function upper(length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += UPPER_ALNUM[randomInt(UPPER_ALNUM.length)];
  return text;
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
  if (principal.roleName !== null) return `arn:aws:sts::${accountId}:assumed-role/${principal.roleName}/${principal.accessKeyId}`;
  return `arn:aws:iam::${accountId}:user/${principal.accessKeyId}`;
}

/** The principal's unique id, as `GetCallerIdentity` returns it in `UserId`. */
export function principalUserId(principal: Principal): string {
  return principal.session ? `${principal.session.roleId}:${principal.session.sessionName}` : principal.accessKeyId;
}

export class StsBackend {
  readonly #roles = new Map<string, Role>();
  readonly #sessions = new Map<string, Session>();

  /** Creates a role, or replaces who it trusts. */
  putRole(input: { accountId: string; roleName: string; trustedAccounts?: string[] | undefined }): Role {
    const arn = roleArn(input);
    const role: Role = {
      accountId: input.accountId,
      roleName: input.roleName,
      trustedAccounts: input.trustedAccounts ?? null,
      roleId: this.#roles.get(arn)?.roleId ?? `AROA${upper(17)}`,
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

  /** Whether a caller of `accountId` may assume the role. */
  trusts(role: Role, accountId: string): boolean {
    return role.trustedAccounts === null || role.trustedAccounts.includes(accountId);
  }

  /** New temporary credentials for the role, valid for `durationSeconds` of fake time from `now`. */
  startSession(role: Role, sessionName: string, durationSeconds: number, now: number): Session {
    const session: Session = {
      accessKeyId: `ASIA${upper(16)}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      // Longer than a role name and with `/`, so it is never read as one (see `server.ts`).
      sessionToken: `FQoGZXIvYXdzE/${randomBytes(96).toString('base64')}`,
      accountId: role.accountId,
      roleName: role.roleName,
      roleId: role.roleId,
      sessionName,
      expiresAt: now + durationSeconds * 1000,
    };
    this.#sessions.set(session.accessKeyId, session);
    return session;
  }

  /**
   * Who signs with this access key id: the session's role in its account when the key came from
   * AssumeRole (expired or not: {@link checkCredentials} refuses expired ones), else the account is
   * the key id when that is 12 digits, or `defaultAccountId`.
   */
  principal(accessKeyId: string, roleName: string | null, defaultAccountId: string): Principal {
    const session = this.#sessions.get(accessKeyId) ?? null;
    if (session) return { accountId: session.accountId, accessKeyId, roleName: session.roleName, session };
    return { accountId: ACCOUNT_PATTERN.test(accessKeyId) ? accessKeyId : defaultAccountId, accessKeyId, roleName, session: null };
  }

  reset(): void {
    this.#roles.clear();
    this.#sessions.clear();
  }
}
