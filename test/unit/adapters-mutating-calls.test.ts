import { describe, expect, it } from 'vitest';
import { callWindow } from '../../shared/adapters/clients.js';
import { MutatingCalls } from '../../shared/adapters/mutating-calls.js';
import { TokenBucket } from '../../shared/adapters/token-bucket.js';
import { NOT_SENT } from '../../shared/domain/plan.js';
import { AwsCallError } from '../../shared/errors.js';
import { ManualClock } from '../helpers/in-memory.js';

/** An SDK-shaped error. */
function sdkError(name: string, status: number, message = `${name} happened`): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

/** A send that throws `errors` in turn, then answers; counts its calls. */
function scripted(errors: Error[]): { send: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    send: async () => {
      const error = errors[calls++];
      if (error) throw error;
      return 'answered';
    },
  };
}

/**
 * Mutating calls on a hand-moved clock, spaced at `ratePerSecond` (by default so fast that only backoff waits),
 * in the window of the default 60 s lease (30 s for the whole call; an attempt takes at most 5.75 s).
 */
function mutatingCalls(ratePerSecond = 1000): { clock: ManualClock; calls: MutatingCalls } {
  const clock = new ManualClock();
  return { clock, calls: new MutatingCalls(new TokenBucket({ ratePerSecond, burst: 1, clock }), clock, callWindow(60_000)) };
}

describe('MutatingCalls', () => {
  it.each([
    ['ThrottlingException', 400],
    ['TooManyRequestsException', 429],
    ['Anything', 429],
  ])('sends a call throttled with %s (HTTP %i) again after 1 s, 2 s, 4 s: throttled, it did nothing', async (name, status) => {
    // Prepare
    const { clock, calls } = mutatingCalls();
    const send = scripted([sdkError(name, status), sdkError(name, status), sdkError(name, status)]);

    // Act
    const answer = await calls.send('KMS.ConnectCustomKeyStore', send.send);

    // Assess
    expect(answer).toBe('answered');
    expect(send.calls()).toBe(4);
    expect(clock.slept.filter((ms) => ms >= 1000)).toEqual([1000, 2000, 4000]);
  });

  it('gives up after four throttled attempts, with the last error as an AwsCallError', async () => {
    // Prepare
    const { calls } = mutatingCalls();
    const send = scripted(Array.from({ length: 5 }, () => sdkError('ThrottlingException', 400)));

    // Act
    const error = await calls.send('KMS.ConnectCustomKeyStore', send.send).catch((failure: unknown) => failure);

    // Assess
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ operation: 'KMS.ConnectCustomKeyStore', code: 'ThrottlingException', retryable: true });
    expect(send.calls()).toBe(4);
  });

  it.each([
    ['TimeoutError', 0],
    ['KMSInternalException', 500],
    ['CloudHsmInternalFailureException', 500],
    ['LimitExceededException', 400],
    ['CustomKeyStoreInvalidStateException', 400],
  ])('sends a call that failed with %s once: it may have taken effect, or trying again cannot help', async (name, status) => {
    // Prepare
    const { calls } = mutatingCalls();
    const send = scripted([sdkError(name, status)]);

    // Act
    const error = await calls.send('CloudHSMV2.CreateHsm', send.send).catch((failure: unknown) => failure);

    // Assess
    expect(error).toMatchObject({ operation: 'CloudHSMV2.CreateHsm', code: name });
    expect(send.calls()).toBe(1);
  });

  it('takes a turn of the token bucket for every attempt, so a retry is spaced like any other mutating call', async () => {
    // Prepare: two calls a second.
    const { clock, calls } = mutatingCalls(2);
    const send = scripted([sdkError('ThrottlingException', 400)]);

    // Act
    await calls.send('KMS.DisconnectCustomKeyStore', send.send);
    await calls.send('KMS.DisconnectCustomKeyStore', scripted([]).send);

    // Assess: the first attempt's token is free; the retry waits out its backoff; the next call waits its 500 ms turn.
    expect(clock.slept).toEqual([1000, 500]);
  });

  it('scrubs the secrets it is given from the error it throws', async () => {
    // Prepare
    const { calls } = mutatingCalls();
    const send = scripted([sdkError('ValidationException', 400, 'password kmsuser-Passw0rd is not valid')]);

    // Act
    const error = await calls.send('KMS.UpdateCustomKeyStore', send.send, ['kmsuser-Passw0rd']).catch((failure: unknown) => failure);

    // Assess
    expect(String((error as Error).message)).toContain('password *** is not valid');
    expect(JSON.stringify(error)).not.toContain('kmsuser-Passw0rd');
  });

  it('does not send a call whose turn of the bucket comes too late to end within the lease (it used to wait for its turn past the lease)', async () => {
    // Prepare: one call every 40 s; the first takes the free token.
    const { clock, calls } = mutatingCalls(1 / 40);
    await calls.send('KMS.ConnectCustomKeyStore', scripted([]).send);
    const late = scripted([]);

    // Act: the next call's turn comes 40 s later, past its 30 s window.
    const error = await calls.send('KMS.DisconnectCustomKeyStore', late.send).catch((failure: unknown) => failure);

    // Assess
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ operation: 'KMS.DisconnectCustomKeyStore', code: NOT_SENT, retryable: true });
    expect(late.calls()).toBe(0);
    expect(clock.slept).toEqual([40_000]);
  });

  it('sends a call whose turn comes just in time to end within the lease', async () => {
    // Prepare: the second call's turn comes 24.25 s later: its attempt (at most 5.75 s) ends at 30 s.
    const { calls } = mutatingCalls(1 / 24.25);
    await calls.send('KMS.ConnectCustomKeyStore', scripted([]).send);
    const justInTime = scripted([]);

    // Act
    const answer = await calls.send('KMS.DisconnectCustomKeyStore', justInTime.send);

    // Assess
    expect(answer).toBe('answered');
    expect(justInTime.calls()).toBe(1);
  });

  it('sends no retry of a throttled call that could not end within the lease', async () => {
    // Prepare: one call every 10 s; every attempt is throttled.
    const { calls } = mutatingCalls(1 / 10);
    const send = scripted(Array.from({ length: 4 }, () => sdkError('ThrottlingException', 400)));

    // Act: attempts at 0, 10 and 20 s (each backoff is shorter than the turn); a fourth at 30 s could not end by 30 s.
    const error = await calls.send('KMS.ConnectCustomKeyStore', send.send).catch((failure: unknown) => failure);

    // Assess
    expect(error).toMatchObject({ operation: 'KMS.ConnectCustomKeyStore', code: NOT_SENT });
    expect(send.calls()).toBe(3);
  });
});
