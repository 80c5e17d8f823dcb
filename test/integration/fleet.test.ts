import { DisconnectCustomKeyStoreCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeHandler as makeOnEvent } from '../../functions/on-event.js';
import type { PrincipalKeys } from '../../shared/dev/iam/stack.js';
import { eventSchemas } from '../../shared/domain/events.js';
import type { Scope } from '../../shared/domain/types.js';
import { type FleetOutcome, reconcileFleet, reconcileScopes } from '../../shared/fleet/reconcile-fleet.js';
import { scopeLabel } from '../../shared/fleet/scope.js';
import { startTestFake, type TestFake } from '../helpers/fake.js';
import { connectedStore, createMemberRole, createTable, fleetRuntime, HOME, operatorRuntime, storeState } from '../helpers/fleet.js';

const TABLE = 'cks-fleet-stores';
const HOME_WEST: Scope = { accountId: HOME.accountId, region: 'eu-west-1' };
const MEMBER_EAST: Scope = { accountId: '444455556666', region: 'us-east-1' };
const MEMBER_WEST: Scope = { accountId: '444455556666', region: 'eu-west-1' };
const LOCKED: Scope = { accountId: '777788889999', region: 'us-east-1' };

let fake: TestFake;
let operator: PrincipalKeys;

beforeAll(async () => {
  fake = await startTestFake();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(async () => {
  await fake.admin('POST', '/_fake/reset');
  operator = await createTable(fake, TABLE);
});

afterEach(async () => {
  // Every call runs under the stack's own policies; the only refusal is the locked account's, whose role trusts no one.
  const { calls } = (await fake.admin('GET', '/_fake/calls')).body as {
    calls: Array<{ denied?: true; target?: string; principal: string; operation: string }>;
  };
  const refused = calls.filter((c) => c.denied && !c.target?.startsWith(`arn:aws:iam::${LOCKED.accountId}:`));
  expect(
    refused.map((c) => `${c.principal} ${c.operation} ${c.target ?? ''}`),
    'calls the stack’s policies refused',
  ).toEqual([]);
});

/** `cks` as an operator holding the OperatorPolicy: it declares the stores and registers their scopes. */
const asOperator = () => operatorRuntime(fake, TABLE, operator);

function byScope(outcomes: readonly FleetOutcome[]): Record<string, string> {
  return Object.fromEntries(outcomes.map((o) => [scopeLabel(o.scope), o.status]));
}

async function events(type: string) {
  const { body } = await fake.admin<Array<{ DetailType: string; Detail: Record<string, unknown> }>>('GET', '/_fake/events');
  return body.filter((e) => e.DetailType === type).map((e) => e.Detail);
}

describe('a fleet of two accounts and two Regions against the fake', () => {
  it('heals a FAILED store in a member account’s second Region through the assumed member role', async () => {
    const fleet = fleetRuntime(fake, TABLE);
    await createMemberRole(fake, HOME.accountId);
    await createMemberRole(fake, MEMBER_EAST.accountId);
    for (const [scope, name] of [
      [HOME, 'home-hsm'],
      [HOME_WEST, 'home-west-hsm'],
      [MEMBER_EAST, 'member-hsm'],
      [MEMBER_WEST, 'member-west-hsm'],
    ] as const) {
      await connectedStore(fake, asOperator(), scope, name);
    }
    await fake.admin('POST', '/_fake/stores/member-west-hsm/fail', { ...MEMBER_WEST, errorCode: 'NETWORK_ERRORS' });

    const scopes = await fleet.deps(HOME).state.listScopes();
    expect(scopes.map(scopeLabel)).toEqual(['000000000000/eu-west-1', '000000000000/us-east-1', '444455556666/eu-west-1', '444455556666/us-east-1']);
    for (let run = 0; run < 6 && (await storeState(fake, MEMBER_WEST, 'member-west-hsm')) !== 'CONNECTED'; run++) {
      const outcomes = await reconcileScopes(fleet, scopes, { trigger: 'cli', concurrency: 4 });
      expect(new Set(outcomes.map((o) => o.status))).toEqual(new Set(['reconciled']));
      fake.advance(150);
    }

    expect(await storeState(fake, MEMBER_WEST, 'member-west-hsm')).toBe('CONNECTED');
    const { body } = await fake.admin('GET', '/_fake/calls?accountId=444455556666&region=eu-west-1');
    const memberWest = body.calls as Array<{ operation: string }>;
    expect(memberWest.map((c) => c.operation)).toEqual(expect.arrayContaining(['DisconnectCustomKeyStore', 'ConnectCustomKeyStore']));
    // One AssumeRole per account (the own account's other Region too), for both its Regions and every sweep.
    const { calls } = (await fake.admin('GET', '/_fake/calls?accountId=000000000000')).body as {
      calls: Array<{ operation: string; target?: string }>;
    };
    expect(calls.filter((c) => c.operation === 'AssumeRole').map((c) => c.target)).toEqual(
      expect.arrayContaining(['arn:aws:iam::000000000000:role/cks-reconciler-member', 'arn:aws:iam::444455556666:role/cks-reconciler-member']),
    );
    expect(calls.filter((c) => c.operation === 'AssumeRole')).toHaveLength(2);
    const trail = (await fake.admin('GET', '/_fake/cloudtrail?accountId=444455556666&region=eu-west-1')).body.events as Array<{
      detail: { eventName: string; userIdentity: { sessionContext: { sessionIssuer: { userName: string } } } };
    }>;
    expect(
      new Set(
        trail.filter((e) => e.detail.eventName !== 'CreateCustomKeyStore').map((e) => e.detail.userIdentity.sessionContext.sessionIssuer.userName),
      ),
    ).toEqual(new Set(['fake-caller', 'cks-reconciler-member']));
  });

  it('reports an unreachable scope once per incident while the others are reconciled, and closes the incident when it is reached again', async () => {
    const fleet = fleetRuntime(fake, TABLE);
    await createMemberRole(fake, MEMBER_EAST.accountId);
    await createMemberRole(fake, LOCKED.accountId, []);
    await connectedStore(fake, asOperator(), HOME, 'home-hsm');
    await connectedStore(fake, asOperator(), MEMBER_EAST, 'member-hsm');
    await fake.admin('POST', '/_fake/stores/member-hsm/fail', { ...MEMBER_EAST, errorCode: 'NETWORK_ERRORS' });
    await connectedStore(fake, asOperator(), LOCKED, 'locked-hsm');

    const first = await reconcileFleet(fleet, { trigger: 'schedule', queue: null, concurrency: 4 });
    const second = await reconcileFleet(fleet, { trigger: 'schedule', queue: null, concurrency: 4 });

    expect(first.home.status).toBe('reconciled');
    expect(byScope(first.swept)).toEqual({ '444455556666/us-east-1': 'reconciled', '777788889999/us-east-1': 'unreachable' });
    expect(first.swept.find((o) => o.scope.accountId === LOCKED.accountId)).toMatchObject({
      errorCode: 'AccessDenied',
      operation: 'STS.AssumeRole',
      announced: true,
    });
    expect(second.swept.find((o) => o.scope.accountId === LOCKED.accountId)).toMatchObject({ status: 'unreachable', announced: false });
    expect((await storeState(fake, MEMBER_EAST, 'member-hsm')).startsWith('DISCONNECT')).toBe(true);
    const unreachable = await events('Scope Unreachable');
    expect(unreachable).toHaveLength(1);
    expect(eventSchemas['Scope Unreachable'].parse(unreachable[0])).toMatchObject({
      accountId: '777788889999',
      region: 'us-east-1',
      errorCode: 'AccessDenied',
      operation: 'STS.AssumeRole',
      dryRun: false,
    });

    await createMemberRole(fake, LOCKED.accountId);
    const third = await reconcileFleet(fleet, { trigger: 'schedule', queue: null, concurrency: 4 });
    expect(byScope(third.swept)['777788889999/us-east-1']).toBe('reconciled');
    expect((await fleet.deps(LOCKED).state.loadAll()).unreachable).toBeUndefined();

    await fake.admin('POST', '/_fake/faults', { operation: 'DescribeCustomKeyStores', error: 'AccessDeniedException', ...LOCKED });
    const fourth = await reconcileFleet(fleet, { trigger: 'schedule', queue: null, concurrency: 4 });
    expect(fourth.swept.find((o) => o.scope.accountId === LOCKED.accountId)).toMatchObject({
      status: 'unreachable',
      errorCode: 'AccessDeniedException',
      operation: 'KMS.DescribeCustomKeyStores',
      announced: true,
    });
    const incidents = (await events('Scope Unreachable')).map((e) => e.incidentId);
    expect(new Set(incidents).size).toBe(2);
  });

  it('closes a member scope once its last store is removed (cks delete): no longer swept or fanned out, and swept again once a store is applied there', async () => {
    const fleet = fleetRuntime(fake, TABLE);
    await createMemberRole(fake, MEMBER_EAST.accountId);
    await connectedStore(fake, asOperator(), MEMBER_EAST, 'member-hsm');
    const memberCalls = async () =>
      ((await fake.admin('GET', '/_fake/calls?accountId=444455556666&region=us-east-1')).body.calls as unknown[]).length;
    expect(byScope((await reconcileFleet(fleet, { trigger: 'schedule', queue: null, concurrency: 4 })).swept)).toEqual({
      '444455556666/us-east-1': 'reconciled',
    });

    // What `cks delete member-hsm --scope 444455556666/us-east-1` writes.
    expect(await asOperator().deps(MEMBER_EAST).state.deleteDesired('member-hsm')).toBe(true);
    const closing = await reconcileFleet(fleet, { trigger: 'schedule', queue: null, concurrency: 4 });
    const before = await memberCalls();
    const sent: Scope[] = [];
    const fannedOut = await reconcileFleet(fleet, {
      trigger: 'schedule',
      queue: { send: async (scopes) => void sent.push(...scopes) },
      concurrency: 4,
    });
    const swept = await reconcileFleet(fleet, { trigger: 'schedule', queue: null, concurrency: 4 });

    expect(byScope(closing.swept)).toEqual({ '444455556666/us-east-1': 'closed' });
    expect((await fleet.deps(MEMBER_EAST).state.loadAll()).records).toEqual([]);
    expect([fannedOut.queued, sent, swept.swept]).toEqual([[], [], []]);
    expect(await memberCalls()).toBe(before);
    expect(await fleet.deps(HOME).state.listScopes()).toEqual([]);

    // `cks apply` of a store there again: the scope is registered anew and swept.
    await connectedStore(fake, asOperator(), MEMBER_EAST, 'member-hsm-2');
    const reopened = await reconcileFleet(fleet, { trigger: 'schedule', queue: null, concurrency: 4 });
    expect(reopened.swept).toEqual([expect.objectContaining({ scope: MEMBER_EAST, status: 'reconciled' })]);
    expect(reopened.swept[0]?.status === 'reconciled' && reopened.swept[0].result.outcomes.map((o) => o.name)).toEqual(['member-hsm-2']);
  });

  it('renews the member role’s credentials by the fake clock before they expire: past 60 fake minutes no call meets ExpiredTokenException', async () => {
    const fleet = fleetRuntime(fake, TABLE);
    await createMemberRole(fake, MEMBER_EAST.accountId);
    await connectedStore(fake, asOperator(), MEMBER_EAST, 'member-hsm');
    const assumed = async (): Promise<number> => {
      const { calls } = (await fake.admin('GET', '/_fake/calls?accountId=000000000000')).body as { calls: Array<{ operation: string }> };
      return calls.filter((c) => c.operation === 'AssumeRole').length;
    };

    // A sweep every 10 fake minutes for 90 fake minutes, while barely a second of real time passes.
    const statuses: string[] = [];
    const assumedBySweep: number[] = [];
    for (let minute = 0; minute <= 90; minute += 10) {
      statuses.push(...(await reconcileScopes(fleet, [MEMBER_EAST], { trigger: 'schedule', concurrency: 1 })).map((o) => o.status));
      assumedBySweep.push(await assumed());
      fake.advance(600);
    }

    expect(new Set(statuses)).toEqual(new Set(['reconciled']));
    // The first session (60 fake minutes) is replaced at the sweep of minute 60, before it expires: 5 minutes ahead, by the fake's clock.
    expect(assumedBySweep).toEqual([1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
    const { calls } = (await fake.admin('GET', '/_fake/calls')).body as { calls: Array<{ error?: string }> };
    expect(calls.filter((c) => c.error === 'ExpiredTokenException' || c.error === 'ExpiredToken')).toEqual([]);
    expect(await events('Scope Unreachable')).toEqual([]);
  });

  it('reconciles the store a member account’s forwarded CloudTrail event names, in that account and Region', async () => {
    // The event handler's runtime, as its role.
    const fleet = fleetRuntime(fake, TABLE, [], { home: 'OnEventRole', reach: 'OnEventRole' });
    await createMemberRole(fake, MEMBER_WEST.accountId);
    await connectedStore(fake, asOperator(), HOME, 'payments');
    const { storeId } = await connectedStore(fake, asOperator(), MEMBER_WEST, 'payments');
    // An operator of the member account disconnects its store by hand; the event reaches the central bus.
    await new KMSClient(fake.configFor(MEMBER_WEST)).send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: storeId }));
    const trail = (await fake.admin('GET', '/_fake/cloudtrail?accountId=444455556666&region=eu-west-1')).body.events as Array<{
      detail: { eventName: string };
    }>;
    const event = trail.filter((e) => e.detail.eventName === 'DisconnectCustomKeyStore').at(-1);
    const onEvent = makeOnEvent((context) => ({ runtime: fleet.withOwner(context.awsRequestId), queue: null, followUps: null, concurrency: 1 }));

    const result = await onEvent(event, { awsRequestId: 'req-1' });

    expect(result).toMatchObject({ trigger: 'cloudtrail', stores: [{ name: 'payments' }] });
    const { body } = await fake.admin('GET', '/_fake/calls?accountId=000000000000&region=us-east-1');
    expect((body.calls as Array<{ operation: string }>).filter((c) => c.operation === 'DescribeCustomKeyStores')).toEqual([]);
    const member = (await fake.admin('GET', '/_fake/calls?accountId=444455556666&region=eu-west-1')).body.counts as Record<string, number>;
    expect(member['KMS.DescribeCustomKeyStores']).toBeGreaterThan(0);
  });

  it('keeps one unreachable incident per scope when two runs open it at once, and lists registered scopes sorted', async () => {
    const fleet = fleetRuntime(fake, TABLE);
    const state = fleet.deps(LOCKED).state;
    const mark = (incidentId: string) => ({
      incidentId,
      since: fake.now(),
      errorCode: 'AccessDenied',
      operation: 'STS.AssumeRole',
      announced: false,
    });

    const [a, b] = await Promise.all([state.openUnreachable(mark('scope-a')), state.openUnreachable(mark('scope-b'))]);

    expect(a.incidentId).toBe(b.incidentId);
    expect((await state.loadAll()).unreachable).toMatchObject({ incidentId: a.incidentId, announced: false });
    await state.announceUnreachable(a.incidentId);
    expect((await state.loadAll()).unreachable?.announced).toBe(true);
    await state.clearUnreachable(a.incidentId);
    expect((await state.loadAll()).unreachable).toBeUndefined();
    // Scopes are registered by `cks apply`, as an operator.
    expect(await asOperator().deps(MEMBER_WEST).state.registerScope()).toBe(true);
    expect(await asOperator().deps(MEMBER_WEST).state.registerScope()).toBe(false);
    await asOperator().deps(HOME_WEST).state.registerScope();
    expect((await state.listScopes()).map(scopeLabel)).toEqual(['000000000000/eu-west-1', '444455556666/eu-west-1']);
  });
});
