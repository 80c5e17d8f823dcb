/**
 * Secrets Manager model: secrets with versions and staging labels (AWSCURRENT / AWSPREVIOUS).
 * `toJSON` of a secret is its DescribeSecret shape.
 */
import type { Scope, WorldContext } from '../context.js';
import { ResourceExistsException, ResourceNotFoundException } from '../errors.js';
import * as random from '../random.js';
import { epochSeconds } from '../wire.js';
import type { CreateSecretRequest, GetSecretValueRequest, PutSecretValueRequest, SecretValue } from './requests.js';

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';

export class SecretVersion {
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
    return Object.fromEntries([...this.versions.values()].filter((v) => v.stages.size > 0).map((v) => [v.id, [...v.stages]]));
  }

  #holder(stage: string): SecretVersion | undefined {
    for (const version of this.versions.values()) if (version.stages.has(stage)) return version;
    return undefined;
  }

  toJSON(): object {
    return {
      ARN: this.arn,
      Name: this.name,
      Description: this.description,
      KmsKeyId: this.kmsKeyId,
      CreatedDate: epochSeconds(this.createdAt),
      LastChangedDate: epochSeconds(this.lastChangedAt),
      VersionIdsToStages: this.versionIdsToStages(),
    };
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

  /** A new secret, with its first version when the request gives a value. */
  createSecret(request: CreateSecretRequest): { secret: Secret; version?: SecretVersion } {
    if (this.#byName.has(request.name)) {
      throw new ResourceExistsException(`The operation failed because the secret ${request.name} already exists.`);
    }
    const { accountId, region } = this.scope;
    const arn = `arn:aws:secretsmanager:${region}:${accountId}:secret:${request.name}-${random.secretSuffix()}`;
    const now = this.world.now();
    const secret = new Secret(arn, request.name, now, request.description, request.kmsKeyId);
    this.#byName.set(secret.name, secret);
    this.#byArn.set(secret.arn, secret);
    if (request.value === undefined) return { secret };
    const version = secret.addVersion(request.clientRequestToken ?? random.uuid(), request.value, [CURRENT], now);
    return { secret, version };
  }

  putSecretValue(request: PutSecretValueRequest): { secret: Secret; version: SecretVersion } {
    const secret = this.#get(request.secretId);
    const token = request.clientRequestToken ?? random.uuid();
    const existing = secret.versions.get(token);
    // Idempotent retry with the same token and value; a different value under one token is an error.
    const version = existing
      ? sameOrConflict(existing, request.value)
      : secret.addVersion(token, request.value, request.versionStages ?? [CURRENT], this.world.now());
    return { secret, version };
  }

  getSecretValue(request: GetSecretValueRequest): { secret: Secret; version: SecretVersion } {
    const secret = this.#get(request.SecretId);
    return { secret, version: secret.version(request.VersionId, request.VersionStage) };
  }

  describeSecret(secretId: string): Secret {
    return this.#get(secretId);
  }

  /** SecretId is a name or a full ARN (partial ARNs, which AWS also accepts, are not supported). */
  find(secretId: string): Secret | undefined {
    return this.#byArn.get(secretId) ?? this.#byName.get(secretId);
  }

  #get(secretId: string): Secret {
    const secret = this.find(secretId);
    if (!secret) throw new ResourceNotFoundException("Secrets Manager can't find the specified secret.");
    return secret;
  }
}

function sameOrConflict(version: SecretVersion, value: SecretValue): SecretVersion {
  if (!version.sameValue(value)) {
    throw new ResourceExistsException(`A version with VersionId ${version.id} already exists with a different value.`);
  }
  return version;
}
