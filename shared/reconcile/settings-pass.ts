/**
 * The settings a pass acts on: the desired ones, with a weakening that two persons have not signed
 * held at the value in force. The pass records what is in force (conditional write, so concurrent
 * passes agree on one record) and announces a waiting weakening once, through the record's outbox:
 * the `Approval Required` is recorded with the values in force, published, then the outbox emptied;
 * one owed by an earlier pass goes out first.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { settingsApprovalRequiredEvent } from '../domain/events.js';
import { sameData } from '../domain/same-data.js';
import { BASELINE_IN_FORCE, effectiveSettings, type GuardedSettings } from '../domain/settings.js';
import type { Signature } from '../domain/signatures.js';
import type { Settings } from '../domain/types.js';
import { scrubbedError } from '../errors.js';
import { publishOwedPage } from './owed-page.js';
import type { ReconcileDeps, SettingsInForce } from './ports.js';

/** What a pass read of the settings. */
export interface SettingsReading {
  desired: Settings;
  /** Why the desired settings could not be read; null when they could. */
  error: string | null;
  inForce: SettingsInForce | null;
  /** The signatures of the scope's settings (any generation). */
  signatures: readonly Signature[];
}

/** The settings to act on, and how many events could not be published (they stay owed to the next pass). */
export async function settleSettings(
  deps: ReconcileDeps,
  log: Logger,
  reading: SettingsReading,
  dryRun: boolean,
): Promise<{ settings: Settings; unpublished: number }> {
  const recorded = reading.inForce;
  if (reading.error !== null) {
    // Unreadable desired settings act as the kill switch on, with the guarded values in force.
    return { settings: { ...reading.desired, ...withApproval(recorded?.values ?? BASELINE_IN_FORCE), killSwitch: true }, unpublished: 0 };
  }
  const judged = effectiveSettings(reading.desired, recorded?.values ?? null, reading.signatures);
  if (dryRun) return { settings: judged.settings, unpublished: 0 };

  const page = judged.waiting
    ? settingsApprovalRequiredEvent({ scope: deps.state.scope, ...judged.waiting, proposedBy: judged.waiting.signedBy })
    : null;
  const fresh = page !== null && recorded?.announced !== page.detail.eventId ? [page] : [];
  const owedBefore = recorded?.outbox ?? [];
  let record = recorded;
  let owed = owedBefore;
  let settings = judged.settings;
  if (fresh.length > 0 || !sameData(judged.inForce, recorded?.values ?? BASELINE_IN_FORCE)) {
    let result: Awaited<ReturnType<typeof deps.state.recordSettingsInForce>>;
    try {
      result = await deps.state.recordSettingsInForce(
        { values: judged.inForce, announced: fresh[0]?.detail.eventId ?? recorded?.announced ?? null, outbox: [...owedBefore, ...fresh] },
        recorded?.revision ?? null,
      );
    } catch (error) {
      // The stores are still judged by these settings; what this pass would announce stays to the next one, and the run fails visibly.
      log.error('could not record the settings in force; the next pass records them and announces what waits', { error: scrubbedError(error) });
      return { settings, unpublished: fresh.length + owedBefore.length };
    }
    record = result.record;
    // Another pass recorded first: its values are in force, and what it owes is its to send.
    if (!result.written) {
      settings = effectiveSettings(reading.desired, record?.values ?? null, reading.signatures).settings;
      owed = [];
    } else owed = record?.outbox ?? [];
  }
  if (judged.waiting) log.warn('a weakening of the settings waits for a second person; the values in force apply', { ...judged.waiting });
  const announced = record?.announced ?? null;
  const unpublished = await publishOwedPage(
    deps,
    log,
    record === null ? [] : owed,
    'events not published: the settings approval stays owed and the next pass publishes it',
    async () => {
      if (announced !== null) await deps.state.announceSettings(announced);
    },
  );
  return { settings, unpublished };
}

/** Guarded values as settings fields (the approval rule present only when on). */
function withApproval(values: GuardedSettings): Partial<Settings> {
  const { approvalForCloudHsm, ...rest } = values;
  return { ...rest, ...(approvalForCloudHsm ? { approvalForCloudHsm } : {}) };
}
