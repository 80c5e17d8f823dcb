/** Fake time: starts at the real current time, then runs scaled (`real`) or only when advanced (`manual`). */

export type ClockMode = 'real' | 'manual';

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
    return this.#startReal + elapsed + this.#offset;
  }

  /** Moves fake time forward, in either mode. */
  advance(seconds: number): void {
    this.#offset += seconds * 1000;
  }
}
