/**
 * `cks settings`: the global settings (the table's SETTINGS item): the kill switch, the blast-radius
 * limit and the approval rule. With no flag it prints them, and any weakening that waits for a second
 * person; with flags it changes only the settings given.
 */
import { effectiveSettings, settingsChange, type WaitingSettings } from '../domain/settings.js';
import { personOf } from '../domain/signatures.js';
import type { Scope, Settings } from '../domain/types.js';
import { signChange } from './approval.js';
import { type CliContext, CliError, UsageError } from './context.js';

/** The settings a `cks settings` command line changes; absent ones are left as they are. */
export type SettingsChanges = Partial<Settings>;

/** The flag that sets each setting, as the operator writes it (the health thresholds are set in the settings item itself). */
const FLAGS: Record<Exclude<keyof Settings, 'health' | 'generation'>, string> = {
  killSwitch: 'kill-switch',
  blastRadiusMaxFailedShare: 'blast-radius-share',
  blastRadiusMinFailed: 'blast-radius-min',
  approvalForCloudHsm: 'approval-for-cloudhsm',
};

/**
 * Checks every settings flag before anything is read or written. A bad value is a UsageError naming
 * the flag and what it accepts (every bad flag, in one line); no flag at all means no change.
 */
export function parseSettingsFlags(values: Readonly<Record<string, string | boolean | undefined>>): SettingsChanges {
  const changes: SettingsChanges = {};
  const errors: string[] = [];
  const flag = (key: keyof typeof FLAGS): string | undefined => {
    const value = values[FLAGS[key]];
    return typeof value === 'string' ? value : undefined;
  };

  const killSwitch = flag('killSwitch');
  if (killSwitch !== undefined) {
    if (killSwitch === 'on' || killSwitch === 'off') changes.killSwitch = killSwitch === 'on';
    else errors.push(`--kill-switch must be on or off, got "${killSwitch}"`);
  }
  const share = flag('blastRadiusMaxFailedShare');
  if (share !== undefined) {
    const number = /^(?:\d+(?:\.\d+)?|\.\d+)$/.test(share.trim()) ? Number(share) : Number.NaN;
    if (number > 0 && number <= 1) changes.blastRadiusMaxFailedShare = number;
    else errors.push(`--blast-radius-share must be a number greater than 0 and at most 1 (e.g. 0.5), got "${share}"`);
  }
  const min = flag('blastRadiusMinFailed');
  if (min !== undefined) {
    const number = /^\d+$/.test(min.trim()) ? Number(min) : Number.NaN;
    if (Number.isSafeInteger(number) && number >= 1) changes.blastRadiusMinFailed = number;
    else errors.push(`--blast-radius-min must be a whole number of at least 1 (e.g. 3), got "${min}"`);
  }
  const approval = flag('approvalForCloudHsm');
  if (approval !== undefined) {
    if (approval === 'on' || approval === 'off') changes.approvalForCloudHsm = approval === 'on';
    else errors.push(`--approval-for-cloudhsm must be on or off, got "${approval}"`);
  }
  if (errors.length > 0) throw new UsageError(errors.join('; '));
  return changes;
}

/**
 * `cks settings [flags] [--output table|json]`: prints the settings; with changes, reads the current
 * settings, changes only the given ones, writes them (the next generation), prints the new settings
 * and what changed. A change to what is already set writes nothing. A weakening (approval for
 * CloudHSM off, a higher blast radius) does not come into force until a second person signs it: the
 * table output says what waits and the command that signs it. JSON output is the settings object alone.
 */
export async function settingsCommand(ctx: CliContext, changes: SettingsChanges, json: boolean): Promise<number> {
  const deps = await ctx.deps();
  const before = await deps.state.loadSettings();
  const current = before.settings;
  const next: Settings = { ...current, ...changes };
  const changed = (Object.keys(FLAGS) as Array<keyof typeof FLAGS>).filter((key) => next[key] !== current[key]);
  if (changed.length > 0) {
    // A weakening is signed by who writes it, before it is written: a refused signature writes nothing.
    const written = { ...next, generation: (current.generation ?? 0) + 1 };
    if (effectiveSettings(written, before.settingsInForce?.values ?? null, []).waiting !== null) {
      await signChange(deps.state, await ctx.caller(), settingsChange(written), deps.clock.now(), 'settings');
    }
    await deps.state.putSettings(next);
  }
  const after = changed.length > 0 ? await deps.state.loadSettings() : before;
  const { generation: _generation, ...shown } = after.settings;

  ctx.print(json ? JSON.stringify(shown, null, 2) : renderSettings(shown));
  if (json) return 0;
  if (Object.keys(changes).length > 0) printChanges(ctx, next, changed);
  const { waiting } = effectiveSettings(after.settings, after.settingsInForce?.values ?? null, after.settingsSignatures);
  if (waiting) ctx.print(renderWaiting(waiting, deps.state.scope));
  return 0;
}

