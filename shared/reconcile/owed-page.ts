/** A scope-level page kept owed in its record until it went out: the regional incident's, the settings' approval, an unreachable scope's. */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { ReconcilerEvent } from '../domain/events.js';
import { scrubbedError } from '../errors.js';
import type { ReconcileDeps } from './ports.js';

/**
 * Publishes the events a record owes, then `announced()` marks them sent. When they cannot go out it
 * logs `failure` (with the events' ids) and leaves them owed for the next pass; returns how many were
 * not published.
 */
export async function publishOwedPage(
  deps: ReconcileDeps,
  log: Logger,
  owed: readonly ReconcilerEvent[],
  failure: string,
  announced: () => Promise<void>,
): Promise<number> {
  if (owed.length === 0) return 0;
  try {
    await deps.events.publish(owed);
  } catch (error) {
    log.error(failure, { error: scrubbedError(error), events: owed.map((e) => ({ detailType: e.detailType, eventId: e.detail.eventId })) });
    return owed.length;
  }
  await announced();
  return 0;
}
