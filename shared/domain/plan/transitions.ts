/**
 * The transition table: for a desired state × observed ConnectionState × our phase, the one handler
 * that decides the step once the guards have passed. Rows are read top to bottom; `*` matches any
 * phase (ESCALATED never reaches a row of a transition: the escalation-hold guard answers first).
 */
import { playbookFor, SITUATION_RUNBOOKS, type Situation } from '../playbooks.js';
import type {
  ClusterView,
  ConnectionErrorCode,
  ConnectionState,
  DesiredStore,
  EventDraft,
  Phase,
  PlanInput,
  StoreStatus,
  StoreType,
  UpdateChanges,
} from '../types.js';
import { count } from '../words.js';
import { awaitingApproval } from './approval.js';
import { changedFields, deferredChanges, identityDrift, isNew, secretChanges, settingsChanges, targetClusterId } from './compare.js';
import { type Ctx, situation } from './context.js';
import { fingerprint } from './hash.js';
import { type Awaiting, closed } from './status.js';
import { escalate, repairFailed, repairStep, type Step, succeed, wait, withReport } from './steps.js';
import { backingOff, backoffMs, CONNECTING_DEADLINE_MS, calledRecently, DISCONNECTING_DEADLINE_MS, iso, minutes, stuck } from './timing.js';

type Handler = (ctx: Ctx) => Step;

interface Transition {
  desired: DesiredStore['desiredState'];
  states: readonly ConnectionState[];
  phase: Phase | '*';
  handle: Handler;
}

const TRANSITIONS: readonly Transition[] = [
  { desired: 'CONNECTED', states: ['CONNECTED'], phase: '*', handle: connected },
  { desired: 'CONNECTED', states: ['CONNECTING'], phase: 'CONNECTING', handle: watchConnect },
  { desired: 'CONNECTED', states: ['CONNECTING'], phase: '*', handle: foreignTransition },
  { desired: 'CONNECTED', states: ['FAILED'], phase: 'CONNECTING', handle: connectFailed },
  { desired: 'CONNECTED', states: ['FAILED'], phase: '*', handle: startRepair },
  { desired: 'CONNECTED', states: ['DISCONNECTED'], phase: '*', handle: updateOrConnect },
  { desired: 'CONNECTED', states: ['DISCONNECTING'], phase: 'DISCONNECTING', handle: watchDisconnect },
  { desired: 'CONNECTED', states: ['DISCONNECTING'], phase: '*', handle: foreignTransition },
  { desired: 'DISCONNECTED', states: ['CONNECTED', 'CONNECTING', 'FAILED'], phase: '*', handle: disconnectAsDeclared },
  { desired: 'DISCONNECTED', states: ['DISCONNECTING'], phase: 'DISCONNECTING', handle: watchDisconnect },
  {
    desired: 'DISCONNECTED',
    states: ['DISCONNECTING'],
    phase: '*',
    handle: (ctx) => wait(ctx.cur, 'DISCONNECTING toward the desired DISCONNECTED: waiting'),
  },
  { desired: 'DISCONNECTED', states: ['DISCONNECTED'], phase: '*', handle: disconnectedAsDesired },
];

/** The handler of the first row that matches; every desired × state pair has a `*` row. */
export function transition(ctx: Ctx): Step {
  const desired = ctx.input.desired.desiredState;
  const state = ctx.observed.connectionState;
  const row = TRANSITIONS.find((t) => t.desired === desired && t.states.includes(state) && (t.phase === '*' || t.phase === ctx.cur.phase));
  if (row === undefined) throw new Error(`no transition for desired ${desired}, state ${state}, phase ${ctx.cur.phase}`);
  return row.handle(ctx);
}

/**
 * Every step for a store that is CONNECTED and desired CONNECTED: the password version seen now is
 * taken as applied, and settings drift, with a name KMS cannot change while CONNECTED, is reported (never
 * applied by disconnecting a healthy store).
 */
