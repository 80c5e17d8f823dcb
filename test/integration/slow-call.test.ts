/**
 * A call slower than the lease it is made under: the SDK clients' timeouts end it, all attempts
 * included, inside the lease (half of it at the default 60 s), so it is never still in flight when another run may take the store.
 * A mutating call is sent again only when AWS throttled it: a timed-out or failed one may have taken effect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTimeouts, makeAdapters, makeAwsClients } from '../../shared/adapters/clients.js';
import { NOT_SENT } from '../../shared/domain/plan.js';
import { AwsCallError } from '../../shared/errors.js';
import { systemClock } from '../../shared/runtime/deps.js';
import { startTestFake, type TestFake } from '../helpers/fake.js';
import { cloudHsmStore } from '../helpers/world.js';

/** A short lease, so that the test waits seconds, not minutes. */
const LEASE_MS = 2_000;

describe('a call slower than the lease', () => {
  let fake: TestFake;
  beforeAll(async () => {
    fake = await startTestFake();
  });
  afterAll(() => fake.close());

  /** The adapters over real SDK clients to the fake, with a clock whose backoff does not really wait. */
  function adapters() {
    const clients = makeAwsClients({ region: 'us-east-1', endpoint: fake.url, leaseTtlMs: LEASE_MS }, fake.config.credentials);
    return makeAdapters({ eventBusName: 'default', mutationRatePerSecond: 100 }, clients, { now: () => Date.now(), sleep: async () => undefined });
  }

  it('is abandoned, every attempt included, before the lease runs out (it used to be waited for past the lease)', async () => {
    // Prepare: every DisconnectCustomKeyStore answers after three leases.
    const store = await cloudHsmStore(fake, { name: 'payments', connected: true });
    const armed = await fake.admin('POST', '/_fake/faults', { operation: 'DisconnectCustomKeyStore', latencyMs: 3 * LEASE_MS, count: 10 });
    expect(armed.status).toBe(200);
    const clients = makeAwsClients({ region: 'us-east-1', endpoint: fake.url, leaseTtlMs: LEASE_MS }, fake.config.credentials);
    const { kms } = makeAdapters({ eventBusName: 'default', mutationRatePerSecond: 100 }, clients, systemClock);

    // Act
    const started = Date.now();
    const error = await kms.disconnect(store.storeId).then(
      () => null,
      (failure: unknown) => failure,
    );
    const elapsed = Date.now() - started;

    // Assess
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ operation: 'KMS.DisconnectCustomKeyStore', code: 'TimeoutError', retryable: true });
    expect(elapsed).toBeLessThan(LEASE_MS);
    // Sent once (the fake took one of its ten slow answers; it logs a call when it answers): the SDK's retries
    // of a timed-out attempt used to send it four times.
    expect((await fake.admin('GET', '/_fake/state')).body.faults).toEqual([
      expect.objectContaining({ operation: 'DisconnectCustomKeyStore', count: 9 }),
    ]);
  });

  it.each([
    ['KMS.ConnectCustomKeyStore', 'ConnectCustomKeyStore', 'KMSInternalException'],
    ['CloudHSMV2.CreateHsm', 'CreateHsm', 'CloudHsmInternalFailureException'],
  ])(
    'sends %s once when it fails with a 5xx, which may have taken effect (a second CreateHsm would be a second HSM)',
    async (logged, operation, exception) => {
      // Prepare
      await fake.admin('POST', '/_fake/reset', {});
      const store = await cloudHsmStore(fake, { name: 'payments' });
      await fake.admin('POST', '/_fake/faults', { operation, error: exception, count: 10 });
      const { kms, cloudHsm } = adapters();

      // Act
      const call = operation === 'CreateHsm' ? cloudHsm.createHsm(store.clusterId, 'us-east-1a') : kms.connect(store.storeId);
      const error = await call.then(
        () => null,
        (failure: unknown) => failure,
      );

      // Assess
      expect(error).toMatchObject({ operation: logged, code: exception, retryable: true });
      expect((await fake.admin('GET', '/_fake/calls')).body.counts[logged]).toBe(1);
    },
  );

  it('sends a throttled mutating call again, after a backoff, until AWS takes it (throttled, it did nothing)', async () => {
    // Prepare
    await fake.admin('POST', '/_fake/reset', {});
    const store = await cloudHsmStore(fake, { name: 'payments' });
    await fake.admin('POST', '/_fake/faults', { operation: 'ConnectCustomKeyStore', error: 'ThrottlingException', count: 2 });
    const { kms } = adapters();

    // Act
    await kms.connect(store.storeId);

    // Assess
    expect((await fake.admin('GET', '/_fake/calls')).body.counts['KMS.ConnectCustomKeyStore']).toBe(3);
    expect(await kms.describeStore({ id: store.storeId })).toMatchObject({ connectionState: 'CONNECTING' });
  });

  it('fits the default lease: each attempt a few seconds, all attempts and backoffs in half of it', () => {
    // Act
    const timeouts = callTimeouts(60_000);

    // Assess
    expect(timeouts).toEqual({ connectionTimeout: 1_437, requestTimeout: 4_313, budgetMs: 30_000 });
  });

  it('does not send a mutating call whose turn comes too late to end within the lease', async () => {
    // Prepare: one mutating call every 10 s, on a clock whose waits pass at once; half of the 2 s lease is the call's window.
    await fake.admin('POST', '/_fake/reset', {});
    const first = await cloudHsmStore(fake, { name: 'payments' });
    const second = await cloudHsmStore(fake, { name: 'ledger' });
    let skipped = 0;
    const clock = {
      now: () => Date.now() + skipped,
      sleep: async (ms: number) => {
        skipped += ms;
      },
    };
    const clients = makeAwsClients({ region: 'us-east-1', endpoint: fake.url, leaseTtlMs: LEASE_MS }, fake.config.credentials);
    const { kms } = makeAdapters({ eventBusName: 'default', mutationRatePerSecond: 0.1, leaseTtlMs: LEASE_MS }, clients, clock);

    // Act
    await kms.connect(first.storeId);
    const error = await kms.connect(second.storeId).then(
      () => null,
      (failure: unknown) => failure,
    );

    // Assess: the second call's turn came 10 s later; it was never sent.
    expect(error).toMatchObject({ operation: 'KMS.ConnectCustomKeyStore', code: NOT_SENT, retryable: true });
    expect((await fake.admin('GET', '/_fake/calls')).body.counts['KMS.ConnectCustomKeyStore']).toBe(1);
    expect(await kms.describeStore({ id: second.storeId })).toMatchObject({ connectionState: 'DISCONNECTED' });
  });
});
