/** Fake time: starts at the real current time, then runs scaled (`real`) or only when advanced (`manual`). */

export type ClockMode = 'real' | 'manual';

/**
 * The latest fake time: the last millisecond of year 9999, so that every fake time has a Date and
 * a four-digit-year ISO 8601 string. Fake time stops there.
 */
export const MAX_FAKE_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** The most one advance may move fake time: 100 years of 365 days. */
export const MAX_ADVANCE_SECONDS = 100 * 365 * 24 * 60 * 60;

/** Fake time in epoch milliseconds. */
export class FakeClock {
  readonly #startReal = Date.now();
  #offset = 0;

  constructor(
    readonly mode: ClockMode,
    /** Fake seconds per real second (`real` mode only). */
    readonly timeScale = 1,
  ) {}

  now(): number {
    const elapsed = this.mode === 'real' ? (Date.now() - this.#startReal) * this.timeScale : 0;
    return Math.min(this.#startReal + elapsed + this.#offset, MAX_FAKE_TIME);
  }

  /**
   * Moves fake time forward, in either mode. A `RangeError` naming the limit, and no move, for a
   * negative or non-finite `seconds`, more than {@link MAX_ADVANCE_SECONDS}, or a move past
   * {@link MAX_FAKE_TIME}.
   */
  advance(seconds: number): void {
    if (!(seconds >= 0 && seconds <= MAX_ADVANCE_SECONDS)) {
      throw new RangeError(`seconds must be between 0 and ${MAX_ADVANCE_SECONDS} (100 years), not ${seconds}`);
    }
    if (this.now() + seconds * 1000 > MAX_FAKE_TIME) {
      throw new RangeError(`advancing ${seconds} seconds would move fake time past ${new Date(MAX_FAKE_TIME).toISOString()}`);
    }
    this.#offset += seconds * 1000;
  }
}
