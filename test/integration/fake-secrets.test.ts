import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { fakeForFile } from '../helpers/fake.js';

const fake = await fakeForFile();
const secrets = new SecretsManagerClient({ ...fake.config, maxAttempts: 1 });

const TOKEN_A = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const TOKEN_B = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';

describe('Secrets Manager', () => {
  it('creates a secret with an ARN ending in the name and six random characters', async () => {
    const created = await secrets.send(new CreateSecretCommand({ Name: 'cks/payments-kmsuser', SecretString: 'first-password' }));
    expect(created.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:000000000000:secret:cks\/payments-kmsuser-[A-Za-z0-9]{6}$/);
    expect(created.Name).toBe('cks/payments-kmsuser');
    expect(created.VersionId).toMatch(/^[0-9a-f-]{36}$/);
    const value = await secrets.send(new GetSecretValueCommand({ SecretId: 'cks/payments-kmsuser' }));
    expect(value).toMatchObject({
      ARN: created.ARN,
      SecretString: 'first-password',
      VersionId: created.VersionId,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: expect.any(Date),
    });
  });

  it('moves AWSCURRENT to a new version and AWSPREVIOUS to the one before', async () => {
    const { ARN, VersionId: v1 } = await secrets.send(new CreateSecretCommand({ Name: 's', SecretString: 'one' }));
    const put2 = await secrets.send(new PutSecretValueCommand({ SecretId: ARN, SecretString: 'two' }));
    expect(put2.VersionStages).toEqual(['AWSCURRENT']);
    const put3 = await secrets.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'three' }));
    const { VersionIdsToStages } = await secrets.send(new DescribeSecretCommand({ SecretId: 's' }));
    // The first version lost both labels: it is deprecated and no longer listed.
    expect(VersionIdsToStages).toEqual({ [put2.VersionId!]: ['AWSPREVIOUS'], [put3.VersionId!]: ['AWSCURRENT'] });
    expect((await secrets.send(new GetSecretValueCommand({ SecretId: 's' }))).SecretString).toBe('three');
    expect((await secrets.send(new GetSecretValueCommand({ SecretId: 's', VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('two');
    expect((await secrets.send(new GetSecretValueCommand({ SecretId: 's', VersionId: v1 }))).SecretString).toBe('one');
  });

  it('lists the staged versions of a secret, by name or ARN, without their values', async () => {
    const { ARN, VersionId: v1 } = await secrets.send(new CreateSecretCommand({ Name: 'listed', SecretString: 'one' }));
    const { VersionId: v2 } = await secrets.send(new PutSecretValueCommand({ SecretId: ARN, SecretString: 'two' }));
    await secrets.send(new PutSecretValueCommand({ SecretId: ARN, SecretString: 'three' }));

    const listed = await secrets.send(new ListSecretVersionIdsCommand({ SecretId: 'listed' }));

    expect(listed).toMatchObject({ ARN, Name: 'listed' });
    const versions = listed.Versions ?? [];
    // The first version lost both labels: deprecated, not listed.
    expect(versions.map((v) => v.VersionId)).not.toContain(v1);
    expect(versions.find((v) => v.VersionId === v2)).toMatchObject({ VersionStages: ['AWSPREVIOUS'], CreatedDate: expect.any(Date) });
    expect(versions.filter((v) => v.VersionStages?.includes('AWSCURRENT'))).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toMatch(/one|two|three/);
    expect((await secrets.send(new ListSecretVersionIdsCommand({ SecretId: ARN }))).Versions).toEqual(versions);
  });

  it('describes a secret by ARN with its dates and staged versions', async () => {
    const { ARN, VersionId } = await secrets.send(new CreateSecretCommand({ Name: 'd', SecretString: 'x', Description: 'kmsuser' }));
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: ARN }));
    expect(described).toMatchObject({
      ARN,
      Name: 'd',
      Description: 'kmsuser',
      CreatedDate: expect.any(Date),
      LastChangedDate: expect.any(Date),
      VersionIdsToStages: { [VersionId!]: ['AWSCURRENT'] },
    });
  });

  it('stages a version with custom labels without moving AWSCURRENT', async () => {
    await secrets.send(new CreateSecretCommand({ Name: 's', SecretString: 'live' }));
    const pending = await secrets.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'next', VersionStages: ['AWSPENDING'] }));
    expect(pending.VersionStages).toEqual(['AWSPENDING']);
    expect((await secrets.send(new GetSecretValueCommand({ SecretId: 's' }))).SecretString).toBe('live');
    expect((await secrets.send(new GetSecretValueCommand({ SecretId: 's', VersionStage: 'AWSPENDING' }))).SecretString).toBe('next');
  });

  it('treats a repeated ClientRequestToken with the same value as the same version, and a different value as ResourceExistsException', async () => {
    await secrets.send(new CreateSecretCommand({ Name: 's', SecretString: 'a', ClientRequestToken: TOKEN_A }));
    const again = await secrets.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'b', ClientRequestToken: TOKEN_B }));
    const retry = await secrets.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'b', ClientRequestToken: TOKEN_B }));
    expect(retry.VersionId).toBe(again.VersionId);
    await expect(secrets.send(new PutSecretValueCommand({ SecretId: 's', SecretString: 'c', ClientRequestToken: TOKEN_B }))).rejects.toMatchObject({
      name: 'ResourceExistsException',
      message: expect.stringContaining(TOKEN_B),
    });
  });

  it('round-trips a binary secret', async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    await secrets.send(new CreateSecretCommand({ Name: 'bin', SecretBinary: bytes }));
    const { SecretBinary, SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: 'bin' }));
    expect(Array.from(SecretBinary!)).toEqual(Array.from(bytes));
    expect(SecretString).toBeUndefined();
  });

  it('rejects a name already in use with ResourceExistsException', async () => {
    await secrets.send(new CreateSecretCommand({ Name: 's', SecretString: 'x' }));
    await expect(secrets.send(new CreateSecretCommand({ Name: 's', SecretString: 'y' }))).rejects.toMatchObject({
      name: 'ResourceExistsException',
    });
  });

  it('rejects an unknown secret, version or label with ResourceNotFoundException', async () => {
    await expect(secrets.send(new GetSecretValueCommand({ SecretId: 'missing' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    await secrets.send(new CreateSecretCommand({ Name: 'empty' }));
    await expect(secrets.send(new GetSecretValueCommand({ SecretId: 'empty' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: expect.stringContaining('staging label: AWSCURRENT'),
    });
    await expect(secrets.send(new GetSecretValueCommand({ SecretId: 'empty', VersionId: TOKEN_A }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: expect.stringContaining(TOKEN_A),
    });
  });

  it.each([
    ['a name longer than 512', { Name: 'n'.repeat(513), SecretString: 'x' }, "at 'name'"],
    [
      'a name with a space',
      { Name: 'my secret', SecretString: 'x' },
      "at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern",
    ],
    ['a short ClientRequestToken', { Name: 's', ClientRequestToken: 'short' }, "at 'clientRequestToken'"],
    ['both SecretString and SecretBinary', { Name: 's', SecretString: 'x', SecretBinary: new Uint8Array([1]) }, 'not both'],
  ])('rejects %s with InvalidParameterException', async (_case, input, message) => {
    await expect(secrets.send(new CreateSecretCommand(input))).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining(message),
    });
  });

  it('rejects PutSecretValue without a value with InvalidRequestException', async () => {
    await secrets.send(new CreateSecretCommand({ Name: 's', SecretString: 'x' }));
    await expect(secrets.send(new PutSecretValueCommand({ SecretId: 's' }))).rejects.toMatchObject({
      name: 'InvalidRequestException',
    });
  });

  it('rejects a missing SecretId with InvalidParameterException naming it', async () => {
    await expect(secrets.send(new DescribeSecretCommand({} as never))).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining("Value null at 'secretId' failed to satisfy constraint: Member must not be null"),
    });
  });
});
