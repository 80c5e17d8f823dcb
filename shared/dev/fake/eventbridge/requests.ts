/**
 * EventBridge PutEvents requests. The request as a whole must hold 1-10 entries of at most 256 KB
 * together (else ValidationException); each entry is then checked on its own, and a bad one fails
 * alone with an `ErrorCode` in its result while the others go through, as in EventBridge.
 */
import { z } from 'zod';
import { ValidationException } from '../errors.js';
import { parseInput } from '../wire.js';

/** The most bytes the entries of one PutEvents request may add up to (256 KB). */
export const MAX_ENTRIES_BYTES = 256 * 1024;

/** A valid entry, its `Detail` parsed. */
export interface EventEntry {
  Source: string;
  DetailType: string;
  Detail: object;
  EventBusName: string;
  Resources: string[];
}

/** Why an entry failed, as its PutEvents result says. */
export interface EntryError {
  ErrorCode: string;
  ErrorMessage: string;
}

const Entry = z.object({
  Source: z.string().min(1).max(256).optional(),
  DetailType: z.string().min(1).max(128).optional(),
  Detail: z.string().max(262144).optional(),
  EventBusName: z.string().min(1).max(1600).optional(),
  Resources: z.array(z.string().min(1).max(2048)).optional(),
  Time: z.number().optional(),
  TraceHeader: z.string().min(1).max(500).optional(),
});
type Entry = z.output<typeof Entry>;

const PutEventsInput = z.object({ Entries: z.array(Entry).min(1).max(10) });

/** The request's entries in order, each valid or the reason it fails. */
export function parsePutEvents(input: unknown): (EventEntry | EntryError)[] {
  const { Entries } = parseInput(PutEventsInput, input, ValidationException);
  const size = Entries.reduce((total, entry) => total + entrySize(entry), 0);
  if (size > MAX_ENTRIES_BYTES) {
    throw new ValidationException(`Total size of the entries in the request is over the limit: ${size} bytes, at most ${MAX_ENTRIES_BYTES}.`);
  }
  return Entries.map(checkEntry);
}

function checkEntry(entry: Entry): EventEntry | EntryError {
  if (entry.Source === undefined || entry.DetailType === undefined || entry.Detail === undefined) {
    return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Parameters Source, DetailType and Detail are required.' };
  }
  // Sources starting with `aws.` are reserved to AWS services: nobody may forge their events.
  if (entry.Source.startsWith('aws.')) {
    return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' };
  }
  const detail = parseDetail(entry.Detail);
  if (detail === undefined) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  return {
    Source: entry.Source,
    DetailType: entry.DetailType,
    Detail: detail,
    EventBusName: entry.EventBusName ?? 'default',
    Resources: entry.Resources ?? [],
  };
}

/**
 * An entry's size as EventBridge counts it: the UTF-8 bytes of Source, DetailType, Detail and each
 * Resource, plus 14 bytes when Time is given.
 */
function entrySize(entry: Entry): number {
  const texts = [entry.Source, entry.DetailType, entry.Detail, ...(entry.Resources ?? [])];
  return texts.reduce((size, text) => size + Buffer.byteLength(text ?? ''), entry.Time === undefined ? 0 : 14);
}

/** Detail must be a JSON object. */
function parseDetail(text: string): object | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