export function atConnected(ctx: Ctx, decide: (ctx: Ctx) => Step): Step {
  const { input, observed } = ctx;
  if (input.desired.desiredState !== 'CONNECTED' || observed.connectionState !== 'CONNECTED' || identityDrift(input, observed).length > 0) {
    return decide(ctx);
  }
  // KMS rotates the kmsuser password on every connect: no secret version seen while CONNECTED can hold a password a human set later.
  // A connect succeeded, so the kmsuser logins it counted are behind us.
  const baselined: Ctx =
    observed.type === 'AWS_CLOUDHSM'
      ? {
          ...ctx,
          cur: { ...ctx.cur, failedLogins: 0, ...(input.passwordVersion !== null ? { appliedPasswordVersion: input.passwordVersion } : {}) },
        }
      : ctx;
  const step = decide(baselined);
  const changes = deferredChanges(input, observed);
  const drift = changedFields(changes);
  if (drift.length === 0) return step;
  const reason = `${drift.join(', ')} ${drift.length === 1 ? 'differs' : 'differ'} from the desired state: reported only, the reconciler never disconnects a healthy store to apply drift (it is applied at the next repair, or disconnect the store to apply it now)`;
  const reported = withReport(step, ctx.cur, `drift:${fingerprint([drift, changes])}`, {
    detailType: 'Store Drift Detected',
    reason: `CONNECTED, but ${reason}`,
    drift,
    action: 'none',
  });
  return { ...reported, reason: `${step.reason}; ${reason}` };
}

function connected(ctx: Ctx): Step {
  const { input, observed, cur } = ctx;
  const clusterId = observed.cloudHsmClusterId;
  const cluster = clusterId !== undefined ? input.clusters.get(clusterId) : undefined;
  if (observed.type === 'EXTERNAL_KEY_STORE' || (cluster !== undefined && cluster.activeHsms > 0)) {
    if (cur.incidentId !== null)
      return succeed(input, cur, `CONNECTED: incident ${cur.incidentId} closed after ${count(cur.attempt, 'connect attempt')}`);
    if (cur.escalatedIncidentId !== null)
      return succeed(input, cur, `CONNECTED: the store escalated in incident ${cur.escalatedIncidentId} is healthy again`);
    const drift = changedFields(deferredChanges(input, observed));
    return wait(closed(cur), drift.length > 0 ? 'CONNECTED' : 'CONNECTED as desired');
  }
  // A CONNECTED store whose cluster has no ACTIVE HSM: every use of its keys fails.
  const what = `${situation(ctx)}: key use fails`;
  if (cluster === undefined) return escalate(input, cur, what, SITUATION_RUNBOOKS.connectedWithoutActiveHsm);
  return provideHsm(input, cur, cluster, what, 'connectedWithoutActiveHsm');
}

function watchConnect({ input, observed, cur }: Ctx): Step {
  const deadline = CONNECTING_DEADLINE_MS[observed.type];
  if (stuck(input, cur, deadline)) {
    return escalate(
      input,
      cur,
      `CONNECTING since ${iso(cur.phaseSince)}, past the ${minutes(deadline)} deadline for ${observed.type}: stuck`,
      SITUATION_RUNBOOKS.stuckConnecting,
    );
  }
  return wait(
    cur,
    `CONNECTING since ${iso(cur.phaseSince)} (repair attempt ${cur.attempt} of ${input.desired.maxAttempts}): waiting for CONNECTED or FAILED`,
  );
}

function watchDisconnect({ input, cur }: Ctx): Step {
  if (stuck(input, cur, DISCONNECTING_DEADLINE_MS)) {
    return escalate(
      input,
      cur,
      `DISCONNECTING since ${iso(cur.phaseSince)}, past the ${minutes(DISCONNECTING_DEADLINE_MS)} deadline: stuck`,
      SITUATION_RUNBOOKS.stuckDisconnecting,
    );
  }
  const toward = input.desired.desiredState === 'CONNECTED' ? '(repair)' : 'toward the desired DISCONNECTED';
  return wait(cur, `DISCONNECTING since ${iso(cur.phaseSince)} ${toward}: waiting for DISCONNECTED`);
}

