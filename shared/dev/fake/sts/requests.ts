/**
 * STS requests, in the query protocol the SDK and the AWS CLI use for STS: a form-encoded POST
 * (`Action=AssumeRole&Version=2011-06-15&RoleArn=...`). Members arrive as strings; numbers are read
 * here, then the AWS constraints are checked and reported as `ValidationError`s in the AWS wording.
 */
import { z } from 'zod';
import { AwsError } from '../errors.js';
import { parseInput } from '../wire.js';

/** STS's validation exception (query protocol error code). */
export class ValidationError extends AwsError {
  constructor(message: string) {
    super('ValidationError', message, 400);
  }
}

/** The only API version STS has. */
export const STS_VERSION = '2011-06-15';

const AssumeRoleInput = z.object({
  RoleArn: z.string().min(20).max(2048),
  RoleSessionName: z
    .string()
    .min(2)
    .max(64)
    .regex(/^[\w+=,.@-]*$/),
  DurationSeconds: z.number().int().min(900).max(43200).default(3600),
  SourceIdentity: z
    .string()
    .min(2)
    .max(64)
    .regex(/^[\w+=,.@-]*$/)
    .optional(),
});
export type AssumeRoleInput = z.output<typeof AssumeRoleInput>;

/** A form-encoded body: the action and its members. */
export interface QueryRequest {
  action: string;
  params: URLSearchParams;
}

/** Reads the action; a request without one, or for another API version, is refused. */
export function parseQuery(body: Buffer): QueryRequest {
  const params = new URLSearchParams(body.toString('utf8'));
  const action = params.get('Action');
  if (action === null || action === '') throw new AwsError('MissingAction', 'Missing Action', 400);
  const version = params.get('Version');
  if (version !== STS_VERSION) {
    throw new AwsError('InvalidAction', `Could not find operation ${action} for version ${version ?? 'NO_VERSION_SPECIFIED'}`, 400);
  }
  return { action, params };
}

export function parseAssumeRole(params: URLSearchParams): AssumeRoleInput {
  const duration = params.get('DurationSeconds');
  return parseInput(
    AssumeRoleInput,
    {
      RoleArn: params.get('RoleArn') ?? undefined,
      RoleSessionName: params.get('RoleSessionName') ?? undefined,
      DurationSeconds: duration === null ? undefined : Number(duration),
      SourceIdentity: params.get('SourceIdentity') ?? undefined,
    },
    ValidationError,
  );
}

/** `arn:aws:iam::<account>:role/<path/><name>` → its account and name; anything else is not a role ARN. */
export function parseRoleArn(arn: string): { accountId: string; roleName: string } {
  const [, accountId, roleName] = /^arn:aws:iam::(\d{12}):role\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]{1,64})$/.exec(arn) ?? [];
  if (accountId === undefined || roleName === undefined) throw new ValidationError(`${arn} is invalid`);
  return { accountId, roleName };
}
