import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeMetrics, recordRepair, recordStoreStates } from '../../shared/metrics.js';

/** EMF documents written to stdout while `act` runs. */
function emfLines(act: () => void): Record<string, unknown>[] {
  const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    act();
    return write.mock.calls.map(([chunk]) => JSON.parse(String(chunk)) as Record<string, unknown>);
  } finally {
    write.mockRestore();
  }
}

describe('metrics', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('records one count per connection state in a single EMF document', () => {
    // Prepare
    const metrics = makeMetrics();

    // Act
    const lines = emfLines(() => {
      recordStoreStates(metrics, { CONNECTED: 4, FAILED: 1, DISCONNECTED: 0, MISSING: 2 });
      metrics.publishStoredMetrics();
    });

    // Assess
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      service: 'cks-reconciler',
      StoresConnected: 4,
      StoresFailed: 1,
      StoresDisconnected: 0,
      StoresMissing: 2,
      _aws: { CloudWatchMetrics: [{ Namespace: 'CksReconciler', Dimensions: [['service']] }] },
    });
  });

  it('emits a repair outcome at once, with its error code as a dimension', () => {
    // Prepare
    const metrics = makeMetrics();

    // Act
    const lines = emfLines(() => recordRepair(metrics, 'Escalated', 'USER_LOCKED_OUT'));

    // Assess
    expect(lines).toEqual([
      expect.objectContaining({
        RepairEscalated: 1,
        ErrorCode: 'USER_LOCKED_OUT',
        service: 'cks-reconciler',
        _aws: expect.objectContaining({
          CloudWatchMetrics: [expect.objectContaining({ Namespace: 'CksReconciler', Dimensions: [['service', 'ErrorCode']] })],
        }),
      }),
    ]);
  });

  it('prints nothing when POWERTOOLS_METRICS_DISABLED is set', () => {
    // Prepare
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    const metrics = makeMetrics();

    // Act
    const lines = emfLines(() => {
      recordRepair(metrics, 'Started', 'NETWORK_ERRORS');
      recordStoreStates(metrics, { CONNECTED: 1 });
      metrics.publishStoredMetrics();
    });

    // Assess
    expect(lines).toEqual([]);
  });
});