/**
 * A transition the reconciler did not start: it waits for the result. One that its own call, recorded
 * as failed, started after all (the call went through but its answer was lost) is taken as its own.
 */
function foreignTransition({ observed, cur }: Ctx): Step {
  const connecting = observed.connectionState === 'CONNECTING';
  const result = connecting ? 'the result' : 'DISCONNECTED';
  const call = connecting ? 'connect' : 'disconnect';
  if (cur.lastAction?.kind === call && cur.lastAction.outcome === 'failed') {
    const phase = connecting ? 'CONNECTING' : 'DISCONNECTING';
    return wait({ ...cur, phase }, `${phase}: the ${call} call that failed went through after all (its answer was lost); waiting for ${result}`);
  }
  return wait(cur, `${observed.connectionState} (not started by the reconciler): waiting for ${result}`);
}

/** Our connect ended FAILED: that attempt is over. Escalate, back off, or (no attempts left) hand over. */
function connectFailed(ctx: Ctx): Step {
  const { input, observed } = ctx;
  // A CloudHSM connect that ended INVALID_CREDENTIALS was a failed kmsuser login: it counts against the budget.
  const failedLogin = observed.type === 'AWS_CLOUDHSM' && observed.connectionErrorCode === 'INVALID_CREDENTIALS';
  const cur: StoreStatus = { ...ctx.cur, phase: 'IDLE', failedLogins: ctx.cur.failedLogins + (failedLogin ? 1 : 0) };
  const what = situation(ctx);
  const maxAttempts = input.desired.maxAttempts;
  const failure = `connect attempt ${cur.attempt} of ${maxAttempts} ended ${what}`;
  const spent = loginBudgetSpent(input, cur, what, [repairFailed(input, cur, 'connect', failure, null)]);
  if (spent !== null) return spent;
  const verdict = classify({ ...ctx, cur });
  if (verdict.escalate) {
    return escalate(input, cur, `${what}: ${verdict.why}`, verdict.runbook, {
      before: [repairFailed(input, cur, 'connect', failure, null)],
      awaiting: verdict.awaiting,
    });
  }
  if (cur.attempt >= maxAttempts) {
    return escalate(
      input,
      cur,
      `${what}: failed ${cur.attempt} of ${maxAttempts} attempts, none left`,
      exhaustedRunbook(observed.connectionErrorCode, observed.type),
      {
        before: [repairFailed(input, cur, 'connect', failure, null)],
      },
    );
  }
  const nextAttemptAt = input.now + backoffMs(cur.attempt, input.desired.name);
  return {
    ...wait(
      { ...cur, nextAttemptAt },
      `${what}: connect attempt ${cur.attempt} of ${maxAttempts} failed (${verdict.why}); next attempt after ${iso(nextAttemptAt)}`,
    ),
    events: [repairFailed(input, cur, 'connect', failure, nextAttemptAt)],
  };
}

/** A FAILED store: escalate at once with the documented fix, or start (continue) a repair with a disconnect. */
function startRepair(ctx: Ctx): Step {
  const { input, observed, cur } = ctx;
  const what = situation(ctx);
  const verdict = classify(ctx);
  if (verdict.escalate) return escalate(input, cur, `${what}: ${verdict.why}`, verdict.runbook, { awaiting: verdict.awaiting });
  const blocked =
    gate(input, cur, `${what} (${verdict.why})`, observed.connectionErrorCode) ??
    awaitingApproval(ctx, what, settingsChanges(input, observed)) ??
    (observed.type === 'AWS_CLOUDHSM' ? preflight(input, cur, what) : null);
  if (blocked !== null) return blocked;
  return repairStep(
    input,
    cur,
    { kind: 'disconnect', storeId: observed.id },
    'DISCONNECTING',
    `${what} (${verdict.why}): disconnecting, the first step of repair attempt ${cur.attempt + 1} of ${input.desired.maxAttempts}`,
  );
}

