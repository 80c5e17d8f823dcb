import { CustomKeyStoreInvalidStateException, KMSInternalException } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { awsCall, isRetryable, toAwsCallError } from '../../shared/adapters/aws-errors.js';
import { AwsCallError } from '../../shared/errors.js';

function sdkError(name: string, extra: Record<string, unknown> = {}, message = `${name} happened`): Error {
  return Object.assign(new Error(message), { name, $metadata: {}, ...extra });
}

function networkError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:4566`), { code });
}

describe('isRetryable', () => {
  it.each([
    ['ThrottlingException', sdkError('ThrottlingException')],
    ['TooManyRequestsException', sdkError('TooManyRequestsException')],
    ['RequestLimitExceeded', sdkError('RequestLimitExceeded')],
    ['LimitExceededException about the request rate', sdkError('LimitExceededException', {}, 'Rate exceeded')],
    ['KMSInternalException', new KMSInternalException({ message: 'internal', $metadata: {} })],
    ['CloudHsmInternalFailureException', sdkError('CloudHsmInternalFailureException')],
    ['a server fault', sdkError('SomethingNew', { $fault: 'server' })],
    ['an HTTP 503', sdkError('UnknownError', { $metadata: { httpStatusCode: 503 } })],
    ['an HTTP 429', sdkError('UnknownError', { $metadata: { httpStatusCode: 429 } })],
    ['an error the SDK marks retryable', sdkError('Whatever', { $retryable: { throttling: true } })],
    ['ECONNREFUSED', networkError('ECONNREFUSED')],
    ['ECONNRESET', networkError('ECONNRESET')],
    ['TimeoutError', sdkError('TimeoutError')],
  ])('retries %s', (_label, error) => {
    // Act / Assess
    expect(isRetryable(error)).toBe(true);
  });

  it.each([
    ['ValidationException', sdkError('ValidationException', { $fault: 'client', $metadata: { httpStatusCode: 400 } })],
    ['CustomKeyStoreInvalidStateException', new CustomKeyStoreInvalidStateException({ message: 'state', $metadata: {} })],
    ['CustomKeyStoreNotFoundException', sdkError('CustomKeyStoreNotFoundException')],
    ['a LimitExceededException that is a quota', sdkError('LimitExceededException', {}, 'too many custom key stores')],
    ['AccessDeniedException', sdkError('AccessDeniedException')],
    ['a plain Error', new Error('bug')],
    ['a thrown string', 'oops'],
  ])('does not retry %s', (_label, error) => {
    // Act / Assess
    expect(isRetryable(error)).toBe(false);
  });
});

describe('toAwsCallError', () => {
  it('names the operation and the exception, keeping the original as cause', () => {
    // Prepare
    const original = new KMSInternalException({ message: 'internal', $metadata: {} });

    // Act
    const error = toAwsCallError('KMS.ConnectCustomKeyStore', original);

    // Assess
    expect(error).toMatchObject({ operation: 'KMS.ConnectCustomKeyStore', code: 'KMSInternalException', retryable: true });
    expect(error.message).toBe('KMS.ConnectCustomKeyStore failed: KMSInternalException: internal');
    expect(error.cause).toBe(original);
  });

  it('uses the system error code of a network failure', () => {
    // Act
    const error = toAwsCallError('KMS.DescribeCustomKeyStores', networkError('ECONNREFUSED'));

    // Assess
    expect(error).toMatchObject({ code: 'ECONNREFUSED', retryable: true });
  });

  it('passes an AwsCallError through unchanged', () => {
    // Prepare
    const original = new AwsCallError('KMS.X', 'Y', false, 'z');

    // Act / Assess
    expect(toAwsCallError('KMS.Other', original)).toBe(original);
  });

  it('replaces secrets echoed by the service in the message and in the cause', () => {
    // Prepare
    const original = sdkError('ValidationException', {}, "Value 's3cret-pw' at 'keyStorePassword' failed");

    // Act
    const error = toAwsCallError('KMS.UpdateCustomKeyStore', original, ['s3cret-pw']);

    // Assess
    expect(error.message).toContain("Value '***'");
    expect(error.message).not.toContain('s3cret-pw');
    expect(original.message).not.toContain('s3cret-pw');
    expect(original.stack).not.toContain('s3cret-pw');
  });
});

describe('awsCall', () => {
  it('returns the result of a successful call', async () => {
    // Act / Assess
    await expect(awsCall('KMS.X', async () => 42)).resolves.toBe(42);
  });

  it('translates what the call throws', async () => {
    // Act
    const error: unknown = await awsCall('KMS.X', async () => {
      throw sdkError('ThrottlingException');
    }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ operation: 'KMS.X', code: 'ThrottlingException', retryable: true });
  });
});
