/**
 * What an operator reads about a change that waits for a second person (the decision's reason, the
 * `Approval Required` event, what stays in force), and how plan compares the store KMS shows with
 * the desired one (the drift a store in mode observe reports).
 */
import { describe, expect, it } from 'vitest';
import { describeChanges } from '../../shared/domain/plan/approval.js';
import { fingerprint } from '../../shared/domain/plan/hash.js';
import { holdReleased } from '../../shared/domain/plan/hold.js';
import { storeChange } from '../../shared/domain/signatures.js';
import { storeSubject } from '../../shared/domain/table-keys.js';
import type { DesiredStore, PlanInput } from '../../shared/domain/types.js';
import { cloudHsmDesired, cloudHsmObserved, cluster, clusters, OTHER_CLUSTER, STORE_ID, xksDesired, xksObserved } from '../helpers/world.js';
import { cloudHsmInput, decide, NOW, signaturesOf, types, xksInput } from './domain-fixtures.js';

const ALICE = 'principal/AIDAOPERATORALICE';
const VPC_SERVICE = 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0';
const OTHER_VPC_SERVICE = 'com.amazonaws.vpce.us-east-1.vpce-svc-0fedcba987654321f';
const hsmDisconnected = cloudHsmObserved({ connectionState: 'DISCONNECTED' });
const xksDisconnected = xksObserved({ connectionState: 'DISCONNECTED' });
const APPROVAL_FOR_CLOUDHSM = { ...cloudHsmInput().settings, approvalForCloudHsm: true };

/** `partner-xks` at generation 2 with its proxy settings changed by `proxy`. */
function xksAt2(proxy: Partial<NonNullable<DesiredStore['xksProxy']>>): DesiredStore {
  const desired = xksDesired();
  return { ...desired, generation: 2, xksProxy: { ...desired.xksProxy!, ...proxy } };
}

const movedProxy = xksAt2({ uriEndpoint: 'https://xks2.example.com' });
const toVpc = xksAt2({ connectivity: 'VPC_ENDPOINT_SERVICE', vpcEndpointServiceName: VPC_SERVICE });
const renamedHsm = cloudHsmDesired({ generation: 2, id: STORE_ID });
const reclustered = cloudHsmDesired({ generation: 2, cloudHsmClusterId: OTHER_CLUSTER });

