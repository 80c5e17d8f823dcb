/**
 * What every `StatePort` does, whatever keeps the state: one lease per store name and per KMS store
 * id at a time, status writes only by the lease holder, generations that move only when a spec
 * changes or an operator asks, the settings beside the stores, the scope's unreachable mark, and the
 * table-wide scope registry. Run against `InMemoryState` (the tests' and the simulator's double) and
 * `DynamoStateAdapter` (the table), so the double cannot drift from the real thing.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { type DesiredStoreSpec, desiredSpecSchema } from '../../shared/domain/desired-schema.js';
import { invalidDesiredEvent } from '../../shared/domain/events.js';
import { emptyStatus } from '../../shared/domain/plan.js';
import { BASELINE_IN_FORCE } from '../../shared/domain/settings.js';
import type { Signature } from '../../shared/domain/signatures.js';
import { operatorPartitionKey } from '../../shared/domain/table-keys.js';
import type { Scope } from '../../shared/domain/types.js';
import { ConflictError } from '../../shared/errors.js';
import type { StatePort } from '../../shared/reconcile/ports.js';

/** The time the contract's writes happen at. */
export const NOW = Date.parse('2026-11-25T12:00:00Z');

/** A valid CloudHSM spec for the store `payments`, with `overrides`. */
export const paymentsSpec = (overrides: Record<string, unknown> = {}): DesiredStoreSpec =>
  desiredSpecSchema.parse({
    name: 'payments',
    desiredState: 'CONNECTED',
    cloudHsmClusterId: 'cluster-abcdefghijk',
    mode: 'enforce',
    ...overrides,
  }) as DesiredStoreSpec;

const spec = paymentsSpec;

/** Events as an outbox holds them. */
const page = invalidDesiredEvent({
  scope: { accountId: '111122223333', region: 'us-east-1' },
  storeName: 'payments',
  generation: 1,
  errors: [{ path: 'mode', message: 'bad' }],
});
const otherPage = invalidDesiredEvent({
  scope: { accountId: '111122223333', region: 'us-east-1' },
  storeName: 'ledger',
  generation: 1,
  errors: [{ path: 'mode', message: 'bad' }],
});

/** A digest a signature signs (the SHA-256 of some guarded values). */
const DIGEST = 'a'.repeat(64);

/** Signatures in signer order (a table returns them in its own order). */
const sortSigners = (signatures: readonly Signature[]): Signature[] => [...signatures].sort((a, b) => a.signer.localeCompare(b.signer));

/** The scope the contract's state serves, and another account-Region of the same table. */
export const CONTRACT_SCOPE: Scope = { accountId: '111122223333', region: 'us-east-1' };
const OTHER_SCOPE: Scope = { accountId: '444455556666', region: 'eu-west-1' };

/** One empty table for each test: the state of any scope on it. */
export type FreshTable = () => Promise<(scope: Scope) => StatePort>;

