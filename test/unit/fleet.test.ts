import { beforeEach, describe, expect, it } from 'vitest';
import { makeHandler as makeOnChange } from '../../functions/on-change.js';
import { makeHandler as makeSweep } from '../../functions/sweep.js';
import { makeHandler as makeWorker } from '../../functions/worker.js';
import { InMemoryState, type ScopeRegistry } from '../../shared/dev/state/in-memory-state.js';
import { eventSchemas, invalidDesiredEvent } from '../../shared/domain/events.js';
import { BASELINE_IN_FORCE } from '../../shared/domain/settings.js';
import type { Scope } from '../../shared/domain/types.js';
import { AwsCallError } from '../../shared/errors.js';
import { reachAndReconcile, type ScopeRuntime } from '../../shared/fleet/reach-scope.js';
import { mapConcurrently, reconcileFleet, reconcileScopes, type ScopeQueuePort } from '../../shared/fleet/reconcile-fleet.js';
import { fleetScopes, parseScope, scopeLabel, scopeMessageBody } from '../../shared/fleet/scope.js';
import { groupByScope } from '../../shared/fleet/targets.js';
import { makeLogger } from '../../shared/logger.js';
import type { ReconcileDeps } from '../../shared/reconcile/ports.js';
import { EventsNotPublishedError } from '../../shared/reconcile/reconcile-scope.js';
import { singleScope } from '../../shared/runtime/lambda.js';
import { parseScopeMessage } from '../../shared/runtime/triggers.js';
import { InMemoryCloudHsm, InMemoryEvents, InMemoryHealth, InMemoryKms, InMemorySecrets, ManualClock } from '../helpers/in-memory.js';

const HOME: Scope = { accountId: '111122223333', region: 'us-east-1' };
const MEMBER: Scope = { accountId: '444455556666', region: 'eu-west-1' };
const DENIED: Scope = { accountId: '777788889999', region: 'us-east-1' };

/** A fleet of in-memory scopes sharing one table registry and one bus; `denied` accounts cannot be reached. */
class InMemoryFleet implements ScopeRuntime {
  readonly home = HOME;
  readonly registry: ScopeRegistry = new Map();
  readonly events = new InMemoryEvents();
  readonly clock = new ManualClock();
  readonly denied = new Set<string>();
  readonly reached: string[] = [];
  readonly #deps = new Map<string, ReconcileDeps & { state: InMemoryState; kms: InMemoryKms }>();
  readonly logLines: string[] = [];
  readonly #logger = makeLogger({ logLevel: 'DEBUG' }, {}, (line) => this.logLines.push(line));

  deps(scope: Scope): ReconcileDeps & { state: InMemoryState; kms: InMemoryKms } {
    const key = scopeLabel(scope);
    let deps = this.#deps.get(key);
    if (!deps) {
      deps = {
        kms: new InMemoryKms(),
        cloudHsm: new InMemoryCloudHsm(),
        secrets: new InMemorySecrets(),
        health: new InMemoryHealth(),
        events: this.events,
        state: new InMemoryState(scope, this.registry),
        clock: this.clock,
        logger: this.#logger,
        metrics: null,
        owner: 'unit',
        leaseTtlMs: 60_000,
      };
      this.#deps.set(key, deps);
    }
    return deps;
  }

  async reach(scope: Scope): Promise<void> {
    this.reached.push(scopeLabel(scope));
    if (this.denied.has(scope.accountId)) {
      throw new AwsCallError(
        'STS.AssumeRole',
        'AccessDenied',
        false,
        `not authorized to perform: sts:AssumeRole on arn:aws:iam::${scope.accountId}:role/cks-reconciler-member`,
      );
    }
  }

  async register(...scopes: Scope[]): Promise<void> {
    for (const scope of scopes) await this.deps(scope).state.registerScope();
  }
}

let fleet: InMemoryFleet;

beforeEach(() => {
  fleet = new InMemoryFleet();
});