/**
 * DISCONNECTED, desired CONNECTED: update what differs, then connect. In phase UPDATING our own
 * update is settling: while KMS still shows the old values the run waits instead of updating again.
 */
function updateOrConnect(ctx: Ctx): Step {
  const { input, observed, cur } = ctx;
  const what = situation(ctx);
  const blocked = gate(input, cur, what, null) ?? (observed.type === 'AWS_CLOUDHSM' ? preflight(input, cur, what) : null);
  if (blocked !== null) return blocked;

  const settings = settingsChanges(input, observed);
  const secrets = secretChanges(input, cur);
  // XKS settings and a new credential both live under `xks`: one update carries both.
  const xks = settings.xks || secrets.xks ? { xks: { ...settings.xks, ...secrets.xks } } : {};
  const changes: UpdateChanges = { ...settings, ...secrets, ...xks };
  const fields = changedFields(changes);
  if (fields.length > 0) {
    if (cur.phase === 'UPDATING' && calledRecently(input, cur, 'update')) {
      return wait(
        cur,
        `${what}: updated at ${iso(cur.lastActionAt ?? input.now)} but KMS still shows old ${fields.join(', ')}: waiting for it to show the change`,
      );
    }
    const unapproved = awaitingApproval(ctx, what, changes);
    if (unapproved !== null) return unapproved;
    // The core writes nextStatus only after the call succeeded, so recording the applied versions here is exact.
    return repairStep(
      input,
      cur,
      { kind: 'update', storeId: observed.id, changes },
      'UPDATING',
      `${what}: updating ${fields.join(', ')} before connecting`,
      {
        ...(changes.password !== undefined ? { appliedPasswordVersion: changes.password.versionId } : {}),
        ...(changes.xks?.credential !== undefined ? { appliedXksCredentialVersion: changes.xks.credential.versionId } : {}),
      },
    );
  }
  const attempt = cur.attempt + 1;
  return repairStep(
    input,
    cur,
    { kind: 'connect', storeId: observed.id },
    'CONNECTING',
    `${what}: connecting (repair attempt ${attempt} of ${input.desired.maxAttempts})`,
    {
      attempt,
      nextAttemptAt: null,
    },
  );
}

function disconnectAsDeclared(ctx: Ctx): Step {
  const { input, observed, cur } = ctx;
  const what = situation(ctx);
  if (backingOff(input, cur)) return wait(cur, `${what}: disconnecting after ${iso(cur.nextAttemptAt ?? input.now)} (backing off)`);
  // The operator's intent ends any repair: its incident is closed, a failure of this call opens a new one.
  const abandoned = cur.incidentId !== null ? `; repair incident ${cur.incidentId} ends` : '';
  const reason = `${what}: disconnecting as the operator declared${abandoned}`;
  return {
    action: { kind: 'disconnect', storeId: observed.id },
    reason,
    events: [{ detailType: 'Store Drift Detected', reason, drift: ['connectionState'], action: 'disconnect' }],
    status: { ...closed(cur), phase: 'DISCONNECTING' },
    reportKey: null,
  };
}

function disconnectedAsDesired({ input, cur }: Ctx): Step {
  const open = cur.incidentId ?? cur.escalatedIncidentId;
  return open !== null ? succeed(input, cur, `DISCONNECTED as desired: incident ${open} closed`) : wait(closed(cur), 'DISCONNECTED as desired');
}

// ---------------------------------------------------------------------------------------------
// What a repair checks before each mutating step

/** Backoff, the attempt budget and the login budget, checked before every mutating repair step. */
function gate(input: PlanInput, cur: StoreStatus, what: string, code: ConnectionErrorCode | null): Step | null {
  const maxAttempts = input.desired.maxAttempts;
  const spent = loginBudgetSpent(input, cur, what, []);
  if (spent !== null) return spent;
  if (backingOff(input, cur)) {
    return wait(
      cur,
      `${what}: backing off after attempt ${cur.attempt} of ${maxAttempts}, next attempt after ${iso(cur.nextAttemptAt ?? input.now)}`,
    );
  }
  if (cur.attempt >= maxAttempts) {
    return escalate(input, cur, `${what}: failed ${cur.attempt} of ${maxAttempts} attempts, none left`, exhaustedRunbook(code, input.desired.type));
  }
  return null;
}

