/** The in-memory table (the tests' and the simulator's) keeps the same contract as the DynamoDB adapter, and breaks only as its faults say. */
import { describe, expect, it } from 'vitest';
import { InMemoryState, type ScopeRegistry } from '../../shared/dev/state/in-memory-state.js';
import type { Scope } from '../../shared/domain/types.js';
import { describeStatePort, NOW, paymentsSpec } from '../helpers/state-contract.js';

describeStatePort('InMemoryState', async () => {
  const registry: ScopeRegistry = new Map();
  const signatures = new Map();
  return (scope: Scope) => new InMemoryState(scope, registry, signatures);
});

describe('InMemoryState faults', () => {
  it('fails the next call of an operation once, as the adapter reports a throttled DynamoDB call, and changes nothing', async () => {
    const state = new InMemoryState();
    state.faults.fail('acquireLease', 'ThrottlingException');

    await expect(state.acquireLease('payments', 'run-a', NOW, 60_000)).rejects.toMatchObject({
      name: 'AwsCallError',
      operation: 'DynamoDB.UpdateItem',
      code: 'ThrottlingException',
      retryable: true,
    });
    expect(state.leases.size).toBe(0);
    expect(await state.acquireLease('payments', 'run-a', NOW, 60_000)).not.toBeNull();
  });

  it('lets the calls before `after` through and fails `count` calls, only of the store named', async () => {
    const state = new InMemoryState();
    await state.putDesired([paymentsSpec(), paymentsSpec({ name: 'ledger' })], NOW);
    state.faults.fail('load', 'InternalServerError', { store: 'payments', after: 1, count: 2 });

    const outcomes = await Promise.all(
      ['payments', 'ledger', 'payments', 'payments', 'payments'].map((name) =>
        state.load(name).then(
          () => 'read',
          (error: Error) => error.message,
        ),
      ),
    );

    expect(outcomes).toEqual([
      'read',
      'read',
      'DynamoDB.GetItem failed: InternalServerError: injected fault',
      'DynamoDB.GetItem failed: InternalServerError: injected fault',
      'read',
    ]);
  });

  it('fails every call with count Infinity until the faults are cleared', async () => {
    const state = new InMemoryState();
    state.faults.fail('loadAll', 'ThrottlingException', { count: Number.POSITIVE_INFINITY, message: 'Rate exceeded' });

    await expect(state.loadAll()).rejects.toThrow('DynamoDB.Query failed: ThrottlingException: Rate exceeded');
    await expect(state.loadAll()).rejects.toThrow('DynamoDB.Query failed: ThrottlingException: Rate exceeded');
    state.faults.clear();

    expect((await state.loadAll()).records).toEqual([]);
  });

  it('breaks the write of a changed spec only: the specs written before it stay', async () => {
    const state = new InMemoryState();
    await state.putDesired([paymentsSpec()], NOW);
    state.faults.fail('putDesired', 'ThrottlingException');

    await expect(state.putDesired([paymentsSpec(), paymentsSpec({ name: 'ledger' })], NOW)).rejects.toThrow(/ThrottlingException/);
    expect(await state.putDesired([paymentsSpec(), paymentsSpec({ name: 'ledger' })], NOW)).toEqual(['ledger']);
  });
});
