/** Secrets Manager requests: validation against the API model's constraints, with its exceptions. */
import { z } from 'zod';
import { InvalidParameterException, InvalidRequestException } from '../errors.js';
import { parseInput } from '../wire.js';

/** A secret's value: a string or binary (base64, as it travels in JSON), never both. */
export interface SecretValue {
  SecretString?: string;
  SecretBinary?: string;
}

const SecretId = z.string().min(1).max(2048);
const Token = z.string().min(32).max(64);
const Value = {
  SecretString: z.string().max(65536).optional(),
  SecretBinary: z.string().max(87384).optional(),
};

const CreateSecretInput = z.object({
  Name: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[a-zA-Z0-9/_+=.@-]+$/),
  ClientRequestToken: Token.optional(),
  Description: z.string().max(2048).optional(),
  KmsKeyId: z.string().max(2048).optional(),
  ...Value,
});

const PutSecretValueInput = z.object({
  SecretId,
  ClientRequestToken: Token.optional(),
  VersionStages: z.array(z.string().min(1).max(256)).min(1).max(20).optional(),
  ...Value,
});

const GetSecretValueInput = z.object({
  SecretId,
  VersionId: Token.optional(),
  VersionStage: z.string().min(1).max(256).optional(),
});
export type GetSecretValueRequest = z.output<typeof GetSecretValueInput>;

const SecretIdInput = z.object({ SecretId });

/** A valid CreateSecret request; `value` is absent for a secret created without a version. */
export interface CreateSecretRequest {
  name: string;
  value?: SecretValue;
  clientRequestToken?: string;
  description?: string;
  kmsKeyId?: string;
}

/** A valid PutSecretValue request. */
export interface PutSecretValueRequest {
  secretId: string;
  value: SecretValue;
  clientRequestToken?: string;
  versionStages?: string[];
}

export function parseCreateSecret(input: unknown): CreateSecretRequest {
  const request = parseInput(CreateSecretInput, input, InvalidParameterException);
  return {
    name: request.Name,
    value: secretValue(request),
    clientRequestToken: request.ClientRequestToken,
    description: request.Description,
    kmsKeyId: request.KmsKeyId,
  };
}

export function parsePutSecretValue(input: unknown): PutSecretValueRequest {
  const request = parseInput(PutSecretValueInput, input, InvalidParameterException);
  const value = secretValue(request);
  if (value === undefined) throw new InvalidRequestException('You must provide either SecretString or SecretBinary.');
  return {
    secretId: request.SecretId,
    value,
    clientRequestToken: request.ClientRequestToken,
    versionStages: request.VersionStages,
  };
}

export function parseGetSecretValue(input: unknown): GetSecretValueRequest {
  return parseInput(GetSecretValueInput, input, InvalidParameterException);
}

/** The `SecretId` of DescribeSecret and ListSecretVersionIds. */
export function parseSecretId(input: unknown): string {
  return parseInput(SecretIdInput, input, InvalidParameterException).SecretId;
}

function secretValue(input: SecretValue): SecretValue | undefined {
  if (input.SecretString !== undefined && input.SecretBinary !== undefined) {
    throw new InvalidParameterException('You can specify either SecretString or SecretBinary, not both.');
  }
  if (input.SecretString !== undefined) return { SecretString: input.SecretString };
  if (input.SecretBinary !== undefined) return { SecretBinary: input.SecretBinary };
  return undefined;
}
