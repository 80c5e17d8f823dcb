/**
 * The settings in force. Operators write the desired settings (the SETTINGS item of their
 * partition); the reconciler records the guarded ones it acts on in its own partition. Tightening
 * (approval on, a lower blast radius) comes into force at once; weakening (approval off, a higher
 * blast radius) only once two distinct persons signed that exact change, and until then the value
 * in force applies. The kill switch and the health thresholds are not guarded: they apply as written.
 */
import { approversOf, digestOf, type Signature, type SignedChange } from './signatures.js';
import { SETTINGS_SUBJECT } from './table-keys.js';
import { DEFAULT_SETTINGS, type Settings } from './types.js';

/** The settings whose weakening needs a second person, as the reconciler holds them in force. */
export interface GuardedSettings {
  approvalForCloudHsm: boolean;
  blastRadiusMaxFailedShare: number;
  blastRadiusMinFailed: number;
}

/** The guarded settings, in the order they are shown. */
export const GUARDED_SETTINGS = ['approvalForCloudHsm', 'blastRadiusMaxFailedShare', 'blastRadiusMinFailed'] as const;

export type GuardedSetting = (typeof GUARDED_SETTINGS)[number];

/** What is in force before the reconciler recorded anything: the defaults (a weaker desired value waits like any other). */
export const BASELINE_IN_FORCE: GuardedSettings = guardedOf(DEFAULT_SETTINGS);

/** The guarded values of some settings. */
export function guardedOf(settings: Settings): GuardedSettings {
  return {
    approvalForCloudHsm: settings.approvalForCloudHsm === true,
    blastRadiusMaxFailedShare: settings.blastRadiusMaxFailedShare,
    blastRadiusMinFailed: settings.blastRadiusMinFailed,
  };
}

/** True when `to` is as safe as `from` or safer: approval on, a lower blast radius. */
function noWeaker(field: GuardedSetting, from: GuardedSettings, to: GuardedSettings): boolean {
  if (field === 'approvalForCloudHsm') return to.approvalForCloudHsm || !from.approvalForCloudHsm;
  return to[field] <= from[field];
}

/** One guarded setting a desired change would weaken. */
export interface SettingsChange {
  field: GuardedSetting;
  from: boolean | number;
  to: boolean | number;
}

/** A weakening of the desired settings that waits for two persons' signatures. */
export interface WaitingSettings {
  /** The desired settings' generation (0: an item no `cks settings` ever wrote). */
  generation: number;
  /** The digest of the desired guarded values: with the generation, what a signature signs. */
  digest: string;
  /** The fields it weakens, from the value in force to the desired one. */
  changes: SettingsChange[];
  /** The persons who signed it so far (fewer than two). */
  signedBy: string[];
}

/** The outcome of {@link effectiveSettings}. */
export interface EffectiveSettings {
  /** What a pass acts on: the desired settings, each weakening that waits at its value in force. */
  settings: Settings;
  /** The guarded values in force after this judgement (to record when they differ from the recorded ones). */
  inForce: GuardedSettings;
  /** The weakening that waits for a second person; null when none does. */
  waiting: WaitingSettings | null;
}

/** The exact change the desired settings are: their generation and the digest of their guarded values. */
export function settingsChange(desired: Settings): SignedChange {
  return { subject: SETTINGS_SUBJECT, generation: desired.generation ?? 0, digest: digestOf(guardedOf(desired)) };
}

/**
 * Per guarded field: the desired value when it is no weaker than the one in force, or when two
 * distinct persons signed the desired change (its generation and digest, among `signatures`);
 * otherwise the value in force. `inForce` null: nothing was recorded yet (the defaults).
 */
export function effectiveSettings(desired: Settings, inForce: GuardedSettings | null, signatures: readonly Signature[]): EffectiveSettings {
  const current = inForce ?? BASELINE_IN_FORCE;
  const wanted = guardedOf(desired);
  const change = settingsChange(desired);
  const signedBy = approversOf(signatures, change);
  const weakened = GUARDED_SETTINGS.filter((field) => !noWeaker(field, current, wanted));
  const held = signedBy.length >= 2 ? [] : weakened;
  const pick = <F extends GuardedSetting>(field: F): GuardedSettings[F] => (held.includes(field) ? current[field] : wanted[field]);
  const next: GuardedSettings = {
    approvalForCloudHsm: pick('approvalForCloudHsm'),
    blastRadiusMaxFailedShare: pick('blastRadiusMaxFailedShare'),
    blastRadiusMinFailed: pick('blastRadiusMinFailed'),
  };
  const { approvalForCloudHsm: _desired, ...rest } = desired;
  return {
    // As the table reads it back: the approval rule is present only when on.
    settings: {
      ...rest,
      blastRadiusMaxFailedShare: next.blastRadiusMaxFailedShare,
      blastRadiusMinFailed: next.blastRadiusMinFailed,
      ...(next.approvalForCloudHsm ? { approvalForCloudHsm: true } : {}),
    },
    inForce: next,
    waiting:
      held.length === 0
        ? null
        : {
            generation: change.generation,
            digest: change.digest,
            changes: held.map((field) => ({ field, from: current[field], to: wanted[field] })),
            signedBy,
          },
  };
}
