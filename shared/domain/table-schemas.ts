/**
 * Items read back from the table, validated: a malformed item (a hand edit, a number beyond
 * precision, a time no clock will reach) must cost its own store one reset, never a pass; malformed
 * settings stop every action rather than guess.
 */
import * as z from 'zod/mini';
import './zod-messages.js';
import { FINDING_KINDS } from './health.js';
import {
  ACTION_KINDS,
  CONNECTION_ERROR_CODES,
  CONNECTION_STATES,
  DEFAULT_SETTINGS,
  LOGIN_BUDGET_DEFAULT,
  LOGIN_BUDGET_MAX,
  MANUAL_DISCONNECT_POLICIES,
  PHASES,
  type Settings,
  type StoreStatus,
} from './types.js';

/** Epoch milliseconds between 2000 and 2200: anything else is a corrupt item, not a time. */
const epochMs = z.number().check(z.minimum(Date.UTC(2000, 0, 1)), z.maximum(Date.UTC(2200, 0, 1)));
const count = z.int().check(z.minimum(0), z.maximum(1_000_000));

const heldInputsSchema = z.object({
  generation: count,
  passwordVersion: z.nullable(z.string()),
  xksCredentialVersion: z.nullable(z.string()),
  awaitingActiveHsmIn: z.optional(z.string()),
  awaitingNewPassword: z.optional(z.boolean()),
  awaitingLoginBudgetReset: z.optional(z.boolean()),
  awaitingSecret: z.optional(z.boolean()),
  manualChange: z.optional(z.object({ by: z.nullable(z.string()), at: epochMs, eventName: z.nullable(z.string()) })),
});

const statusSchema = z.object({
  name: z.string().check(z.minLength(1)),
  storeId: z.nullable(z.string()),
  phase: z.enum(PHASES),
  phaseSince: epochMs,
  incidentId: z.nullable(z.string()),
  attempt: count,
  nextAttemptAt: z.nullable(epochMs),
  observedState: z.nullable(z.enum([...CONNECTION_STATES, 'MISSING'])),
  observedErrorCode: z.nullable(z.enum(CONNECTION_ERROR_CODES)),
  lastAction: z.nullable(z.object({ kind: z.enum(ACTION_KINDS), outcome: z.enum(['taken', 'dryRun', 'failed']) })),
  lastReason: z.nullable(z.string()),
  lastActionAt: z.nullable(epochMs),
  appliedPasswordVersion: z.nullable(z.string()),
  appliedXksCredentialVersion: z.nullable(z.string()),
  observedGeneration: count,
  heldInputs: z.nullable(heldInputsSchema),
  lastReportKey: z.nullable(z.string()),
  // Added after the first release: items written before have neither.
  failedLogins: z._default(count, 0),
  loginBudgetResetAt: z._default(z.nullable(epochMs), null),
  escalatedIncidentId: z._default(z.nullable(z.string()), null),
  returnedCallAt: z.optional(epochMs),
  findings: z.optional(
    z.array(z.object({ kind: z.enum(FINDING_KINDS), openedAt: epochMs, eventId: z.string().check(z.minLength(1)), reason: z.string() })),
  ),
  // Added with signatures: a status written before has the defaults in force (a higher desired value then needs two signers).
  loginBudgetInForce: z._default(z.int().check(z.minimum(1), z.maximum(LOGIN_BUDGET_MAX)), LOGIN_BUDGET_DEFAULT),
  onManualDisconnectInForce: z._default(z.enum(MANUAL_DISCONNECT_POLICIES), 'hold'),
  announcedApproval: z._default(z.nullable(z.string()), null),
  highestGeneration: z._default(count, 0),
});

/** A status item's attributes (table attributes already removed) as a status, or why they are not one. */
export function parseStatusItem(raw: Record<string, unknown>): { ok: true; status: StoreStatus } | { ok: false; error: string } {
  const result = statusSchema.safeParse(raw);
  if (result.success) return { ok: true, status: result.data };
  const issue = result.error.issues[0];
  return { ok: false, error: `status item invalid at ${issue?.path.join('.') || '(item)'}: ${issue?.message ?? 'unreadable'}` };
}

const settingsSchema = z.object({
  killSwitch: z._default(z.boolean(), DEFAULT_SETTINGS.killSwitch),
  blastRadiusMaxFailedShare: z._default(z.number().check(z.gt(0), z.lte(1)), DEFAULT_SETTINGS.blastRadiusMaxFailedShare),
  blastRadiusMinFailed: z._default(z.int().check(z.minimum(1), z.maximum(1_000_000)), DEFAULT_SETTINGS.blastRadiusMinFailed),
  approvalForCloudHsm: z.optional(z.boolean()),
  generation: z.optional(count),
  health: z.optional(
    z.object({
      certificateExpiryDays: z.optional(z.int().check(z.minimum(0), z.maximum(3650))),
      credentialMaxAgeDays: z.optional(z.int().check(z.minimum(1), z.maximum(3650))),
      proxyErrorsPer5Min: z.optional(z.number().check(z.minimum(0))),
      proxyLatencyMs: z.optional(z.number().check(z.gt(0))),
    }),
  ),
});

/**
 * The settings item's attributes (absent ones take their defaults). A malformed item cannot be
 * trusted to say the kill switch is off: it reads as the kill switch on, with the reason.
 */
export function parseSettingsItem(raw: Record<string, unknown>): { settings: Settings; error: string | null } {
  const result = settingsSchema.safeParse(raw);
  if (result.success) {
    const { approvalForCloudHsm, health, generation, ...rest } = result.data;
    return {
      settings: {
        ...rest,
        ...(approvalForCloudHsm === true ? { approvalForCloudHsm } : {}),
        ...(health !== undefined ? { health } : {}),
        ...(generation !== undefined ? { generation } : {}),
      },
      error: null,
    };
  }
  const issue = result.error.issues[0];
  return {
    settings: { ...DEFAULT_SETTINGS, killSwitch: true },
    error: `settings item invalid at ${issue?.path.join('.') || '(item)'}: ${issue?.message ?? 'unreadable'}; acting as if the kill switch were on`,
  };
}
