/**
 * One line per port call for the trace a violation prints: what was asked, of which store, and what
 * came back. Names, states, phases and event types only: never a secret value (an update shows the
 * fields it changes, a secret read only its version).
 */
import type { ReconcilerEvent } from '../../domain/events.js';
import type { Signature } from '../../domain/signatures.js';
import type { ClusterView, ObservedStore, StoreStatus } from '../../domain/types.js';
import { errorMessage } from '../../errors.js';
import type { ResolvedUpdate, SaveStatusOptions, StoreRecord } from '../../reconcile/ports.js';
import type { Call, CallResult } from './conductor.js';

/** Store ids and secret ARNs as the trace names them. */
export interface Names {
  store(id: string): string;
  secret(arn: string): string;
}

export function describeCall(call: Call, names: Names): string {
  const [first, second, third] = call.args;
  const store = (): string => names.store(String(first));
  const what = ((): string => {
    switch (`${call.port}.${call.method}`) {
      case 'kms.describeStore': {
        const ref = first as { id?: string; name?: string };
        return ref.id !== undefined ? names.store(ref.id) : String(ref.name);
      }
      case 'kms.connect':
      case 'kms.disconnect':
        return store();
      case 'kms.update':
        return `${store()} ${updatedFields(second as ResolvedUpdate).join(', ')}`;
      case 'cloudHsm.describeClusters':
        return (first as string[]).join(', ');
      case 'cloudHsm.createHsm':
        return `${String(first)} in ${String(second)}`;
      case 'secrets.currentVersion':
        return names.secret(String(first));
      case 'secrets.getValue':
        return `${names.secret(String(first))} version ${String(second)}`;
      case 'events.publish':
        return (first as ReconcilerEvent[]).map(describeEvent).join('; ');
      case 'state.saveStatus': {
        const status = first as StoreStatus;
        const outbox = (third as SaveStatusOptions | undefined)?.outbox ?? [];
        return `${status.name} phase ${status.phase}${status.incidentId ? ` (${status.incidentId})` : ''}, outbox [${outbox.map((e) => e.detailType).join(', ')}]${(third as SaveStatusOptions | undefined)?.holdLeaseUntil !== undefined ? ', lease kept' : ''}`;
      }
      case 'state.load':
      case 'state.acquireLease':
      case 'state.releaseLease':
      case 'state.appendHistory':
      case 'state.request':
        return String(first);
      case 'state.sign': {
        const signature = first as Signature;
        return `${signature.signer} ${signature.subject} generation ${signature.generation}`;
      }
      default:
        return '';
    }
  })();
  return `${call.port}.${call.method}${what === '' ? '' : ` ${what}`}`;
}

export function describeResult(call: Call, result: CallResult): string {
  switch (result.kind) {
    case 'ok':
      return describeValue(call, result.value);
    case 'error':
      return `error ${errorMessage(result.error)}`;
    case 'lost':
      return 'went through, but the answer was lost (TimeoutError)';
    case 'crashed':
      return result.madeIt ? 'went through; the run CRASHED before the answer' : 'the run CRASHED; the call did not take effect';
  }
}

function describeValue(call: Call, value: unknown): string {
  switch (`${call.port}.${call.method}`) {
    case 'kms.listStores':
      return (value as ObservedStore[]).map(describeStore).join(', ');
    case 'kms.describeStore':
      return value === null ? 'MISSING' : describeStore(value as ObservedStore);
    case 'cloudHsm.describeClusters':
      return [...(value as Map<string, ClusterView>).values()].map((c) => `${c.clusterId} ${c.state} ${c.activeHsms} ACTIVE HSM(s)`).join(', ');
    case 'secrets.currentVersion':
      return `version ${String(value)}`;
    case 'secrets.getValue':
      return '(value not shown)';
    case 'state.acquireLease': {
      const record = value as StoreRecord | null;
      return record === null
        ? 'held by another run'
        : `taken; status phase ${record.status?.phase ?? 'none'}, outbox [${record.outbox.map((e) => e.detailType).join(', ')}]`;
    }
    default:
      return 'ok';
  }
}

function describeStore(store: ObservedStore): string {
  return `${store.name} ${store.connectionState}${store.connectionErrorCode ? ` ${store.connectionErrorCode}` : ''}`;
}

function describeEvent(event: ReconcilerEvent): string {
  const detail = event.detail as { storeName?: string | null; incidentId?: string | null; eventId: string; dryRun?: boolean };
  const about = detail.storeName ? ` ${detail.storeName}` : '';
  const incident = detail.incidentId ? ` ${detail.incidentId}` : '';
  return `${event.detailType}${about}${incident}${detail.dryRun ? ' (dry run)' : ''}`;
}

/** Field names of an update; a secret by name only. */
function updatedFields(update: ResolvedUpdate): string[] {
  return [
    ...(update.newName !== undefined ? ['name'] : []),
    ...(update.cloudHsmClusterId !== undefined ? [`cloudHsmClusterId ${update.cloudHsmClusterId}`] : []),
    ...(update.keyStorePassword !== undefined ? ['keyStorePassword'] : []),
    ...Object.entries(update.xks ?? {}).map(([field, value]) => (field === 'credential' ? 'xks credential' : `xks ${field} ${String(value)}`)),
  ];
}