describe('reachAndReconcile', () => {
  it('reconciles a reachable scope with its own dependencies', async () => {
    const outcome = await reachAndReconcile(fleet, MEMBER, { trigger: 'schedule' });

    expect(outcome).toMatchObject({ scope: MEMBER, status: 'reconciled', result: { trigger: 'schedule', outcomes: [] } });
    expect(fleet.deps(MEMBER).kms.calls).toEqual([{ op: 'listStores' }]);
    expect(fleet.deps(HOME).kms.calls).toEqual([]);
  });

  it('reports an unreachable scope once per incident, with a valid Scope Unreachable event, and ends the incident when reached', async () => {
    fleet.denied.add(DENIED.accountId);

    const first = await reachAndReconcile(fleet, DENIED, { trigger: 'schedule' });
    fleet.clock.advance(60);
    const second = await reachAndReconcile(fleet, DENIED, { trigger: 'schedule' });

    expect(first).toMatchObject({ status: 'unreachable', errorCode: 'AccessDenied', operation: 'STS.AssumeRole', announced: true });
    expect(second).toMatchObject({ status: 'unreachable', announced: false });
    expect(second.status === 'unreachable' && first.status === 'unreachable' && second.incidentId === first.incidentId).toBe(true);
    expect(fleet.events.types()).toEqual(['Scope Unreachable']);
    const detail = eventSchemas['Scope Unreachable'].parse(fleet.events.published[0]!.detail);
    expect(detail).toMatchObject({
      accountId: DENIED.accountId,
      region: DENIED.region,
      errorCode: 'AccessDenied',
      since: new Date(Date.parse('2026-11-25T12:00:00Z')).toISOString(),
    });

    fleet.denied.clear();
    const reached = await reachAndReconcile(fleet, DENIED, { trigger: 'schedule' });
    expect(reached.status).toBe('reconciled');
    expect(fleet.deps(DENIED).state.unreachable).toBeNull();
    expect(fleet.logLines.some((line) => line.includes('scope reached again'))).toBe(true);
  });

  it('ends only the incident it found open: a newer one another worker opened meanwhile stays open (it used to be closed unannounced)', async () => {
    // Prepare: incident A is open; while this pass runs, another worker ends A and opens B.
    fleet.denied.add(DENIED.accountId);
    await reachAndReconcile(fleet, DENIED, { trigger: 'schedule' });
    fleet.denied.clear();
    const state = fleet.deps(DENIED).state;
    const found = state.unreachable!;
    const newer = { ...found, incidentId: 'scope-newer', announced: false };
    const loadAll = state.loadAll.bind(state);
    state.loadAll = async () => {
      const read = await loadAll();
      state.unreachable = newer;
      return read;
    };

    // Act
    await reachAndReconcile(fleet, DENIED, { trigger: 'schedule' });

    // Assess
    expect(state.unreachable).toEqual(newer);
  });

  it('keeps an incident owed when its event could not be published, and a later pass sends it with the same eventId', async () => {
    fleet.denied.add(DENIED.accountId);
    fleet.events.down = true;
    const failed = await reachAndReconcile(fleet, DENIED, { trigger: 'schedule' });
    const owed = fleet.deps(DENIED).state.unreachable;
    expect(owed).toMatchObject({ announced: false });
    expect(failed).toEqual(expect.objectContaining({ status: 'unreachable', announced: false, incidentId: owed?.incidentId }));

    fleet.events.down = false;
    const retried = await reachAndReconcile(fleet, DENIED, { trigger: 'schedule' });
    const again = await reachAndReconcile(fleet, DENIED, { trigger: 'schedule' });

    expect(retried).toEqual(expect.objectContaining({ status: 'unreachable', announced: true, incidentId: owed?.incidentId }));
    expect(again).toMatchObject({ status: 'unreachable', announced: false });
    expect(fleet.events.types()).toEqual(['Scope Unreachable']);
  });

  it('treats a failed KMS read as unreachable, but a failed table read as the deployment’s own failure', async () => {
    fleet.deps(MEMBER).kms.listStores = async () => {
      throw new AwsCallError(
        'KMS.DescribeCustomKeyStores',
        'UnrecognizedClientException',
        false,
        'The security token included in the request is invalid.',
      );
    };
    expect(await reachAndReconcile(fleet, MEMBER, { trigger: 'schedule' })).toMatchObject({
      status: 'unreachable',
      errorCode: 'UnrecognizedClientException',
    });

    fleet.deps(HOME).state.loadAll = async () => {
      throw new AwsCallError('DynamoDB.Query', 'ProvisionedThroughputExceededException', true, 'throttled');
    };
    await expect(reachAndReconcile(fleet, HOME, { trigger: 'schedule' })).rejects.toMatchObject({ operation: 'DynamoDB.Query' });
  });

  it('writes and sends nothing for an unreachable scope in a dry run', async () => {
    fleet.denied.add(DENIED.accountId);
    expect(await reachAndReconcile(fleet, DENIED, { trigger: 'cli', dryRun: true })).toMatchObject({ status: 'unreachable', announced: false });
    expect(fleet.events.published).toEqual([]);
    expect(fleet.deps(DENIED).state.unreachable).toBeNull();
  });
});

