/**
 * How a mutating call (KMS Connect/Disconnect/Update, CloudHSM CreateHsm) is sent. The SDK would retry a
 * timed-out attempt, a dropped connection or a 5xx, any of which may already have taken effect: a second
 * CreateHsm, or a Connect resent after an operator's disconnect. So the SDK sends each attempt once, and
 * only a throttled attempt (AWS refused it: nothing happened) is tried again, here. Whatever else fails is
 * left to the next run, which decides again from a fresh observation.
 */
import { NOT_SENT } from '../domain/plan.js';
import { AwsCallError } from '../errors.js';
import type { Clock } from '../reconcile/ports.js';
import { isThrottling, toAwsCallError } from './aws-errors.js';
import type { TokenBucket } from './token-bucket.js';

/** Attempts per call, the first included (the SDK's for reads, this module's for throttled mutations). */
export const MAX_ATTEMPTS = 4;

/** The wait before retry `retry` (1-based): 500 ms doubled per retry, at most 20 s, as the SDK's throttling backoff. */
export function backoffMs(retry: number): number {
  return Math.min(20_000, 500 * 2 ** retry);
}

/** What a command must offer to have its retries removed: the SDK's middleware stack. */
interface Command {
  middlewareStack: { add(middleware: <Next>(next: Next) => Next, options: typeof ONE_ATTEMPT): void };
}

/** Takes the place of the client's retry middleware for one command (same name, step and priority). */
const ONE_ATTEMPT: { name: string; step: 'finalizeRequest'; priority: 'high'; override: boolean; tags: string[] } = {
  name: 'retryMiddleware',
  step: 'finalizeRequest',
  priority: 'high',
  override: true,
  tags: ['RETRY'],
};

/** `command`, sent by the SDK in one attempt whatever the client's retry settings. */
export function oneAttempt<C extends Command>(command: C): C {
  command.middlewareStack.add((next) => next, ONE_ATTEMPT);
  return command;
}

/**
 * How long a mutating call may take, waits included. `windowMs`: from the moment it is asked for to the end of
 * its last attempt (half a lease: the lease was renewed just before, and the other half is for the reads made
 * between); `attemptMs`: the longest one attempt takes before the SDK abandons it.
 */
export interface CallWindow {
  windowMs: number;
  attemptMs: number;
}

/** The mutating calls of every adapter: spaced by one token bucket, retried only when throttled, none sent too late to end within the lease. */
export class MutatingCalls {
  constructor(
    private readonly bucket: TokenBucket,
    private readonly clock: Clock,
    private readonly window: CallWindow,
  ) {}

  /**
   * Makes `send` (whose command was built with {@link oneAttempt}) once per turn of the bucket; a throttled
   * attempt is retried after {@link backoffMs}, up to {@link MAX_ATTEMPTS}. An attempt whose turn comes too late
   * to end within the call's window is not sent: the call fails with {@link NOT_SENT}. What it throws at last
   * leaves as an `AwsCallError` named `operation`, with `secrets` scrubbed.
   */
  async send<T>(operation: string, send: () => Promise<T>, secrets: readonly string[] = []): Promise<T> {
    const lastStart = this.clock.now() + this.window.windowMs - this.window.attemptMs;
    for (let attempt = 1; ; attempt++) {
      await this.bucket.take();
      if (this.clock.now() > lastStart) {
        throw new AwsCallError(
          operation,
          NOT_SENT,
          true,
          `not sent: its turn came after ${attempt - 1} attempt(s), too late to end within the lease`,
        );
      }
      try {
        return await send();
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !isThrottling(error)) throw toAwsCallError(operation, error, secrets);
        await this.clock.sleep(backoffMs(attempt));
      }
    }
  }
}
