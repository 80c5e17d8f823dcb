/**
 * A call slower than the lease it is made under: the SDK clients' timeouts end it, all attempts
 * included, inside the lease (half of it at the default 60 s), so it is never still in flight when another run may take the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callTimeouts, makeAdapters, makeAwsClients } from '../../shared/adapters/clients.js';
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
  });

  it('fits the default lease: each attempt a few seconds, all attempts and backoffs in half of it', () => {
    // Act
    const timeouts = callTimeouts(60_000);

    // Assess
    expect(timeouts).toEqual({ connectionTimeout: 1_437, requestTimeout: 4_313, budgetMs: 30_000 });
  });
});
