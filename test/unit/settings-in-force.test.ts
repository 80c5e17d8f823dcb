import { describe, expect, it } from 'vitest';
import { BASELINE_IN_FORCE, effectiveSettings, type GuardedSettings, settingsChange } from '../../shared/domain/settings.js';
import { digestOf, type Signature } from '../../shared/domain/signatures.js';
import { DEFAULT_SETTINGS, type Settings } from '../../shared/domain/types.js';

const IN_FORCE: GuardedSettings = { approvalForCloudHsm: true, blastRadiusMaxFailedShare: 0.5, blastRadiusMinFailed: 3 };
const desired = (overrides: Partial<Settings>): Settings => ({ ...DEFAULT_SETTINGS, approvalForCloudHsm: true, generation: 4, ...overrides });

/** Signatures of exactly the change `settings` are, one per signer. */
const signed = (settings: Settings, signers: readonly string[]): Signature[] =>
  signers.map((signer) => ({ signer, scopePk: 'DESIRED#111122223333#us-east-1', ...settingsChange(settings), signedAt: 0 }));

describe('effectiveSettings: tightening at once, weakening only with two persons', () => {
  const cases: Array<{ name: string; change: Partial<Settings>; signedBy: string[]; inForce: Partial<GuardedSettings>; waits: string[] }> = [
    { name: 'nothing changed', change: {}, signedBy: [], inForce: {}, waits: [] },
    {
      name: 'approval for CloudHSM off, unsigned: stays on',
      change: { approvalForCloudHsm: false },
      signedBy: [],
      inForce: {},
      waits: ['approvalForCloudHsm'],
    },
    {
      name: 'approval for CloudHSM off, signed by one person: stays on',
      change: { approvalForCloudHsm: false },
      signedBy: ['principal/AIDAWRITER'],
      inForce: {},
      waits: ['approvalForCloudHsm'],
    },
    {
      name: 'approval for CloudHSM off, one person signing twice: stays on',
      change: { approvalForCloudHsm: false },
      signedBy: ['principal/AIDAWRITER', 'principal/AIDAWRITER'],
      inForce: {},
      waits: ['approvalForCloudHsm'],
    },
    {
      name: 'approval for CloudHSM off, signed by two persons: off',
      change: { approvalForCloudHsm: false },
      signedBy: ['principal/AIDAWRITER', 'source/alice'],
      inForce: { approvalForCloudHsm: false },
      waits: [],
    },
    {
      name: 'approval for CloudHSM off, signed in two sessions of one role: one person, stays on',
      change: { approvalForCloudHsm: false },
      signedBy: ['principal/AROAOPS:ops-1', 'principal/AROAOPS:ops-2'],
      inForce: {},
      waits: ['approvalForCloudHsm'],
    },
    {
      name: 'a higher blast-radius share, unsigned: stays',
      change: { blastRadiusMaxFailedShare: 1 },
      signedBy: [],
      inForce: {},
      waits: ['blastRadiusMaxFailedShare'],
    },
    {
      name: 'a higher blast-radius minimum, unsigned: stays',
      change: { blastRadiusMinFailed: 10 },
      signedBy: [],
      inForce: {},
      waits: ['blastRadiusMinFailed'],
    },
    {
      name: 'a higher share and minimum, signed by two persons: both in force',
      change: { blastRadiusMaxFailedShare: 1, blastRadiusMinFailed: 10 },
      signedBy: ['source/alice', 'source/bob'],
      inForce: { blastRadiusMaxFailedShare: 1, blastRadiusMinFailed: 10 },
      waits: [],
    },
    {
      name: 'a lower share, one person: at once',
      change: { blastRadiusMaxFailedShare: 0.2 },
      signedBy: [],
      inForce: { blastRadiusMaxFailedShare: 0.2 },
      waits: [],
    },
    {
      name: 'a lower minimum, one person: at once',
      change: { blastRadiusMinFailed: 1 },
      signedBy: [],
      inForce: { blastRadiusMinFailed: 1 },
      waits: [],
    },
    {
      name: 'a lower share beside a higher minimum: the share at once, the minimum waits',
      change: { blastRadiusMaxFailedShare: 0.2, blastRadiusMinFailed: 5 },
      signedBy: [],
      inForce: { blastRadiusMaxFailedShare: 0.2 },
      waits: ['blastRadiusMinFailed'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const judged = effectiveSettings(desired(c.change), IN_FORCE, signed(desired(c.change), c.signedBy));

      expect(judged.inForce).toEqual({ ...IN_FORCE, ...c.inForce });
      expect(judged.waiting?.changes.map((change) => change.field) ?? []).toEqual(c.waits);
    });
  }

  it('turns the approval rule on at once, and acts on the values in force while a weakening waits', () => {
    const on = effectiveSettings(desired({ approvalForCloudHsm: true }), { ...IN_FORCE, approvalForCloudHsm: false }, []);
    const held = effectiveSettings(desired({ approvalForCloudHsm: false, blastRadiusMaxFailedShare: 1, killSwitch: true }), IN_FORCE, []);

    expect(on).toMatchObject({ settings: { approvalForCloudHsm: true }, waiting: null });
    expect(held.settings).toEqual({ ...DEFAULT_SETTINGS, approvalForCloudHsm: true, generation: 4, killSwitch: true });
  });

  it('applies the kill switch and the health thresholds as written, in either direction, with one person', () => {
    const off = effectiveSettings(desired({ killSwitch: false, health: { proxyLatencyMs: 5000 } }), IN_FORCE, []);

    expect(off.settings).toMatchObject({ killSwitch: false, health: { proxyLatencyMs: 5000 } });
    expect(off.waiting).toBeNull();
  });

  it('names what waits: the generation, the digest of the desired guarded values, and each field from the value in force to the desired one', () => {
    const judged = effectiveSettings(desired({ approvalForCloudHsm: false, blastRadiusMaxFailedShare: 0.9 }), IN_FORCE, []);

    expect(judged.waiting).toEqual({
      generation: 4,
      digest: digestOf({ approvalForCloudHsm: false, blastRadiusMaxFailedShare: 0.9, blastRadiusMinFailed: 3 }),
      signedBy: [],
      changes: [
        { field: 'approvalForCloudHsm', from: true, to: false },
        { field: 'blastRadiusMaxFailedShare', from: 0.5, to: 0.9 },
      ],
    });
  });

  it('starts from the defaults when nothing is in force yet: a weaker desired value waits, the rest applies', () => {
    const judged = effectiveSettings(desired({ approvalForCloudHsm: false, blastRadiusMaxFailedShare: 0.8, blastRadiusMinFailed: 2 }), null, []);

    expect(judged.inForce).toEqual({ ...BASELINE_IN_FORCE, blastRadiusMinFailed: 2 });
    expect(judged.waiting?.changes).toEqual([{ field: 'blastRadiusMaxFailedShare', from: 0.5, to: 0.8 }]);
  });

  it('names a change by its generation and the digest of its guarded values: any edit of one is a new change', () => {
    const base = desired({ approvalForCloudHsm: false });
    const change = settingsChange(base);

    expect(settingsChange({ ...base, killSwitch: true, health: { proxyLatencyMs: 100 } })).toEqual(change);
    expect(change).toEqual({ subject: 'SETTINGS', generation: 4, digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(
      new Set([
        change.digest,
        settingsChange({ ...base, approvalForCloudHsm: true }).digest,
        settingsChange({ ...base, blastRadiusMaxFailedShare: 0.51 }).digest,
        settingsChange({ ...base, blastRadiusMinFailed: 4 }).digest,
      ]).size,
    ).toBe(4);
  });

  it('counts no signature of another generation or of other values: two persons who signed a stale change bring nothing into force', () => {
    const weaker = desired({ blastRadiusMaxFailedShare: 1 });
    const stale = [
      ...signed({ ...weaker, generation: 3 }, ['source/alice', 'source/bob']),
      ...signed({ ...weaker, blastRadiusMaxFailedShare: 0.9 }, ['source/alice', 'source/bob']),
    ];

    const judged = effectiveSettings(weaker, IN_FORCE, stale);

    expect(judged.inForce).toEqual(IN_FORCE);
    expect(judged.waiting?.signedBy).toEqual([]);
  });

  it('names who signed a waiting change so far', () => {
    const weaker = desired({ blastRadiusMinFailed: 7 });

    expect(effectiveSettings(weaker, IN_FORCE, signed(weaker, ['principal/AIDAWRITER'])).waiting?.signedBy).toEqual(['principal/AIDAWRITER']);
  });

  it('names generation 0 for a settings item no `cks settings` wrote (no generation)', () => {
    const { generation: _g, ...unversioned } = desired({ blastRadiusMinFailed: 9 });

    expect(effectiveSettings(unversioned, IN_FORCE, []).waiting?.generation).toBe(0);
  });
});
