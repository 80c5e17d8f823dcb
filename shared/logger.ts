/**
 * Structured JSON logs (Powertools `Logger`) with a redaction guard: whatever object is logged, the
 * value of any key that names a password, secret, credential, trust anchor or token is printed as
 * `***`, however deeply it is nested. The guard is a last line of defence; code must still not log
 * secret values.
 */
import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import type { ConstructorOptions, LogAttributes } from '@aws-lambda-powertools/logger/types';
import type { Config } from './config.js';
import { SERVICE_NAME } from './metrics.js';

/** Keys whose values are never printed. */
const SENSITIVE_KEY = /password|secret|credential|trustanchor|token/i;
/**
 * ...unless the key names a reference to such a value rather than the value: a secret's ARN
 * (`keyStorePasswordSecretArn`) or version (`appliedPasswordVersion`) is what operators need to see.
 */
const REFERENCE_KEY = /(Arn|VersionId|Version)$/;

export const REDACTED = '***';

/** Receives each printed log line (one JSON document); by default lines go to stdout. */
export type LogSink = (line: string) => void;

/** A JSON.stringify replacer hiding the values of sensitive keys (see {@link SENSITIVE_KEY}). */
export function redactSensitive(key: string, value: unknown): unknown {
  return SENSITIVE_KEY.test(key) && !REFERENCE_KEY.test(key) && value !== undefined && value !== null ? REDACTED : value;
}

/**
 * A Powertools logger for the service, at `config.logLevel`, with `persistentKeys` (e.g.
 * `{ trigger }`) on every line. `sink` captures the printed lines instead of stdout (tests); child
 * loggers (`createChild`) inherit it and the redaction.
 */
export function makeLogger(config: Pick<Config, 'logLevel'>, persistentKeys: LogAttributes = {}, sink?: LogSink): Logger {
  const options: ConstructorOptions = {
    serviceName: SERVICE_NAME,
    logLevel: config.logLevel,
    persistentKeys,
    jsonReplacerFn: redactSensitive,
  };
  return sink === undefined ? new Logger(options) : new SinkLogger(options, sink);
}

/** Prints to a {@link LogSink}, through the hooks Powertools keeps protected for subclasses. */
class SinkLogger extends Logger {
  /** Not a `#private` field: Powertools may print from its own constructor, before fields exist. */
  private readonly sink: LogSink | undefined;

  constructor(options: ConstructorOptions, sink: LogSink | undefined) {
    super(options);
    this.sink = sink;
  }

  protected override printLog(logLevel: number, log: LogItem): void {
    if (this.sink === undefined) {
      super.printLog(logLevel, log);
      return;
    }
    log.prepareForPrint();
    this.sink(JSON.stringify(log.getAttributes(), this.getJsonReplacer()));
  }

  protected override createLogger(options: ConstructorOptions = {}): Logger {
    return new SinkLogger(options, this.sink);
  }
}