describe('plan: what an operator reads while a change waits for a second person', () => {
  const movedChange = 'xksProxy.uriEndpoint https://xks.example.com → https://xks2.example.com';
  const rows: ReadonlyArray<{
    case: string;
    /** Built when the test runs: plan is called inside tests only (a call while tests are collected makes every mutant it reaches static). */
    input: () => PlanInput;
    /** The run's reason: the situation, what waits, who signed. */
    reason: string;
    /** The `Approval Required` event's reason (its `what changes` and `who signed`). */
    announced: string;
    changes: ReadonlyArray<{ field: string; from: string | null; to: string }>;
    proposedBy: string[];
  }> = [
    {
      case: 'an XKS proxy endpoint nobody signed',
      input: () => xksInput({ desired: movedProxy, observed: xksDisconnected }),
      reason:
        'DISCONNECTED but desired CONNECTED: xksProxy.uriEndpoint of generation 2 not applied until two persons sign it (`cks approve partner-xks`); nobody has signed it yet',
      announced: `generation 2 changes ${movedChange}: not applied until two persons sign it; nobody has signed it yet; a second person reviews it with \`cks status partner-xks\` and runs \`cks approve partner-xks\``,
      changes: [{ field: 'xksProxy.uriEndpoint', from: 'https://xks.example.com', to: 'https://xks2.example.com' }],
      proposedBy: [],
    },
    {
      case: 'an XKS proxy endpoint one person signed',
      input: () => xksInput({ desired: movedProxy, observed: xksDisconnected, signatures: signaturesOf(movedProxy, [ALICE]) }),
      reason: `DISCONNECTED but desired CONNECTED: xksProxy.uriEndpoint of generation 2 not applied until two persons sign it (\`cks approve partner-xks\`); signed so far by ${ALICE}`,
      announced: `generation 2 changes ${movedChange}: not applied until two persons sign it; signed so far by ${ALICE}; a second person reviews it with \`cks status partner-xks\` and runs \`cks approve partner-xks\``,
      changes: [{ field: 'xksProxy.uriEndpoint', from: 'https://xks.example.com', to: 'https://xks2.example.com' }],
      proposedBy: [ALICE],
    },
    {
      case: 'an XKS proxy endpoint two persons signed at a generation written back below one already seen',
      input: () =>
        xksInput({
          desired: movedProxy,
          observed: xksDisconnected,
          status: { ...decide(xksInput()).nextStatus, highestGeneration: 3 },
          signatures: signaturesOf(movedProxy),
        }),
      reason:
        'DISCONNECTED but desired CONNECTED: xksProxy.uriEndpoint of generation 2 not applied until two persons sign it (`cks approve partner-xks`); ' +
        "its generation was written back below 3, which the reconciler already saw: no signature counts until the desired item's generation is 3 or more again",
      announced:
        `generation 2 changes ${movedChange}: not applied until two persons sign it; its generation was written back below 3, which the reconciler already saw: ` +
        "no signature counts until the desired item's generation is 3 or more again; a second person reviews it with `cks status partner-xks` and runs `cks approve partner-xks`",
      changes: [{ field: 'xksProxy.uriEndpoint', from: 'https://xks.example.com', to: 'https://xks2.example.com' }],
      proposedBy: [],
    },
    {
      case: 'a move to a VPC endpoint service KMS does not have yet',
      input: () => xksInput({ desired: toVpc, observed: xksDisconnected }),
      reason:
        'DISCONNECTED but desired CONNECTED: xksProxy.connectivity, xksProxy.vpcEndpointServiceName of generation 2 not applied until two persons sign it (`cks approve partner-xks`); nobody has signed it yet',
      announced: `generation 2 changes xksProxy.connectivity PUBLIC_ENDPOINT → VPC_ENDPOINT_SERVICE, xksProxy.vpcEndpointServiceName (none) → ${VPC_SERVICE}: not applied until two persons sign it; nobody has signed it yet; a second person reviews it with \`cks status partner-xks\` and runs \`cks approve partner-xks\``,
      changes: [
        { field: 'xksProxy.connectivity', from: 'PUBLIC_ENDPOINT', to: 'VPC_ENDPOINT_SERVICE' },
        { field: 'xksProxy.vpcEndpointServiceName', from: null, to: VPC_SERVICE },
      ],
      proposedBy: [],
    },
    {
      case: 'a CloudHSM rename with approvalForCloudHsm',
      input: () =>
        cloudHsmInput({
          settings: APPROVAL_FOR_CLOUDHSM,
          desired: renamedHsm,
          observed: cloudHsmObserved({ connectionState: 'DISCONNECTED', name: 'payments-hsm-old' }),
        }),
      reason:
        'DISCONNECTED, named payments-hsm-old but desired payments-hsm: name of generation 2 not applied until two persons sign it (`cks approve payments-hsm`); nobody has signed it yet',
      announced:
        'generation 2 changes name payments-hsm-old → payments-hsm: not applied until two persons sign it; nobody has signed it yet; a second person reviews it with `cks status payments-hsm` and runs `cks approve payments-hsm`',
      changes: [{ field: 'name', from: 'payments-hsm-old', to: 'payments-hsm' }],
      proposedBy: [],
    },
    {
      case: 'a CloudHSM cluster change with approvalForCloudHsm',
      input: () =>
        cloudHsmInput({
          settings: APPROVAL_FOR_CLOUDHSM,
          desired: reclustered,
          observed: hsmDisconnected,
          clusters: clusters(cluster(), cluster({ clusterId: OTHER_CLUSTER })),
        }),
      reason:
        'DISCONNECTED but desired CONNECTED: cloudHsmClusterId of generation 2 not applied until two persons sign it (`cks approve payments-hsm`); nobody has signed it yet',
      announced: `generation 2 changes cloudHsmClusterId cluster-abcdefghijk → ${OTHER_CLUSTER}: not applied until two persons sign it; nobody has signed it yet; a second person reviews it with \`cks status payments-hsm\` and runs \`cks approve payments-hsm\``,
      changes: [{ field: 'cloudHsmClusterId', from: 'cluster-abcdefghijk', to: OTHER_CLUSTER }],
      proposedBy: [],
    },
  ];

  it.each(rows)('$case: waits, says why and who signed, announces the change once under its generation and digest', (row) => {
    const input = row.input();
    const decision = decide(input);
    const { generation, digest } = storeChange(storeSubject(input.desired.name), input.desired);
    expect(decision.action.kind).toBe('none');
    expect(decision.reason).toBe(row.reason);
    expect(types(decision)).toEqual(['Approval Required']);
    expect(decision.events[0]).toMatchObject({
      reason: row.announced,
      drift: row.changes.map((c) => c.field),
      generation,
      digest,
      proposedBy: row.proposedBy,
      changes: row.changes,
    });
    expect(decision.nextStatus.announcedApproval).toBe(`${generation}:${digest}`);
  });

  it('announces a second change of the same store, though the first was announced: each change once', () => {
    const first = decide(xksInput({ desired: movedProxy, observed: xksDisconnected }));
    const edited = { ...xksAt2({ uriEndpoint: 'https://xks3.example.com' }), generation: 3 };
    const second = decide(xksInput({ desired: edited, observed: xksDisconnected, status: first.nextStatus }));
    expect(types(second)).toEqual(['Approval Required']);
    expect(second.events[0]?.changes).toEqual([{ field: 'xksProxy.uriEndpoint', from: 'https://xks.example.com', to: 'https://xks3.example.com' }]);
  });

  it('announces no approval for a store of another type than desired: the identity mismatch is reported instead', () => {
    const decision = decide(cloudHsmInput({ desired: xksDesired({ name: 'payments-hsm' }) }));
    expect(decision.action.kind).toBe('none');
    expect(types(decision)).toEqual(['Store Drift Detected']);
    expect(decision.events[0]?.drift).toEqual(['type']);
  });

  it('sends a new XKS credential while a raised login budget waits: only what needs a second person waits', () => {
    const raised = xksDesired({ generation: 2, loginBudget: 3 });
    const decision = decide(
      xksInput({ desired: raised, observed: xksDisconnected, status: decide(xksInput()).nextStatus, xksCredentialVersion: 'c2' }),
    );
    expect(decision.action).toMatchObject({ kind: 'update', changes: { xks: { credential: { versionId: 'c2' } } } });
    expect(decision.reason).toBe('DISCONNECTED but desired CONNECTED: updating xksProxy.credential (secret version c2) before connecting');
    expect(types(decision)).toEqual(['Repair Started', 'Approval Required']);
    expect(decision.events[1]?.changes).toEqual([{ field: 'loginBudget', from: '2', to: '3' }]);
  });
});