/**
 * The reconciler's connects have caused `loginBudget` failed kmsuser logins since the last successful
 * connect: it sends no password and makes no connect, since a fifth failed login locks kmsuser out of
 * the cluster. Only an operator's `cks retry` (which resets the count) releases the hold.
 */
function loginBudgetSpent(input: PlanInput, cur: StoreStatus, what: string, before: EventDraft[]): Step | null {
  if (input.desired.type !== 'AWS_CLOUDHSM' || cur.failedLogins < input.desired.loginBudget) return null;
  const reason =
    `${what}: the reconciler's connects caused ${count(cur.failedLogins, 'failed kmsuser login')} since the last successful connect, its login budget of ${input.desired.loginBudget}; ` +
    'it sends no password and makes no connect until an operator resets the budget with `cks retry`, because CloudHSM locks kmsuser out after 5 failed logins';
  return escalate(input, cur, reason, SITUATION_RUNBOOKS.loginBudgetSpent, { before, awaiting: { loginBudgetReset: true } });
}

/** Retries are used up: the general runbook, then the fix for the last error code when there is one. */
export function exhaustedRunbook(code: ConnectionErrorCode | null, type: StoreType): string {
  return code === null ? SITUATION_RUNBOOKS.retriesExhausted : `${SITUATION_RUNBOOKS.retriesExhausted} ${code}: ${playbookFor(code, type).runbook}`;
}

/** CloudHSM pre-flight: never start a connect that must fail. Null when the target cluster is ready. */
function preflight(input: PlanInput, cur: StoreStatus, what: string): Step | null {
  const clusterId = targetClusterId(input);
  const cluster = clusterId !== undefined ? input.clusters.get(clusterId) : undefined;
  if (cluster === undefined) {
    return escalate(
      input,
      cur,
      `${what}: pre-flight: cluster ${clusterId ?? '(none declared)'} does not exist, so a connect would fail`,
      SITUATION_RUNBOOKS.clusterNotFound,
    );
  }
  if (cluster.state !== 'ACTIVE') {
    return escalate(
      input,
      cur,
      `${what}: pre-flight: cluster ${cluster.clusterId} is ${cluster.state}, not ACTIVE, so a connect would fail`,
      SITUATION_RUNBOOKS.clusterNotActive,
    );
  }
  if (cluster.activeHsms === 0)
    return provideHsm(input, cur, cluster, `${what}: pre-flight: cluster ${cluster.clusterId} has no ACTIVE HSM`, 'noActiveHsm');
  return null;
}

/** The cluster has no ACTIVE HSM: wait for one being created, create one (allowCreateHsm), or escalate. */
function provideHsm(input: PlanInput, cur: StoreStatus, cluster: ClusterView, what: string, situationName: Situation): Step {
  if (cluster.creatingHsms > 0) return wait(cur, `${what}; an HSM is being created, waiting for it to become ACTIVE`);
  if (calledRecently(input, cur, 'createHsm')) {
    return wait(cur, `${what}; an HSM was requested at ${iso(cur.lastActionAt ?? input.now)}, waiting for CloudHSM to show it`);
  }
  const awaiting = { awaiting: { activeHsmIn: cluster.clusterId } };
  if (!input.desired.allowCreateHsm) {
    return escalate(input, cur, `${what}; allowCreateHsm is false, so a human must add an HSM`, SITUATION_RUNBOOKS[situationName], awaiting);
  }
  const zone = cluster.availabilityZones.find((az) => !cluster.hsmAvailabilityZones.includes(az));
  if (zone === undefined) {
    return escalate(input, cur, `${what}; the cluster has no Availability Zone to add an HSM in`, SITUATION_RUNBOOKS[situationName], awaiting);
  }
  return (
    gate(input, cur, what, null) ??
    repairStep(
      input,
      cur,
      { kind: 'createHsm', clusterId: cluster.clusterId, availabilityZone: zone },
      'UPDATING',
      `${what}: creating an HSM in ${zone} (allowCreateHsm)`,
    )
  );
}

