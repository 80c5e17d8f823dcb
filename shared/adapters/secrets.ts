/**
 * Secrets Manager over `@aws-sdk/client-secrets-manager`. Values are read only by `getValue`, just
 * before an UpdateCustomKeyStore; no error or message built here ever carries one.
 */
import { DescribeSecretCommand, GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AwsCallError } from '../errors.js';
import type { SecretsPort } from '../reconcile/ports.js';
import { awsCall } from './aws-errors.js';

/** {@link SecretsPort} over a `SecretsManagerClient`. */
export class SecretsManagerAdapter implements SecretsPort {
  constructor(private readonly client: SecretsManagerClient) {}

  async currentVersion(secretArn: string): Promise<string | null> {
    try {
      // DescribeSecret, not GetSecretValue: knowing which version is current must not read the value.
      const secret = await awsCall('SecretsManager.DescribeSecret', () => this.client.send(new DescribeSecretCommand({ SecretId: secretArn })));
      const current = Object.entries(secret.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'));
      return current?.[0] ?? null;
    } catch (error) {
      if (error instanceof AwsCallError && error.code === 'ResourceNotFoundException') return null;
      throw error;
    }
  }

  async getValue(secretArn: string, versionId: string): Promise<string> {
    const secret = await awsCall('SecretsManager.GetSecretValue', () =>
      this.client.send(new GetSecretValueCommand({ SecretId: secretArn, VersionId: versionId })),
    );
    if (secret.SecretString === undefined) {
      throw new AwsCallError(
        'SecretsManager.GetSecretValue',
        'SecretStringMissing',
        false,
        `secret ${secretArn} version ${versionId} holds no SecretString (a binary secret cannot be used)`,
      );
    }
    return secret.SecretString;
  }
}