describe('plan: whether a `cks retry` resets the login budget at once or waits for a second person', () => {
  /** A CloudHSM store's status after its first run (called inside tests only). */
  const seen = () => decide(cloudHsmInput()).nextStatus;
  const retriedWithRaise = cloudHsmDesired({ generation: 6, retryRequestedAt: NOW, loginBudget: 3 });
  it.each([
    {
      case: 'a CloudHSM store whose budget is unused: reset at once',
      input: () => cloudHsmInput({ observed: hsmDisconnected, status: seen(), desired: cloudHsmDesired({ generation: 6, retryRequestedAt: NOW }) }),
      failedLogins: 0,
      resetAt: NOW,
      waiting: [],
    },
    {
      case: 'an external key store (it has no kmsuser login): reset at once',
      input: () =>
        xksInput({
          observed: xksDisconnected,
          status: { ...decide(xksInput()).nextStatus, failedLogins: 2 },
          desired: xksDesired({ generation: 6, retryRequestedAt: NOW }),
        }),
      failedLogins: 0,
      resetAt: NOW,
      waiting: [],
    },
    {
      case: 'a used budget, no new password, a raised budget waiting too, one person signed: both wait',
      input: () =>
        cloudHsmInput({
          observed: hsmDisconnected,
          status: { ...seen(), failedLogins: 1 },
          desired: retriedWithRaise,
          signatures: signaturesOf(retriedWithRaise, [ALICE]),
        }),
      failedLogins: 1,
      resetAt: null,
      waiting: ['loginBudget', 'failedLogins'],
    },
    {
      case: 'a used budget with a new password, a raised budget waiting: the reset does not wait for the raise',
      input: () =>
        cloudHsmInput({ observed: hsmDisconnected, status: { ...seen(), failedLogins: 1 }, desired: retriedWithRaise, passwordVersion: 'v2' }),
      failedLogins: 0,
      resetAt: NOW,
      waiting: ['loginBudget'],
    },
  ])('$case', ({ input, failedLogins, resetAt, waiting }) => {
    const decision = decide(input());
    expect(decision.nextStatus).toMatchObject({ failedLogins, loginBudgetResetAt: resetAt });
    expect(decision.events.find((e) => e.detailType === 'Approval Required')?.drift ?? []).toEqual(waiting);
  });
});