/**
 * `cks approve --settings`: signs, as the caller, the weakening of the settings that waits for a
 * second person. Refused when nothing waits, and when the caller's person already signed it.
 */
export async function approveSettingsCommand(ctx: CliContext): Promise<number> {
  const deps = await ctx.deps();
  const [records, caller] = await Promise.all([deps.state.loadSettings(), ctx.caller()]);
  if (records.settingsError !== null)
    throw new CliError(`settings: the settings item is unreadable (${records.settingsError}); fix it with \`cks settings\``);
  const { waiting } = effectiveSettings(records.settings, records.settingsInForce?.values ?? null, records.settingsSignatures);
  if (waiting === null) {
    throw new CliError('settings: nothing waits for a second person (the settings weaken nothing in force, or two persons signed them)');
  }
  const me = personOf(caller.signer);
  if (me !== null && waiting.signedBy.includes(me)) {
    throw new CliError(
      `settings: refused: you (${me}) already signed generation ${waiting.generation}; a second person must sign it (two sessions of one role are one person)`,
    );
  }
  await signChange(deps.state, caller, settingsChange(records.settings), deps.clock.now(), 'settings');
  const signedBy = [...waiting.signedBy, ...(me !== null ? [me] : [])];
  ctx.print(`settings: signed generation ${waiting.generation} (${describe(waiting)}) as ${caller.signer}`);
  ctx.print(
    signedBy.length >= 2
      ? `  approved by ${signedBy.join(' and ')}: the reconciler brings it into force at its next run`
      : '  one person has signed it: it waits for a second person to run `cks approve --settings` too',
  );
  return 0;
}

/** What the changed settings now do. */
function printChanges(ctx: CliContext, next: Settings, changed: ReadonlyArray<keyof Settings>): void {
  if (changed.length === 0) ctx.print('unchanged: the settings already had these values; nothing was written');
  if (changed.includes('killSwitch')) {
    ctx.print(
      next.killSwitch
        ? 'kill switch ON: the reconciler reports but does not act on any store'
        : 'kill switch OFF: the reconciler acts on stores again (in enforce mode and not paused)',
    );
  }
  if (changed.includes('blastRadiusMaxFailedShare') || changed.includes('blastRadiusMinFailed')) {
    ctx.print(
      `blast-radius limit changed: more than ${percent(next.blastRadiusMaxFailedShare)} of the managed stores, and at least ` +
        `${next.blastRadiusMinFailed}, FAILED at once is a regional incident: reported, not repaired`,
    );
  }
  if (changed.includes('approvalForCloudHsm')) {
    ctx.print(
      next.approvalForCloudHsm === true
        ? "approval for CloudHSM ON: a cluster change or a rename waits for a second principal's `cks approve`, like an XKS proxy change"
        : 'approval for CloudHSM OFF: only XKS proxy changes wait for a second principal',
    );
  }
}

/** One `key  value` line per setting, the values aligned. */
function renderSettings(settings: Settings): string {
  const keys = Object.keys(FLAGS) as Array<keyof Settings>;
  const width = Math.max(...keys.map((key) => key.length));
  return keys.map((key) => `${key.padEnd(width)}  ${String(settings[key] ?? false)}`).join('\n');
}

/** What waits for a second person, from the value in force to the desired one, who signed it, and how to sign it. */
function renderWaiting(waiting: WaitingSettings, scope: Scope): string {
  return [
    `waiting for a second person (settings generation ${waiting.generation}); until then the values in force apply:`,
    ...waiting.changes.map((c) => `  ${c.field}  ${String(c.from)} in force, ${String(c.to)} desired`),
    `  signed by: ${waiting.signedBy.length > 0 ? waiting.signedBy.join(', ') : 'nobody'}`,
    `  to sign it as another person: cks approve --settings --scope ${scope.accountId}/${scope.region}`,
  ].join('\n');
}

/** `blastRadiusMaxFailedShare 0.5 -> 1, ...`. */
function describe(waiting: WaitingSettings): string {
  return waiting.changes.map((c) => `${c.field} ${String(c.from)} -> ${String(c.to)}`).join(', ');
}

/** 0.5 → `50%`, 1/3 → `33.33%`. */
function percent(share: number): string {
  return `${Number((share * 100).toFixed(2))}%`;
}