// ---------------------------------------------------------------------------------------------
// The playbook applied to a FAILED store

/** Repair (and why), or escalate at once with the documented fix. */
type Verdict =
  | { escalate: false; why: string }
  | {
      escalate: true;
      why: string;
      runbook: string;
      /** What, besides a new generation, releases the escalation. */
      awaiting: Awaiting;
    };

function classify({ input, observed, cur, released }: Ctx): Verdict {
  const code = observed.connectionErrorCode;
  if (code === null) return { escalate: false, why: 'FAILED without an error code, treated as retryable' };
  const playbook = playbookFor(code, observed.type);
  const repair = (why: string): Verdict => ({ escalate: false, why });
  const human = (why: string, awaiting: Awaiting = {}): Verdict => ({
    escalate: true,
    why: `${playbook.description} ${why}`,
    runbook: playbook.runbook,
    awaiting,
  });
  const retryOnce = 'the escalation hold was released, so the reconciler tries once more';
  if (!playbook.appliesTo.includes(observed.type)) return human(`KMS does not document ${code} for ${observed.type} stores; a human must look`);
  switch (playbook.class) {
    case 'retryable':
      return repair('retryable');
    case 'fixableFromDesired': {
      const target = input.desired.cloudHsmClusterId;
      if (target !== undefined && target !== observed.cloudHsmClusterId && input.clusters.has(target)) {
        return repair(`the desired state names cluster ${target}, which exists`);
      }
      return released ? repair(retryOnce) : human('The desired state names no other existing cluster, so a human must act.');
    }
    case 'fixableFromDesiredOrRetryable': {
      const drift = changedFields(settingsChanges(input, observed));
      return repair(drift.length > 0 ? `the desired ${drift.join(', ')} will be applied` : 'retryable: no desired XKS setting differs');
    }
    case 'fixableByNewSecret': {
      const cloudHsm = observed.type === 'AWS_CLOUDHSM';
      const fresh = cloudHsm
        ? isNew(input.passwordVersion, cur.appliedPasswordVersion)
        : isNew(input.xksCredentialVersion, cur.appliedXksCredentialVersion);
      const secret = cloudHsm ? 'password secret' : 'XKS credential secret';
      if (fresh) return repair(`the ${secret} has a new version to apply`);
      if (!cloudHsm && released) return repair(retryOnce);
      return human(
        `The ${secret} has no version newer than the one last applied, and re-sending an old one cannot help${cloudHsm ? ' (it counts toward locking kmsuser out)' : ''}.`,
        cloudHsm ? { newPassword: true } : {},
      );
    }
    case 'fixableByCreateHsm': {
      const cluster = input.clusters.get(targetClusterId(input) ?? '');
      if (cluster !== undefined && cluster.activeHsms > 0) return repair(`cluster ${cluster.clusterId} has an ACTIVE HSM now`);
      if (cluster !== undefined && cluster.creatingHsms > 0) return repair(`an HSM is being created in cluster ${cluster.clusterId}`);
      if (cluster !== undefined && input.desired.allowCreateHsm) return repair('allowCreateHsm: the reconciler adds an HSM');
      return human('The cluster has no ACTIVE HSM and allowCreateHsm is false.', cluster !== undefined ? { activeHsmIn: cluster.clusterId } : {});
    }
    case 'humanOnly':
      return released ? repair(retryOnce) : human('Only a human can fix this.');
    default: {
      const _exhaustive: never = playbook.class;
      throw new Error(`unknown playbook class ${String(_exhaustive)}`);
    }
  }
}