describe('plan: a name KMS shows differently', () => {
  it('renames only a store whose id is declared: one found by name and renamed in KMS before its run is not renamed back', () => {
    const renamedInKms = cloudHsmObserved({ connectionState: 'DISCONNECTED', name: 'payments-hsm-renamed' });
    const undeclared = decide(cloudHsmInput({ observed: renamedInKms }));
    const declared = decide(cloudHsmInput({ observed: renamedInKms, desired: cloudHsmDesired({ id: STORE_ID }) }));
    expect(undeclared.action.kind).toBe('connect');
    expect(declared.action).toEqual({ kind: 'update', storeId: STORE_ID, changes: { newName: 'payments-hsm' } });
  });
});

describe('describeChanges (what `cks status` and `cks approve` print)', () => {
  it('writes each field old → new, (none) for a value absent on either side, comma-separated', () => {
    expect(
      describeChanges([
        { field: 'xksProxy.vpcEndpointServiceName', from: null, to: VPC_SERVICE },
        { field: 'xksProxy.vpcEndpointServiceName', from: VPC_SERVICE, to: null },
      ]),
    ).toBe(`xksProxy.vpcEndpointServiceName (none) → ${VPC_SERVICE}, xksProxy.vpcEndpointServiceName ${VPC_SERVICE} → (none)`);
  });
});

describe('the escalation hold awaiting a new password', () => {
  it('keeps holding while the password secret cannot be read (its version null): an unread version is never new', () => {
    const escalated = { ...decide(cloudHsmInput()).nextStatus, phase: 'ESCALATED' as const, appliedPasswordVersion: 'v1' };
    const held = { generation: 1, passwordVersion: 'v1', xksCredentialVersion: null, awaitingNewPassword: true };
    expect(holdReleased(cloudHsmInput({ passwordVersion: null }), escalated, held)).toBe(false);
  });
});