describe('closing a scope whose last store was removed', () => {
  const ledger = { name: 'ledger', desiredState: 'CONNECTED', cloudHsmClusterId: 'cluster-abcdefghijk', generation: 1 };
  const owedPage = invalidDesiredEvent({ scope: MEMBER, storeName: 'ledger', generation: 1, errors: [{ path: 'mode', message: 'bad' }] });

  /** A registered member scope that declared `ledger` and recorded its status, whose store was then removed. */
  async function removedMember(): Promise<InMemoryState> {
    await fleet.register(MEMBER);
    const state = fleet.deps(MEMBER).state;
    state.desired.set('ledger', ledger);
    await reachAndReconcile(fleet, MEMBER, { trigger: 'schedule' });
    expect(state.statuses.has('ledger')).toBe(true);
    await state.deleteDesired('ledger');
    return state;
  }

  it('closes the scope in the pass that closes the last status, sweeps it no more, and sweeps it again once a store is applied there', async () => {
    const state = await removedMember();

    const closing = await reachAndReconcile(fleet, MEMBER, { trigger: 'schedule' });
    fleet.reached.length = 0;
    const afterwards = await reconcileFleet(fleet, { trigger: 'schedule', queue: null, concurrency: 4 });

    expect(closing).toEqual({ scope: MEMBER, status: 'closed' });
    expect(state.statuses.size).toBe(0);
    expect(afterwards.swept).toEqual([]);
    expect(fleet.reached).toEqual(['111122223333/us-east-1']);
    expect(fleet.logLines.some((line) => line.includes('scope closed: no store is declared there any more'))).toBe(true);

    // `cks apply` there again: a new registration, then the store.
    await state.registerScope();
    state.desired.set('ledger', { ...ledger, generation: 2 });
    const reopened = await reconcileFleet(fleet, { trigger: 'schedule', queue: null, concurrency: 4 });
    expect(reopened.swept).toEqual([expect.objectContaining({ scope: MEMBER, status: 'reconciled' })]);
  });

  it('keeps the scope open while its settings owe a page that cannot go out, and closes it once the page went out', async () => {
    const state = await removedMember();
    state.settingsInForce = { values: BASELINE_IN_FORCE, revision: 1, announced: owedPage.detail.eventId, outbox: [owedPage] };
    fleet.events.down = true;

    await expect(reachAndReconcile(fleet, MEMBER, { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);
    expect(await state.listScopes()).toEqual([MEMBER]);

    fleet.events.down = false;
    expect(await reachAndReconcile(fleet, MEMBER, { trigger: 'schedule' })).toEqual({ scope: MEMBER, status: 'closed' });
    expect(fleet.events.published.filter((e) => e.detail.eventId === owedPage.detail.eventId)).toHaveLength(1);
    expect(await state.listScopes()).toEqual([]);
  });

  it('keeps the scope open while its regional incident owes its page', async () => {
    const state = await removedMember();
    state.regionalIncident = { since: fleet.clock.now(), outbox: [owedPage] };
    fleet.events.refused.add(owedPage.detail.eventId);

    await expect(reachAndReconcile(fleet, MEMBER, { trigger: 'schedule' })).rejects.toThrow(EventsNotPublishedError);
    expect(state.regionalIncident).toMatchObject({ outbox: [owedPage] });
    expect(await state.listScopes()).toEqual([MEMBER]);
  });

  it('closes an unreachable scope that declares no store without paging: its removed stores’ owed events go out and its incident ends', async () => {
    const state = await removedMember();
    state.outboxes.set('ledger', [owedPage]);
    fleet.denied.add(MEMBER.accountId);
    state.unreachable = {
      incidentId: 'scope-old',
      since: fleet.clock.now(),
      errorCode: 'AccessDenied',
      operation: 'STS.AssumeRole',
      announced: true,
    };

    const outcome = await reachAndReconcile(fleet, MEMBER, { trigger: 'schedule' });

    expect(outcome).toEqual({ scope: MEMBER, status: 'closed' });
    expect(fleet.events.types()).not.toContain('Scope Unreachable');
    expect(fleet.events.published.map((e) => e.detail.eventId)).toContain(owedPage.detail.eventId);
    expect(state.statuses.size).toBe(0);
    expect(state.unreachable).toBeNull();
    expect(await state.listScopes()).toEqual([]);
  });

  it('pages an unreachable scope that still declares a store, and keeps it open', async () => {
    await fleet.register(MEMBER);
    fleet.deps(MEMBER).state.desired.set('ledger', ledger);
    fleet.denied.add(MEMBER.accountId);

    expect(await reachAndReconcile(fleet, MEMBER, { trigger: 'schedule' })).toMatchObject({ status: 'unreachable', announced: true });
    expect(await fleet.deps(MEMBER).state.listScopes()).toEqual([MEMBER]);
  });

  it('never closes the deployment’s own scope, nor any scope in a dry run', async () => {
    await fleet.register(HOME, MEMBER);

    const home = await reachAndReconcile(fleet, HOME, { trigger: 'schedule' });
    const dry = await reachAndReconcile(fleet, MEMBER, { trigger: 'cli', dryRun: true });

    expect([home.status, dry.status]).toEqual(['reconciled', 'reconciled']);
    expect(await fleet.deps(HOME).state.listScopes()).toEqual([HOME, MEMBER]);
  });
});

describe('fan-out', () => {
  it('runs at most `limit` items at once and keeps their order', async () => {
    let running = 0;
    let most = 0;
    const results = await mapConcurrently([5, 1, 4, 2, 3, 0], 2, async (n) => {
      running += 1;
      most = Math.max(most, running);
      for (let turn = 0; turn < n; turn++) await Promise.resolve(); // items finish out of order, without real time
      running -= 1;
      return n * 10;
    });
    expect(results).toEqual([50, 10, 40, 20, 30, 0]);
    expect(most).toBe(2);
  });

  it('sweeps every scope, reporting a scope whose pass throws as failed while the others go on', async () => {
    fleet.deps(MEMBER).state.loadAll = async () => {
      throw new Error('table gone');
    };
    fleet.denied.add(DENIED.accountId);

    const outcomes = await reconcileScopes(fleet, [HOME, MEMBER, DENIED], { trigger: 'cli', concurrency: 2 });

    expect(outcomes.map((o) => [scopeLabel(o.scope), o.status])).toEqual([
      ['111122223333/us-east-1', 'reconciled'],
      ['444455556666/eu-west-1', 'failed'],
      ['777788889999/us-east-1', 'unreachable'],
    ]);
    expect(outcomes[1]).toMatchObject({ error: 'table gone' });
  });

  it('coordinates: sends every registered scope but its own to the queue first, then reconciles its own', async () => {
    await fleet.register(MEMBER, DENIED);
    const order: string[] = [];
    const queue: ScopeQueuePort = {
      send: async (scopes) => void order.push(`sent ${scopes.map(scopeLabel).join(',')}`),
    };
    fleet.deps(HOME).kms.listStores = async () => {
      order.push('home swept');
      return [];
    };

    const run = await reconcileFleet(fleet, { trigger: 'schedule', queue, concurrency: 4 });

    expect(order).toEqual(['sent 444455556666/eu-west-1,777788889999/us-east-1', 'home swept']);
    expect(run).toMatchObject({ home: { status: 'reconciled' }, queued: [MEMBER, DENIED], swept: [] });
    expect(fleet.reached).toEqual(['111122223333/us-east-1']);
  });

  it('coordinates without a queue by sweeping the other scopes itself', async () => {
    await fleet.register(MEMBER);
    // A scope that declares a store (one that declares none is closed).
    fleet
      .deps(MEMBER)
      .state.desired.set('ledger', { name: 'ledger', desiredState: 'CONNECTED', cloudHsmClusterId: 'cluster-abcdefghijk', generation: 1 });
    const run = await reconcileFleet(fleet, { trigger: 'schedule', queue: null, concurrency: 4 });
    expect(run.queued).toEqual([]);
    expect(run.swept.map((o) => [scopeLabel(o.scope), o.status])).toEqual([['444455556666/eu-west-1', 'reconciled']]);
  });
});

describe('the Lambda handlers', () => {
  const context = { awsRequestId: 'req-1', invokedFunctionArn: 'arn:aws:lambda:us-east-1:111122223333:function:cks-reconciler-dev-worker' };

  it('the worker reconciles the scope of each message, and reports only the failed messages for another receive', async () => {
    fleet.denied.add(DENIED.accountId);
    fleet.deps(MEMBER).state.loadAll = async () => {
      throw new AwsCallError('DynamoDB.Query', 'InternalServerError', true, 'table unavailable');
    };
    const worker = makeWorker(() => ({ runtime: fleet, queue: null, followUps: null, concurrency: 1 }));
    const message = (id: string, body: string) => ({
      messageId: id,
      body,
      receiptHandle: id,
      attributes: {},
      messageAttributes: {},
      eventSource: 'aws:sqs',
    });

    const response = await worker(
      {
        Records: [
          message('m-home', scopeMessageBody(HOME)),
          message('m-member', scopeMessageBody(MEMBER)),
          message('m-denied', scopeMessageBody(DENIED)),
          message('m-bad', '{"accountId":"1"}'),
        ],
      },
      context,
    );

    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['m-bad', 'm-member']);
    expect(fleet.events.types()).toEqual(expect.arrayContaining(['Scope Unreachable']));
  });

  it('the sweep returns its own scope’s stores and the scopes it queued', async () => {
    await fleet.register(MEMBER);
    const sent: Scope[] = [];
    const sweep = makeSweep(() => ({
      runtime: fleet,
      queue: { send: async (scopes) => void sent.push(...scopes) },
      followUps: null,
      concurrency: 4,
    }));

    const result = await sweep({ source: 'aws.events' }, context);

    expect(result).toMatchObject({
      trigger: 'schedule',
      scope: '111122223333/us-east-1',
      status: 'reconciled',
      stores: [],
      queued: ['444455556666/eu-west-1'],
      swept: [],
    });
    expect(sent).toEqual([MEMBER]);
  });
});

describe('onChange in a fleet', () => {
  const context = { awsRequestId: 'req-2' };
  const record = (scope: Scope, name: string) => ({
    eventName: 'MODIFY',
    dynamodb: { Keys: { pk: { S: `DESIRED#${scope.accountId}#${scope.region}` }, sk: { S: `STORE#${name}#DESIRED` } } },
  });

  it('reconciles a stream batch of several scopes in each scope, and returns every store', async () => {
    for (const [scope, name] of [
      [HOME, 'payments'],
      [MEMBER, 'ledger'],
    ] as const) {
      fleet.deps(scope).state.desired.set(name, { name, desiredState: 'CONNECTED', cloudHsmClusterId: 'cluster-abcdefghijk', generation: 1 });
    }
    const asked: string[] = [];
    const runtime: ScopeRuntime = {
      home: HOME,
      deps: (scope) => {
        asked.push(scopeLabel(scope));
        return fleet.deps(scope);
      },
      reach: async () => undefined,
    };
    const onChange = makeOnChange(() => ({ runtime, queue: null, followUps: null, concurrency: 1 }));

    const result = await onChange({ Records: [record(HOME, 'payments'), record(MEMBER, 'ledger')] }, context);

    expect(asked).toEqual(['111122223333/us-east-1', '444455556666/eu-west-1']);
    expect(result).toMatchObject({ trigger: 'stream', stores: [{ name: 'payments' }, { name: 'ledger' }] });
    // The member's store is missing: the pass lists the stores, and the run re-reads the store under its lease before paging.
    expect(fleet.deps(MEMBER).kms.calls).toEqual([{ op: 'listStores' }, { op: 'describeStore' }]);
  });

  it('makes a fleet of one scope from plain dependencies, refusing any other scope by name', () => {
    const { runtime, queue } = singleScope(fleet.deps(HOME));
    expect(runtime.home).toEqual(HOME);
    expect(queue).toBeNull();
    expect(() => runtime.deps(MEMBER)).toThrow('these dependencies are for 111122223333/us-east-1 only, not 444455556666/eu-west-1');
  });
});

describe('scopes and targets', () => {
  it('reads --scope <account>/<region>', () => {
    expect(parseScope('444455556666/eu-west-1')).toEqual(MEMBER);
  });

  it.each([
    ['no Region', '444455556666'],
    ['a short account', '4444/eu-west-1'],
    ['a Region in capitals', '444455556666/EU'],
    ['a third part', '444455556666/eu-west-1/x'],
  ])('refuses a --scope with %s (%s), saying what it expects', (_case, bad) => {
    expect(() => parseScope(bad)).toThrow(`--scope must be <12-digit account>/<region>, e.g. 111122223333/eu-west-1, got "${bad}"`);
  });

  it('round-trips a scope through a queue message and refuses a malformed one', () => {
    expect(parseScopeMessage(scopeMessageBody(MEMBER))).toEqual(MEMBER);
    expect(() => parseScopeMessage('not json')).toThrow('scope message is not JSON');
    expect(() => parseScopeMessage('{"accountId":"444455556666","region":"eu-west-1","extra":1}')).toThrow('scope message must be');
  });

  it('lists the fleet as the registry and the deployment’s own scope, once each, sorted', () => {
    expect(fleetScopes([MEMBER, HOME, MEMBER], HOME).map(scopeLabel)).toEqual(['111122223333/us-east-1', '444455556666/eu-west-1']);
  });

  it('groups stores by the scope they name, the deployment’s own filling in what they leave out, without the target fields', () => {
    const spec = {
      desiredState: 'CONNECTED',
      mode: 'observe',
      maxAttempts: 3,
      type: 'AWS_CLOUDHSM',
      allowCreateHsm: false,
      onManualDisconnect: 'hold',
      loginBudget: 2,
    } as const;
    const groups = groupByScope(
      [
        { ...spec, name: 'a' },
        { ...spec, name: 'b', accountId: MEMBER.accountId, region: MEMBER.region },
        { ...spec, name: 'c', region: 'eu-west-1' },
        { ...spec, name: 'd', accountId: MEMBER.accountId, region: MEMBER.region },
      ],
      HOME,
    );
    expect(groups.map((g) => [scopeLabel(g.scope), g.specs.map((s) => s.name)])).toEqual([
      ['111122223333/us-east-1', ['a']],
      ['444455556666/eu-west-1', ['b', 'd']],
      ['111122223333/eu-west-1', ['c']],
    ]);
    expect(groups[1]!.specs[0]).not.toHaveProperty('accountId');
    expect(groups[1]!.specs[0]).not.toHaveProperty('region');
  });
});
