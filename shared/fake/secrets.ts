/** Secrets Manager: secrets with versions and staging labels (AWSCURRENT / AWSPREVIOUS). */
import { z } from 'zod';
import {
  InvalidParameterException,
  InvalidRequestException,
  ResourceExistsException,
  ResourceNotFoundException,
} from './errors.js';
import * as random from './random.js';
import { epochSeconds, parseInput, type Reply } from './wire.js';
import type { CallContext, Scope, WorldContext } from './world.js';

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';

interface SecretValue {
  SecretString?: string;
  /** Base64, as it travels in JSON. */
  SecretBinary?: string;
}

class SecretVersion {
  readonly stages = new Set<string>();

  constructor(
    readonly id: string,
    readonly value: SecretValue,
    readonly createdAt: number,
  ) {}

  sameValue(value: SecretValue): boolean {
    return value.SecretString === this.value.SecretString && value.SecretBinary === this.value.SecretBinary;
  }
}

export class Secret {
  readonly versions = new Map<string, SecretVersion>();
  lastChangedAt: number;

  constructor(
    readonly arn: string,
    readonly name: string,
    readonly createdAt: number,
    readonly description?: string,
    readonly kmsKeyId?: string,
  ) {
    this.lastChangedAt = createdAt;
  }

  /**
   * Adds a version and moves the given staging labels onto it. When AWSCURRENT moves, the version
   * that had it becomes AWSPREVIOUS.
   */
  addVersion(id: string, value: SecretValue, stages: readonly string[], now: number): SecretVersion {
    const version = new SecretVersion(id, value, now);
    this.versions.set(id, version);
    for (const stage of stages) {
      const holder = this.#holder(stage);
      holder?.stages.delete(stage);
      if (stage === CURRENT && holder) {
        this.#holder(PREVIOUS)?.stages.delete(PREVIOUS);
        holder.stages.add(PREVIOUS);
      }
      version.stages.add(stage);
    }
    this.lastChangedAt = now;
    return version;
  }

  /** The version with this id, or else the one with this staging label (default AWSCURRENT). */
  version(versionId: string | undefined, stage: string | undefined): SecretVersion {
    const version = versionId !== undefined ? this.versions.get(versionId) : this.#holder(stage ?? CURRENT);
    if (!version || (versionId !== undefined && stage !== undefined && !version.stages.has(stage))) {
      throw new ResourceNotFoundException(
        `Secrets Manager can't find the specified secret value for ${
          versionId !== undefined ? `VersionId: ${versionId}` : `staging label: ${stage ?? CURRENT}`
        }`,
      );
    }
    return version;
  }

  /** Only versions with a staging label are listed; the others are deprecated (as in AWS). */
  versionIdsToStages(): Record<string, string[]> {
    return Object.fromEntries(
      [...this.versions.values()].filter((v) => v.stages.size > 0).map((v) => [v.id, [...v.stages]]),
    );
  }

  #holder(stage: string): SecretVersion | undefined {
    for (const version of this.versions.values()) if (version.stages.has(stage)) return version;
    return undefined;
  }

  /** The admin view: values are shown as fingerprints only. */
  toState(): object {
    return {
      ARN: this.arn,
      Name: this.name,
      VersionIdsToStages: this.versionIdsToStages(),
      versions: [...this.versions.values()].map((v) => ({
        VersionId: v.id,
        VersionStages: [...v.stages],
        value: random.fingerprint(v.value.SecretString ?? v.value.SecretBinary ?? ''),
      })),
    };
  }
}

/** The secrets of one account and Region. */
export class SecretsBackend {
  readonly #byName = new Map<string, Secret>();
  readonly #byArn = new Map<string, Secret>();

  constructor(
    private readonly world: WorldContext,
    private readonly scope: Scope,
  ) {}