describe('plan: the drift a store in mode observe reports', () => {
  /** The drift of the one `Store Drift Detected` a run in mode observe reports; [] when it reports none. */
  function observedDrift(input: PlanInput): string[] {
    const decision = decide({ ...input, desired: { ...input.desired, mode: 'observe' } });
    expect(decision.action.kind).toBe('none');
    const reported = decision.events.filter((e) => e.detailType === 'Store Drift Detected');
    expect(reported.length).toBeLessThanOrEqual(1);
    return reported[0]?.drift ?? [];
  }
  const hsmDisconnectedDesired = cloudHsmDesired({ desiredState: 'DISCONNECTED' });
  const vpcObserved = xksObserved({
    xksProxy: { ...xksObserved().xksProxy!, connectivity: 'VPC_ENDPOINT_SERVICE', vpcEndpointServiceName: VPC_SERVICE },
  });
  const vpcDesired = xksDesired({
    xksProxy: { ...xksDesired().xksProxy!, connectivity: 'VPC_ENDPOINT_SERVICE', vpcEndpointServiceName: VPC_SERVICE },
  });
  it.each([
    { case: 'a CloudHSM store CONNECTED as desired', input: cloudHsmInput(), drift: [] },
    { case: 'an external key store CONNECTED as desired', input: xksInput(), drift: [] },
    { case: 'CONNECTING, desired CONNECTED', input: cloudHsmInput({ observed: cloudHsmObserved({ connectionState: 'CONNECTING' }) }), drift: [] },
    { case: 'DISCONNECTED, desired CONNECTED', input: cloudHsmInput({ observed: hsmDisconnected }), drift: ['connectionState'] },
    {
      case: 'DISCONNECTING, desired CONNECTED',
      input: cloudHsmInput({ observed: cloudHsmObserved({ connectionState: 'DISCONNECTING' }) }),
      drift: ['connectionState'],
    },
    {
      case: 'DISCONNECTED as desired, its cluster gone',
      input: cloudHsmInput({ desired: hsmDisconnectedDesired, observed: hsmDisconnected, clusters: clusters() }),
      drift: [],
    },
    {
      case: 'DISCONNECTING, desired DISCONNECTED',
      input: cloudHsmInput({ desired: hsmDisconnectedDesired, observed: cloudHsmObserved({ connectionState: 'DISCONNECTING' }) }),
      drift: [],
    },
    { case: 'CONNECTED, desired DISCONNECTED', input: cloudHsmInput({ desired: hsmDisconnectedDesired }), drift: ['connectionState'] },
    {
      case: 'renamed in KMS, its id declared',
      input: cloudHsmInput({ desired: cloudHsmDesired({ id: STORE_ID }), observed: cloudHsmObserved({ name: 'payments-hsm-old' }) }),
      drift: ['name'],
    },
    {
      case: 'CONNECTED, its cluster has no ACTIVE HSM',
      input: cloudHsmInput({ clusters: clusters(cluster({ activeHsms: 0 })) }),
      drift: ['activeHsms'],
    },
    { case: 'CONNECTED, its cluster gone', input: cloudHsmInput({ clusters: clusters() }), drift: ['activeHsms'] },
    {
      case: 'on another cluster than desired',
      input: cloudHsmInput({ desired: reclustered, clusters: clusters(cluster(), cluster({ clusterId: OTHER_CLUSTER })) }),
      drift: ['cloudHsmClusterId'],
    },
    {
      case: 'a CloudHSM store where an external key store is desired',
      input: cloudHsmInput({ desired: xksDesired({ name: 'payments-hsm' }) }),
      drift: ['type'],
    },
    { case: 'another proxy endpoint', input: xksInput({ desired: movedProxy }), drift: ['xksProxy.uriEndpoint'] },
    {
      case: 'public, desired behind a VPC endpoint service',
      input: xksInput({ desired: toVpc }),
      drift: ['xksProxy.connectivity', 'xksProxy.vpcEndpointServiceName'],
    },
    { case: 'behind a VPC endpoint service, desired public', input: xksInput({ observed: vpcObserved }), drift: ['xksProxy.connectivity'] },
    { case: 'behind the desired VPC endpoint service', input: xksInput({ desired: vpcDesired, observed: vpcObserved }), drift: [] },
    {
      case: 'public, still listing the desired VPC endpoint service: the name goes along with the connectivity change',
      input: xksInput({ desired: vpcDesired, observed: xksObserved({ xksProxy: { ...vpcObserved.xksProxy!, connectivity: 'PUBLIC_ENDPOINT' } }) }),
      drift: ['xksProxy.connectivity', 'xksProxy.vpcEndpointServiceName'],
    },
    {
      case: 'behind another VPC endpoint service',
      input: xksInput({
        desired: vpcDesired,
        observed: xksObserved({ xksProxy: { ...vpcObserved.xksProxy!, vpcEndpointServiceName: OTHER_VPC_SERVICE } }),
      }),
      drift: ['xksProxy.vpcEndpointServiceName'],
    },
    {
      case: 'an external key store whose proxy KMS does not show',
      input: xksInput({ desired: vpcDesired, observed: xksObserved({ xksProxy: undefined }) }),
      drift: ['xksProxy.uriEndpoint', 'xksProxy.uriPath', 'xksProxy.connectivity', 'xksProxy.vpcEndpointServiceName'],
    },
  ])('$case: drift $drift', ({ input, drift }) => {
    expect(observedDrift(input)).toEqual(drift);
  });
});

describe('fingerprint', () => {
  it('is always 16 hex digits, keeping leading zeros (ids and report keys have one length)', () => {
    expect(fingerprint([330])).toBe('09482a1b66404c8f');
  });
});
