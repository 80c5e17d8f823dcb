/**
 * What the reconciler adds to a repair, measured as the MTTR bench measures it but on the seed's fake
 * clock: for each repair incident that ends in `Repair Succeeded`, the time from its `Repair Started`
 * to its `Repair Succeeded` (each when first published) minus the seconds its store spent in a KMS
 * transition meanwhile (DISCONNECTING, CONNECTING, an HSM of its cluster CREATE_IN_PROGRESS). The
 * transitions are the ones the reconciler's own calls started (a connect, a disconnect or a CreateHsm
 * that took effect, its answer lost or not), each lasting as long as the fake makes it last.
 */

import type { ReconcilerEvent } from '../../domain/events.js';
import { HSM_CREATE_SECONDS } from '../fake/cloudhsm/model.js';
import { CONNECT_SECONDS, DISCONNECT_SECONDS } from '../fake/kms/model.js';
import type { Call, CallResult } from './conductor.js';

interface Span {
  from: number;
  to: number;
}

export class AddedTime {
  /** Transitions by store id or cluster id (epoch ms). */
  readonly #spans = new Map<string, Span[]>();
  /** First `Repair Started` per store and incident (epoch ms). */
  readonly #started = new Map<string, number>();
  readonly #ended = new Set<string>();
  /** Added seconds of each repair that succeeded, in the order they succeeded. */
  readonly seconds: number[] = [];

  /** `typeOf`: the store's type (AWS_CLOUDHSM or EXTERNAL_KEY_STORE) by id; `clusterOf`: its CloudHSM cluster, if any. */
  constructor(
    private readonly typeOf: (storeId: string) => string | undefined,
    private readonly clusterOf: (storeId: string) => string | undefined,
  ) {}

  /** Notes a call's effect at fake time `now` (epoch ms, when the call was made). */
  observe(call: Call, result: CallResult, now: number): void {
    const tookEffect = result.kind === 'ok' || result.kind === 'lost' || (result.kind === 'crashed' && result.madeIt);
    if (!tookEffect) return;
    const key = `${call.port}.${call.method}`;
    const id = String(call.args[0]);
    if (key === 'kms.connect') this.#span(id, now, CONNECT_SECONDS[this.typeOf(id) === 'EXTERNAL_KEY_STORE' ? 'EXTERNAL_KEY_STORE' : 'AWS_CLOUDHSM']);
    else if (key === 'kms.disconnect') {
      // A disconnect cuts a connect short: the store goes DISCONNECTING at once.
      for (const span of this.#spans.get(id) ?? []) span.to = Math.min(span.to, now);
      this.#span(id, now, DISCONNECT_SECONDS);
    } else if (key === 'cloudHsm.createHsm') this.#span(id, now, HSM_CREATE_SECONDS);
    else if (key === 'events.publish') for (const event of call.args[0] as ReconcilerEvent[]) this.#event(event, now);
  }

  #span(id: string, from: number, seconds: number): void {
    this.#spans.set(id, [...(this.#spans.get(id) ?? []), { from, to: from + seconds * 1000 }]);
  }

  #event(event: ReconcilerEvent, now: number): void {
    if (event.detailType !== 'Repair Started' && event.detailType !== 'Repair Succeeded') return;
    const incident = `${event.detail.storeName} ${event.detail.incidentId}`;
    if (event.detailType === 'Repair Started') {
      if (!this.#started.has(incident)) this.#started.set(incident, now);
      return;
    }
    const started = this.#started.get(incident);
    if (started === undefined || this.#ended.has(incident)) return;
    this.#ended.add(incident);
    const storeId = event.detail.storeId;
    const cluster = storeId === null ? undefined : this.clusterOf(storeId);
    const spans = [...(storeId === null ? [] : (this.#spans.get(storeId) ?? [])), ...(cluster === undefined ? [] : (this.#spans.get(cluster) ?? []))];
    const transitions = covered(spans, started, now);
    this.seconds.push(Math.max(0, Math.round((now - started - transitions) / 1000)));
  }
}

/** Milliseconds of [from, to] that the spans cover (overlaps counted once). */
function covered(spans: readonly Span[], from: number, to: number): number {
  const clipped = spans
    .map((s) => ({ from: Math.max(s.from, from), to: Math.min(s.to, to) }))
    .filter((s) => s.to > s.from)
    .sort((a, b) => a.from - b.from);
  let total = 0;
  let end = from;
  for (const span of clipped) {
    if (span.to <= end) continue;
    total += span.to - Math.max(span.from, end);
    end = span.to;
  }
  return total;
}

/** Count, median, p95 and max of added seconds (nearest rank). */
export function summarize(seconds: readonly number[]): { count: number; median: number; p95: number; max: number } | null {
  if (seconds.length === 0) return null;
  const sorted = [...seconds].sort((a, b) => a - b);
  const rank = (q: number): number => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
  return { count: sorted.length, median: rank(0.5), p95: rank(0.95), max: sorted.at(-1)! };
}