  all(): Secret[] {
    return [...this.#byName.values()];
  }

  createSecret(input: CreateSecretInput): Reply {
    const value = secretValue(input);
    if (this.#byName.has(input.Name)) {
      throw new ResourceExistsException(`The operation failed because the secret ${input.Name} already exists.`);
    }
    const { accountId, region } = this.scope;
    const arn = `arn:aws:secretsmanager:${region}:${accountId}:secret:${input.Name}-${random.secretSuffix()}`;
    const now = this.world.now();
    const secret = new Secret(arn, input.Name, now, input.Description, input.KmsKeyId);
    this.#byName.set(secret.name, secret);
    this.#byArn.set(secret.arn, secret);
    if (value === undefined) return { ARN: arn, Name: secret.name };
    const version = secret.addVersion(input.ClientRequestToken ?? random.uuid(), value, [CURRENT], now);
    return { ARN: arn, Name: secret.name, VersionId: version.id };
  }

  putSecretValue(input: PutSecretValueInput): Reply {
    const value = secretValue(input);
    if (value === undefined) {
      throw new InvalidRequestException('You must provide either SecretString or SecretBinary.');
    }
    const secret = this.#get(input.SecretId);
    const token = input.ClientRequestToken ?? random.uuid();
    const existing = secret.versions.get(token);
    // Idempotent retry with the same token and value; a different value under one token is an error.
    const version = existing
      ? sameOrConflict(existing, value)
      : secret.addVersion(token, value, input.VersionStages ?? [CURRENT], this.world.now());
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  getSecretValue(input: GetSecretValueInput): Reply {
    const secret = this.#get(input.SecretId);
    const version = secret.version(input.VersionId, input.VersionStage);
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      ...version.value,
      VersionStages: [...version.stages],
      CreatedDate: epochSeconds(version.createdAt),
    };
  }

  describeSecret(input: SecretIdInput): Reply {
    const secret = this.#get(input.SecretId);
    return {
      ARN: secret.arn,
      Name: secret.name,
      Description: secret.description,
      KmsKeyId: secret.kmsKeyId,
      CreatedDate: epochSeconds(secret.createdAt),
      LastChangedDate: epochSeconds(secret.lastChangedAt),
      VersionIdsToStages: secret.versionIdsToStages(),
    };
  }

  /** SecretId is a name or a full ARN (partial ARNs, which AWS also accepts, are not supported). */
  #get(secretId: string): Secret {
    const secret = this.#byArn.get(secretId) ?? this.#byName.get(secretId);
    if (!secret) throw new ResourceNotFoundException("Secrets Manager can't find the specified secret.");
    return secret;
  }
}

function sameOrConflict(version: SecretVersion, value: SecretValue): SecretVersion {
  if (!version.sameValue(value)) {
    throw new ResourceExistsException(
      `A version with VersionId ${version.id} already exists with a different value.`,
    );
  }
  return version;
}

function secretValue(input: SecretValue): SecretValue | undefined {
  if (input.SecretString !== undefined && input.SecretBinary !== undefined) {
    throw new InvalidParameterException('You can specify either SecretString or SecretBinary, not both.');
  }
  if (input.SecretString !== undefined) return { SecretString: input.SecretString };
  if (input.SecretBinary !== undefined) return { SecretBinary: input.SecretBinary };
  return undefined;
}

// ---- Requests (Secrets Manager API model constraints) ----

const SecretId = z.string().min(1).max(2048);
const Token = z.string().min(32).max(64);
const Value = {
  SecretString: z.string().max(65536).optional(),
  SecretBinary: z.string().max(87384).optional(),
};

const CreateSecretInput = z.object({
  Name: z.string().min(1).max(512).regex(/^[a-zA-Z0-9/_+=.@-]+$/),
  ClientRequestToken: Token.optional(),
  Description: z.string().max(2048).optional(),
  KmsKeyId: z.string().max(2048).optional(),
  ...Value,
});
type CreateSecretInput = z.output<typeof CreateSecretInput>;

const PutSecretValueInput = z.object({
  SecretId,
  ClientRequestToken: Token.optional(),
  VersionStages: z.array(z.string().min(1).max(256)).min(1).max(20).optional(),
  ...Value,
});
type PutSecretValueInput = z.output<typeof PutSecretValueInput>;

const GetSecretValueInput = z.object({
  SecretId,
  VersionId: Token.optional(),
  VersionStage: z.string().min(1).max(256).optional(),
});
type GetSecretValueInput = z.output<typeof GetSecretValueInput>;

const SecretIdInput = z.object({ SecretId });
type SecretIdInput = z.output<typeof SecretIdInput>;

/** `secretsmanager.<Operation>` handlers: parse, call the model, return its reply. */
export const secretsOperations: Record<string, (call: CallContext, input: unknown) => Reply> = {
  CreateSecret: ({ partition }, input) =>
    partition.secrets.createSecret(parseInput(CreateSecretInput, input, InvalidParameterException)),
  PutSecretValue: ({ partition }, input) =>
    partition.secrets.putSecretValue(parseInput(PutSecretValueInput, input, InvalidParameterException)),
  GetSecretValue: ({ partition }, input) =>
    partition.secrets.getSecretValue(parseInput(GetSecretValueInput, input, InvalidParameterException)),
  DescribeSecret: ({ partition }, input) =>
    partition.secrets.describeSecret(parseInput(SecretIdInput, input, InvalidParameterException)),
};
