import { DescribeSecretCommand, GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SecretsManagerAdapter } from '../../shared/adapters/secrets.js';
import { AwsCallError } from '../../shared/errors.js';

const secretsMock = mockClient(SecretsManagerClient);
const ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser-AbCdEf';

describe('SecretsManagerAdapter', () => {
  let adapter: SecretsManagerAdapter;

  beforeEach(() => {
    secretsMock.reset();
    adapter = new SecretsManagerAdapter(new SecretsManagerClient({ region: 'us-east-1' }));
  });

  describe('currentVersion', () => {
    it('returns the version staged AWSCURRENT, from DescribeSecret only', async () => {
      // Prepare
      secretsMock.on(DescribeSecretCommand).resolves({
        ARN,
        VersionIdsToStages: { 'v-old': ['AWSPREVIOUS'], 'v-new': ['AWSPENDING', 'AWSCURRENT'], 'v-x': [] },
      });

      // Act
      const version = await adapter.currentVersion(ARN);

      // Assess
      expect(version).toBe('v-new');
      expect(secretsMock).toHaveReceivedCommandExactlyOnceWith(DescribeSecretCommand, { SecretId: ARN });
      expect(secretsMock).not.toHaveReceivedCommand(GetSecretValueCommand);
    });

    it('returns null when the secret does not exist', async () => {
      // Prepare
      secretsMock.on(DescribeSecretCommand).rejects(new ResourceNotFoundException({ message: 'not found', $metadata: {} }));

      // Act
      const version = await adapter.currentVersion(ARN);

      // Assess
      expect(version).toBeNull();
    });

    it('returns null when no version is current', async () => {
      // Prepare
      secretsMock.on(DescribeSecretCommand).resolves({ ARN, VersionIdsToStages: { 'v-1': ['AWSPENDING'] } });

      // Act / Assess
      expect(await adapter.currentVersion(ARN)).toBeNull();
    });
  });

  describe('getValue', () => {
    it('reads the SecretString of the given version', async () => {
      // Prepare
      secretsMock.on(GetSecretValueCommand).resolves({ ARN, VersionId: 'v-new', SecretString: 'kmsuser-pass' });

      // Act
      const value = await adapter.getValue(ARN, 'v-new');

      // Assess
      expect(value).toBe('kmsuser-pass');
      expect(secretsMock).toHaveReceivedCommandExactlyOnceWith(GetSecretValueCommand, { SecretId: ARN, VersionId: 'v-new' });
    });

    it('refuses a secret with no SecretString, naming the secret and not the value', async () => {
      // Prepare
      secretsMock.on(GetSecretValueCommand).resolves({ ARN, VersionId: 'v-new', SecretBinary: new Uint8Array([1, 2, 3]) });

      // Act
      const error: unknown = await adapter.getValue(ARN, 'v-new').catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(AwsCallError);
      expect(error).toMatchObject({ code: 'SecretStringMissing', retryable: false });
      expect((error as Error).message).toContain(ARN);
    });
  });
});