/** Registers the contract's tests for the states `freshTable()` gives: a new, empty table for each test. */
export function describeStatePort(name: string, freshTable: FreshTable): void {
  describe(`${name}: the StatePort contract`, () => {
    let state: StatePort;
    /** The state of another scope on the same table. */
    let other: StatePort;

    beforeEach(async () => {
      const table = await freshTable();
      state = table(CONTRACT_SCOPE);
      other = table(OTHER_SCOPE);
    });

    describe('leases', () => {
      it('gives a store lease to one owner at a time, and to another once it expires', async () => {
        expect(await state.acquireLease('payments', 'run-a', NOW, 60_000)).toMatchObject({ name: 'payments', status: null });
        expect(await state.acquireLease('payments', 'run-b', NOW + 1_000, 60_000)).toBeNull();
        expect(await state.acquireLease('payments', 'run-b', NOW + 61_000, 60_000)).not.toBeNull();
      });

      it('holds a lease up to its last millisecond and frees it the millisecond after', async () => {
        await state.acquireLease('payments', 'run-a', NOW, 60_000);

        expect(await state.acquireLease('payments', 'run-b', NOW + 60_000, 60_000)).toBeNull();
        expect(await state.acquireLease('payments', 'run-b', NOW + 60_001, 60_000)).not.toBeNull();
      });

      it('lets the holder take its own lease again, and leases each store on its own', async () => {
        await state.acquireLease('payments', 'run-a', NOW, 60_000);

        expect(await state.acquireLease('payments', 'run-a', NOW + 1_000, 60_000)).not.toBeNull();
        expect(await state.acquireLease('ledger', 'run-b', NOW + 1_000, 60_000)).not.toBeNull();
        expect(await state.acquireLease('payments', 'run-b', NOW + 2_000, 60_000)).toBeNull();
      });

      it('releases a lease for its holder only', async () => {
        await state.acquireLease('payments', 'run-a', NOW, 60_000);

        await state.releaseLease('payments', 'run-b');
        expect(await state.acquireLease('payments', 'run-c', NOW + 1_000, 60_000)).toBeNull();
        await state.releaseLease('payments', 'run-a');
        expect(await state.acquireLease('payments', 'run-c', NOW + 2_000, 60_000)).not.toBeNull();
      });

      it('holds a lease per KMS store id as well as per name, and frees both with the status write or a release', async () => {
        expect(await state.acquireLease('a', 'run-1', NOW, 60_000, 'cks-1')).not.toBeNull();
        expect(await state.acquireLease('b', 'run-2', NOW + 1_000, 60_000, 'cks-1')).toBeNull();
        // The failed attempt took nothing: b's own name lease was given back.
        expect(await state.acquireLease('b', 'run-3', NOW + 1_000, 60_000)).not.toBeNull();
        await state.releaseLease('b', 'run-3');
        await state.saveStatus({ ...emptyStatus('a', NOW), storeId: 'cks-1' }, 'run-1', { now: NOW, outbox: [] });
        expect(await state.acquireLease('b', 'run-2', NOW + 2_000, 60_000, 'cks-1')).not.toBeNull();
        await state.releaseLease('b', 'run-2');
        expect(await state.acquireLease('a', 'run-4', NOW + 3_000, 60_000, 'cks-1')).not.toBeNull();
      });

      it('keeps a KMS store id to one run across two store names, until that run releases or its lease expires', async () => {
        expect(await state.acquireLease('a', 'run-1', NOW, 60_000, 'cks-1')).not.toBeNull();

        const whileHeld = await state.acquireLease('b', 'run-2', NOW + 1_000, 60_000, 'cks-1');
        await state.releaseLease('a', 'run-1');
        const released = await state.acquireLease('b', 'run-2', NOW + 2_000, 60_000, 'cks-1');
        const byA = await state.acquireLease('a', 'run-3', NOW + 3_000, 60_000, 'cks-1');
        const expired = await state.acquireLease('a', 'run-3', NOW + 62_001, 60_000, 'cks-1');

        expect([whileHeld, released, byA]).toEqual([null, expect.objectContaining({ name: 'b' }), null]);
        expect(expired).toMatchObject({ name: 'a' });
      });

      it('frees the KMS store id a lease was taken with when its status is written, whatever store id the status names', async () => {
        await state.acquireLease('a', 'run-1', NOW, 60_000, 'cks-1');

        await state.saveStatus({ ...emptyStatus('a', NOW), storeId: null }, 'run-1', { now: NOW, outbox: [] });

        expect(await state.acquireLease('b', 'run-2', NOW + 1_000, 60_000, 'cks-1')).not.toBeNull();
      });

      it('keeps the KMS store id leased through a status write that holds the lease, and frees it with the release', async () => {
        await state.acquireLease('a', 'run-1', NOW, 60_000, 'cks-1');
        await state.saveStatus({ ...emptyStatus('a', NOW), storeId: 'cks-1' }, 'run-1', { now: NOW, outbox: [], holdLeaseUntil: NOW + 60_000 });

        const held = await state.acquireLease('b', 'run-2', NOW + 1_000, 60_000, 'cks-1');
        await state.releaseLease('a', 'run-1');
        const released = await state.acquireLease('b', 'run-2', NOW + 2_000, 60_000, 'cks-1');

        expect(held).toBeNull();
        expect(released).toMatchObject({ name: 'b' });
      });

      it('hands the next holder the record as the previous holder left it', async () => {
        await state.putDesired([spec()], NOW);
        await state.acquireLease('payments', 'run-a', NOW, 60_000);
        const status = { ...emptyStatus('payments', NOW), phase: 'DISCONNECTING' as const, attempt: 1 };
        await state.saveStatus(status, 'run-a', { now: NOW, outbox: [] });

        const record = await state.acquireLease('payments', 'run-b', NOW + 1_000, 60_000);

        expect(record).toEqual({
          name: 'payments',
          desired: { ...spec(), generation: 1, paused: false, changedBy: null },
          status,
          statusError: null,
          signatures: [],
          outbox: [],
        });
      });

      it('keeps the lease past the status write when asked to hold it, until the time given', async () => {
        await state.acquireLease('payments', 'run-a', NOW, 60_000);

        await state.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW, outbox: [], holdLeaseUntil: NOW + 120_000 });

        expect(await state.acquireLease('payments', 'run-b', NOW + 61_000, 60_000)).toBeNull();
        expect(await state.acquireLease('payments', 'run-b', NOW + 120_001, 60_000)).not.toBeNull();
      });
    });

    describe('conditional status writes', () => {
      it('writes a status only for the lease holder, and releases the lease with it', async () => {
        await state.acquireLease('payments', 'run-a', NOW, 60_000);
        await expect(state.saveStatus(emptyStatus('payments', NOW), 'run-b', { now: NOW, outbox: [] })).rejects.toThrow(ConflictError);
        await state.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW, outbox: [] });

        expect((await state.load('payments')).status).toEqual(emptyStatus('payments', NOW));
        expect(await state.acquireLease('payments', 'run-b', NOW + 1, 60_000)).not.toBeNull();
      });

      it('refuses the status of a run whose lease expired and was taken, and keeps the new holder’s', async () => {
        await state.acquireLease('payments', 'run-a', NOW, 60_000);
        await state.acquireLease('payments', 'run-b', NOW + 61_000, 60_000);
        const late = { ...emptyStatus('payments', NOW), lastReason: 'written late by run-a' };
        const current = { ...emptyStatus('payments', NOW + 61_000), lastReason: 'written by run-b' };

        await expect(state.saveStatus(late, 'run-a', { now: NOW + 61_000, outbox: [] })).rejects.toThrow(ConflictError);
        await state.saveStatus(current, 'run-b', { now: NOW + 61_000, outbox: [] });

        expect((await state.load('payments')).status).toEqual(current);
      });

      it('refuses the status of a run whose lease ran out, even when no other run took it (a call slower than the lease)', async () => {
        await state.acquireLease('payments', 'run-a', NOW, 60_000);
        await state.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW + 30_000, outbox: [], holdLeaseUntil: NOW + 90_000 });

        await expect(state.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW + 90_001, outbox: [] })).rejects.toThrow(ConflictError);
        await state.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW + 90_000, outbox: [] });

        expect(await state.acquireLease('payments', 'run-b', NOW + 90_000, 60_000)).not.toBeNull();
      });

      it('refuses a status from a run that never held the lease, naming the store', async () => {
        const write = state.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW, outbox: [] });
        await expect(write).rejects.toThrow(ConflictError);
        await expect(write).rejects.toThrow('lease on store "payments" ran out or was lost before its status was written');

        expect((await state.load('payments')).status).toBeNull();
      });
    });

    describe('generations', () => {
      it('bumps the generation only when a spec changes, and keeps a pause across applies', async () => {
        expect(await state.putDesired([spec()], NOW)).toEqual(['payments']);
        expect(await state.putDesired([spec()], NOW)).toEqual([]);
        await state.request('payments', 'pause', NOW);
        expect(await state.putDesired([spec({ maxAttempts: 5 })], NOW)).toEqual(['payments']);

        expect((await state.load('payments')).desired).toMatchObject({ generation: 3, paused: true, maxAttempts: 5 });
      });

      it('writes only the changed stores of an apply and names them', async () => {
        await state.putDesired([spec(), spec({ name: 'ledger' })], NOW);

        const written = await state.putDesired([spec(), spec({ name: 'ledger', desiredState: 'DISCONNECTED' })], NOW);

        expect(written).toEqual(['ledger']);
        expect((await state.load('payments')).desired).toMatchObject({ generation: 1 });
        expect((await state.load('ledger')).desired).toMatchObject({ generation: 2, desiredState: 'DISCONNECTED' });
      });

      it('bumps the generation on every retry, pause and resume; pause and resume set paused', async () => {
        await state.putDesired([spec()], NOW);

        await state.request('payments', 'pause', NOW);
        const paused = (await state.load('payments')).desired;
        await state.request('payments', 'resume', NOW);
        const resumed = (await state.load('payments')).desired;
        await state.request('payments', 'retry', NOW);

        expect(paused).toMatchObject({ generation: 2, paused: true });
        expect(resumed).toMatchObject({ generation: 3, paused: false });
        expect((await state.load('payments')).desired).toMatchObject({ generation: 4, paused: false });
      });

      it('records who changed a spec, and keeps an operator retry across applies', async () => {
        await state.putDesired([spec()], NOW, 'arn:aws:iam::111122223333:user/alice');
        await state.request('payments', 'retry', NOW + 1_000);

        await state.putDesired([spec({ maxAttempts: 5 })], NOW + 2_000, 'arn:aws:iam::111122223333:user/bob');

        expect((await state.load('payments')).desired).toMatchObject({
          generation: 3,
          retryRequestedAt: NOW + 1_000,
          changedBy: 'arn:aws:iam::111122223333:user/bob',
        });
      });

      it('refuses an operator request for a store that is not declared', async () => {
        await expect(state.request('ghost', 'retry', NOW)).rejects.toThrow(/no desired store named "ghost"/);
      });
    });

    describe('signatures', () => {
      const signature = (signer: string, subject: string, generation = 2, scope: Scope = CONTRACT_SCOPE): Signature => ({
        signer,
        scopePk: operatorPartitionKey(scope),
        subject,
        generation,
        digest: DIGEST,
        signedAt: NOW,
      });

      it("reads a store's signatures with its record and the settings' with the settings, each scope its own", async () => {
        await state.putDesired([spec(), spec({ name: 'ledger' })], NOW);
        const alice = signature('principal/AIDAALICE', 'STORE#payments');
        const bob = signature('source/bob', 'STORE#payments', 3);
        const settings = signature('source/bob', 'SETTINGS', 4);
        for (const s of [alice, bob, settings, signature('source/carol', 'STORE#payments', 2, OTHER_SCOPE)]) await state.sign(s);

        const all = await state.loadAll();
        const byName = (name: string) => all.records.find((r) => r.name === name)?.signatures;

        expect(sortSigners((await state.load('payments')).signatures)).toEqual([alice, bob]);
        expect(sortSigners(byName('payments') ?? [])).toEqual([alice, bob]);
        expect(byName('ledger')).toEqual([]);
        expect(all.settingsSignatures).toEqual([settings]);
        expect(all.records.map((r) => r.name).sort()).toEqual(['ledger', 'payments']);
      });

      it('keeps one signature per signer and change, however often it signs, and one per change it signs', async () => {
        await state.putDesired([spec()], NOW);

        await state.sign(signature('source/alice', 'STORE#payments'));
        await state.sign({ ...signature('source/alice', 'STORE#payments'), signedAt: NOW + 1_000 });
        await state.sign(signature('source/alice', 'STORE#payments', 3));

        const generations = (await state.load('payments')).signatures.map((s) => [s.signer, s.generation]);
        expect(generations.sort()).toEqual([
          ['source/alice', 2],
          ['source/alice', 3],
        ]);
      });

      it('reads no signature of a signer no policy lets anyone sign as', async () => {
        await state.putDesired([spec()], NOW);

        await state.sign(signature('bob', 'STORE#payments'));

        expect((await state.load('payments')).signatures).toEqual([]);
      });
    });

    describe('removing a store', () => {
      it('deletes its desired item, and says whether there was one', async () => {
        await state.putDesired([spec(), spec({ name: 'ledger' })], NOW);

        expect(await state.deleteDesired('payments')).toBe(true);
        expect(await state.deleteDesired('payments')).toBe(false);
        expect(await state.load('payments')).toMatchObject({ desired: null });
        expect((await state.load('ledger')).desired).not.toBeNull();
      });

      it('closes a status only for the holder of its unexpired lease', async () => {
        await state.acquireLease('payments', 'run-a', NOW, 60_000);
        await state.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW, outbox: [], holdLeaseUntil: NOW + 60_000 });

        const unleased = await state.deleteStatus('payments', 'run-b', NOW + 1_000);
        const expired = await state.deleteStatus('payments', 'run-a', NOW + 60_001);
        const held = await state.deleteStatus('payments', 'run-a', NOW + 60_000);

        expect([unleased, expired, held]).toEqual([false, false, true]);
        expect((await state.load('payments')).status).toBeNull();
        expect(await state.acquireLease('payments', 'run-b', NOW + 60_000, 60_000)).toMatchObject({ status: null, outbox: [] });
      });

      it('keeps a status whose outbox still holds events, until the holder empties it', async () => {
        await state.acquireLease('payments', 'run-a', NOW, 60_000);
        await state.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW, outbox: [page], holdLeaseUntil: NOW + 60_000 });

        const owing = await state.deleteStatus('payments', 'run-a', NOW + 1_000);
        await state.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW, outbox: [], holdLeaseUntil: NOW + 60_000 });
        const emptied = await state.deleteStatus('payments', 'run-a', NOW + 2_000);

        expect([owing, emptied]).toEqual([false, true]);
        expect((await state.load('payments')).status).toBeNull();
      });
    });

    describe('settings and the scope', () => {
      it('starts with the default settings, no regional incident and no store', async () => {
        const all = await state.loadAll();

        expect(all).toEqual({
          records: [],
          settings: { killSwitch: false, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3 },
          settingsSignatures: [],
          settingsError: null,
          settingsInForce: null,
          regionalIncident: null,
        });
        expect(await state.getSettings()).toEqual(all.settings);
        expect(await state.loadSettings()).toEqual({
          settings: all.settings,
          settingsSignatures: [],
          settingsError: null,
          settingsInForce: null,
        });
      });

      it('reads every store, the settings and the regional-incident mark in one partition', async () => {
        await state.putDesired([spec(), spec({ name: 'ledger' })], NOW);
        await state.putSettings({ killSwitch: true, blastRadiusMaxFailedShare: 0.25, blastRadiusMinFailed: 2 });
        await state.openRegionalIncident(NOW, page);

        const all = await state.loadAll();

        expect(all.records.map((r) => r.name).sort()).toEqual(['ledger', 'payments']);
        expect(all.settings).toEqual({ killSwitch: true, blastRadiusMaxFailedShare: 0.25, blastRadiusMinFailed: 2, generation: 1 });
        expect(all.regionalIncident).toEqual({ since: NOW, outbox: [page] });
      });

      it('gives the settings the next generation at every write, whatever generation the caller passes', async () => {
        await state.putSettings({ killSwitch: false, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3 });
        const first = await state.getSettings();
        await state.putSettings({ ...first, killSwitch: true, generation: 40 });

        expect(first.generation).toBe(1);
        expect(await state.getSettings()).toEqual({ killSwitch: true, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3, generation: 2 });
      });

      it('records the settings in force by conditional write: one record per revision, the loser answered with the winner', async () => {
        const values = { approvalForCloudHsm: true, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3 };
        const first = await state.recordSettingsInForce({ values, announced: 'evt-1', outbox: [page] }, null);
        const lost = await state.recordSettingsInForce({ values: { ...values, approvalForCloudHsm: false }, announced: null, outbox: [] }, null);
        const next = await state.recordSettingsInForce({ values: { ...values, blastRadiusMinFailed: 1 }, announced: 'evt-1', outbox: [page] }, 1);
        const stale = await state.recordSettingsInForce({ values, announced: null, outbox: [] }, 1);

        expect(first).toEqual({ record: { values, revision: 1, announced: 'evt-1', outbox: [page] }, written: true });
        expect(lost).toEqual({ record: first.record, written: false });
        expect(next).toMatchObject({ record: { revision: 2, values: { blastRadiusMinFailed: 1 } }, written: true });
        expect(stale).toEqual({ record: next.record, written: false });
        expect((await state.loadAll()).settingsInForce).toEqual(next.record);
        expect((await state.loadSettings()).settingsInForce).toEqual(next.record);
      });

      it('keeps the settings in force apart from the desired settings: neither write changes the other', async () => {
        await state.putSettings({ killSwitch: true, blastRadiusMaxFailedShare: 0.25, blastRadiusMinFailed: 2 });
        const values = { approvalForCloudHsm: false, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3 };
        await state.recordSettingsInForce({ values, announced: null, outbox: [] }, null);

        const all = await state.loadAll();

        expect(all.settings).toEqual({ killSwitch: true, blastRadiusMaxFailedShare: 0.25, blastRadiusMinFailed: 2, generation: 1 });
        expect(all.settingsInForce).toEqual({ values, revision: 1, announced: null, outbox: [] });
      });

      it('empties the outbox of the settings in force once the event it announced went out, and not for another event', async () => {
        const values = { approvalForCloudHsm: true, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3 };
        await state.recordSettingsInForce({ values, announced: 'evt-2', outbox: [page, otherPage] }, null);

        await state.announceSettings('evt-1');
        const untouched = (await state.loadSettings()).settingsInForce;
        await state.announceSettings('evt-2');

        expect(untouched?.outbox).toEqual([page, otherPage]);
        expect((await state.loadSettings()).settingsInForce).toEqual({ values, revision: 1, announced: 'evt-2', outbox: [] });
      });

      it('opens one regional incident however many try, keeping the first page, and answers the others with it', async () => {
        const first = await state.openRegionalIncident(NOW, page);
        const second = await state.openRegionalIncident(NOW + 1_000, otherPage);

        expect(first).toEqual({ since: NOW, outbox: [page], opened: true });
        expect(second).toEqual({ since: NOW, outbox: [page], opened: false });
        expect((await state.loadAll()).regionalIncident).toEqual({ since: NOW, outbox: [page] });
      });

      it('empties the page of the incident announced and ends it, leaving another incident and the settings alone', async () => {
        await state.putSettings({ killSwitch: true, blastRadiusMaxFailedShare: 0.25, blastRadiusMinFailed: 2 });
        await state.openRegionalIncident(NOW, page);

        await state.announceRegionalIncident(NOW + 1);
        await state.endRegionalIncident(NOW + 1);
        const untouched = (await state.loadAll()).regionalIncident;
        await state.announceRegionalIncident(NOW);
        const announced = (await state.loadAll()).regionalIncident;
        await state.endRegionalIncident(NOW);

        expect(untouched).toEqual({ since: NOW, outbox: [page] });
        expect(announced).toEqual({ since: NOW, outbox: [] });
        expect(await state.loadAll()).toMatchObject({ regionalIncident: null, settings: { killSwitch: true } });
        expect(await state.openRegionalIncident(NOW + 2_000, page)).toMatchObject({ since: NOW + 2_000, opened: true });
      });
    });

    describe('the fleet: scope registry, closed scopes and unreachable mark', () => {
      const mark = (incidentId: string) => ({ incidentId, since: NOW, errorCode: 'AccessDenied', operation: 'STS.AssumeRole', announced: false });

      it('registers its scope once and lists it', async () => {
        expect(await state.listScopes()).toEqual([]);
        expect(await state.registerScope()).toBe(true);
        expect(await state.registerScope()).toBe(false);
        expect(await state.listScopes()).toEqual([state.scope]);
      });

      it('lists every scope registered on the table, sorted, from any scope, and keeps each scope’s stores apart', async () => {
        await other.registerScope();
        await state.registerScope();
        await other.putDesired([spec()], NOW);

        expect(await state.listScopes()).toEqual([CONTRACT_SCOPE, OTHER_SCOPE]);
        expect(await other.listScopes()).toEqual([CONTRACT_SCOPE, OTHER_SCOPE]);
        expect((await state.loadAll()).records).toEqual([]);
        expect((await other.loadAll()).records.map((r) => r.name)).toEqual(['payments']);
      });

      it('closes an empty registered scope: listed no more until it is registered again', async () => {
        await state.registerScope();
        await other.registerScope();

        expect(await state.closeScope(NOW)).toBe(true);
        const whileClosed = await other.listScopes();
        expect(await state.registerScope()).toBe(false);

        expect(whileClosed).toEqual([OTHER_SCOPE]);
        expect(await other.listScopes()).toEqual([CONTRACT_SCOPE, OTHER_SCOPE]);
      });

      it('closes no scope that is not registered', async () => {
        expect(await state.closeScope(NOW)).toBe(false);
        await state.registerScope();
        expect(await state.listScopes()).toEqual([CONTRACT_SCOPE]);
      });

      it('keeps a scope open while it declares a store, holds a status, or owes a regional or settings page', async () => {
        await state.registerScope();
        const refusals: boolean[] = [];

        await state.putDesired([spec()], NOW);
        refusals.push(await state.closeScope(NOW));
        await state.deleteDesired('payments');
        await state.acquireLease('payments', 'run-a', NOW, 60_000);
        await state.saveStatus(emptyStatus('payments', NOW), 'run-a', { now: NOW, outbox: [], holdLeaseUntil: NOW + 60_000 });
        refusals.push(await state.closeScope(NOW));
        await state.deleteStatus('payments', 'run-a', NOW);
        await state.openRegionalIncident(NOW, page);
        refusals.push(await state.closeScope(NOW));
        await state.announceRegionalIncident(NOW);
        refusals.push(await state.closeScope(NOW));
        await state.endRegionalIncident(NOW);
        await state.recordSettingsInForce({ values: BASELINE_IN_FORCE, announced: page.detail.eventId, outbox: [page] }, null);
        refusals.push(await state.closeScope(NOW));
        const listed = await state.listScopes();
        await state.announceSettings(page.detail.eventId);

        expect(refusals).toEqual([false, false, false, false, false]);
        expect(listed).toEqual([CONTRACT_SCOPE]);
        expect(await state.closeScope(NOW)).toBe(true);
        expect(await state.listScopes()).toEqual([]);
      });

      it('keeps the first unreachable incident opened, records its announcement, and ends it', async () => {
        expect(await state.openUnreachable(mark('scope-1'))).toEqual(mark('scope-1'));
        expect(await state.openUnreachable(mark('scope-2'))).toEqual(mark('scope-1'));
        await state.announceUnreachable('scope-2');
        expect((await state.loadAll()).unreachable).toEqual(mark('scope-1'));
        await state.announceUnreachable('scope-1');
        expect((await state.loadAll()).unreachable).toEqual({ ...mark('scope-1'), announced: true });
        await state.clearUnreachable('scope-1');
        expect((await state.loadAll()).unreachable).toBeUndefined();
        expect(await state.openUnreachable(mark('scope-3'))).toEqual(mark('scope-3'));
      });

      it('keeps an unreachable mark to its own scope, and leaves the stores and the regional mark alone', async () => {
        await state.putDesired([spec()], NOW);
        await state.openRegionalIncident(NOW, page);

        await state.openUnreachable(mark('scope-1'));

        expect((await other.loadAll()).unreachable).toBeUndefined();
        expect(await other.openUnreachable(mark('scope-2'))).toEqual(mark('scope-2'));
        await other.clearUnreachable('scope-2');
        expect(await state.loadAll()).toMatchObject({
          records: [expect.objectContaining({ name: 'payments' })],
          regionalIncident: { since: NOW, outbox: [page] },
          unreachable: mark('scope-1'),
        });
      });

      it('ends only the incident it names: a newer one another run opened stays open', async () => {
        await state.openUnreachable(mark('scope-2'));

        await state.clearUnreachable('scope-1');
        const kept = (await state.loadAll()).unreachable;
        await state.clearUnreachable('scope-2');

        expect(kept).toEqual(mark('scope-2'));
        expect((await state.loadAll()).unreachable).toBeUndefined();
      });

      it('ends no incident when none is open, and reads the next one opened afterwards', async () => {
        await state.clearUnreachable('scope-1');
        await state.announceUnreachable('scope-1');

        expect((await state.loadAll()).unreachable).toBeUndefined();
        expect(await state.openUnreachable(mark('scope-1'))).toEqual(mark('scope-1'));
      });
    });
  });
}
