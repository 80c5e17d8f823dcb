/**
 * Spaces mutating AWS calls (the custom key store APIs allow about 5 requests per second
 * per account and Region). Pure logic over a `Clock`, so it is deterministic under a fake clock.
 */
import type { Clock } from '../reconcile/ports.js';

export interface TokenBucketOptions {
  /** Tokens added per second; > 0. */
  ratePerSecond: number;
  /** Most tokens held at once (calls allowed back to back after a quiet spell); >= 1. */
  burst: number;
  clock: Clock;
}

/** A token bucket whose `take()` waits (through the clock) for the caller's turn. */
export class TokenBucket {
  private readonly ratePerSecond: number;
  private readonly burst: number;
  private readonly clock: Clock;
  /** May go negative: each caller reserves its token at once and sleeps until it is paid for. */
  private tokens: number;
  private updatedAt: number;

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0)) throw new RangeError(`ratePerSecond must be > 0, got ${options.ratePerSecond}`);
    if (!(options.burst >= 1)) throw new RangeError(`burst must be >= 1, got ${options.burst}`);
    this.ratePerSecond = options.ratePerSecond;
    this.burst = options.burst;
    this.clock = options.clock;
    this.tokens = options.burst;
    this.updatedAt = options.clock.now();
  }

  /**
   * Resolves when the caller may make one call. Concurrent callers are served in call order, each
   * `1 / ratePerSecond` after the previous once the burst is spent.
   */
  take(): Promise<void> {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.updatedAt) * this.ratePerSecond) / 1000);
    this.updatedAt = now;
    this.tokens -= 1;
    if (this.tokens >= 0) return Promise.resolve();
    return this.clock.sleep(Math.ceil((-this.tokens * 1000) / this.ratePerSecond));
  }
}
