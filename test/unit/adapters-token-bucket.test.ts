import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../shared/adapters/token-bucket.js';
import type { Clock } from '../../shared/reconcile/ports.js';

/** Lets every pending promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Time moves only when told to; `sleep` resolves once `advance` passes its deadline. */
class ManualClock implements Clock {
  private time = 0;
  private sleepers: { until: number; wake: () => void }[] = [];
  readonly requested: number[] = [];

  now(): number {
    return this.time;
  }

  sleep(ms: number): Promise<void> {
    this.requested.push(ms);
    return new Promise((wake) => this.sleepers.push({ until: this.time + ms, wake }));
  }

  async advance(ms: number): Promise<void> {
    this.time += ms;
    const due = this.sleepers.filter((s) => s.until <= this.time);
    this.sleepers = this.sleepers.filter((s) => s.until > this.time);
    for (const sleeper of due) sleeper.wake();
    await settle();
  }
}

/** Records when each of `count` concurrent takes resolves, advancing time 1 ms at a time. */
async function resolutionTimes(bucket: TokenBucket, clock: ManualClock, count: number, horizonMs: number): Promise<number[]> {
  const times: number[] = [];
  const takes = Array.from({ length: count }, () => bucket.take().then(() => times.push(clock.now())));
  await settle();
  for (let t = 0; t < horizonMs && times.length < count; t += 1) await clock.advance(1);
  await Promise.all(takes);
  return times;
}

describe('TokenBucket', () => {
  it('lets the first call through at once and spaces the next ones 1/rate apart', async () => {
    // Prepare
    const clock = new ManualClock();
    const bucket = new TokenBucket({ ratePerSecond: 2, burst: 1, clock });

    // Act
    const times = await resolutionTimes(bucket, clock, 4, 5_000);

    // Assess
    expect(times).toEqual([0, 500, 1000, 1500]);
    expect(clock.requested).toEqual([500, 1000, 1500]);
  });

  it('allows a burst back to back, then the rate', async () => {
    // Prepare
    const clock = new ManualClock();
    const bucket = new TokenBucket({ ratePerSecond: 5, burst: 3, clock });

    // Act
    const times = await resolutionTimes(bucket, clock, 5, 5_000);

    // Assess
    expect(times).toEqual([0, 0, 0, 200, 400]);
  });

  it('refills while idle, but never beyond the burst', async () => {
    // Prepare
    const clock = new ManualClock();
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2, clock });
    await bucket.take();
    await bucket.take();

    // Act
    await clock.advance(60_000);
    const times = await resolutionTimes(bucket, clock, 3, 5_000);

    // Assess
    expect(times).toEqual([60_000, 60_000, 61_000]);
  });

  it('rejects a rate or burst that cannot work', () => {
    // Prepare
    const clock = new ManualClock();

    // Act / Assess
    expect(() => new TokenBucket({ ratePerSecond: 0, burst: 1, clock })).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: 1, burst: 0, clock })).toThrow(RangeError);
  });
});
