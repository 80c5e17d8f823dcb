/**
 * What every `cks` command shares: the configuration from global flags and environment, the core's
 * dependencies (built on first use), where output goes, and the CLI's own errors.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@aws-lambda-powertools/logger';
import { loadConfig, type Config } from '../config.js';
import { awsCall } from '../adapters/aws-errors.js';
import { makeAwsClients } from '../adapters/clients.js';
import { ConfigError } from '../errors.js';
import { makeLogger } from '../logger.js';
import { buildDeps, LOCAL_ACCOUNT_ID } from '../runtime/deps.js';
import type { Clock } from '../reconcile/ports.js';

/** Where the CLI reads its environment and writes its output; `bin/cks.js` wires it to the process. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
}

/** The flags every command takes. */
export interface GlobalOptions {
  endpointUrl?: string;
  region?: string;
  table?: string;
  accountId?: string;
  verbose?: boolean;
}

/** The command line is wrong: usage help goes to stderr and the exit code is 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An expected failure the operator can act on (a bad stores file, an unknown store): one line, exit 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

export type Deps = ReturnType<typeof buildDeps>;

/** One CLI run's configuration and dependencies. */
export class CliContext {
  readonly config: Config;
  readonly logger: Logger;
  #deps: Promise<Deps> | undefined;
  readonly #clock: EndpointClock;

  constructor(
    readonly io: CliIo,
    options: GlobalOptions,
  ) {
    this.config = loadConfig(io.env, {
      ...(options.endpointUrl !== undefined && { endpoint: options.endpointUrl }),
      ...(options.region !== undefined && { region: options.region }),
      ...(options.table !== undefined && { tableName: options.table }),
      ...(options.accountId !== undefined && { accountId: options.accountId }),
    });
    this.logger = cliLogger(this.config, io, options.verbose === true || Boolean(io.env.CKS_LOG_LEVEL?.trim()));
    this.#clock = new EndpointClock(this.config.endpoint);
  }

  /**
   * The core's dependencies, built on first use (the account may need the SDK's credentials). Each
   * call re-reads the local fake's clock, so a pass after `POST /_fake/clock/advance` sees that time.
   */
  async deps(): Promise<Deps> {
    this.#deps ??= this.#buildDeps();
    const deps = await this.#deps;
    await this.#clock.sync();
    return deps;
  }

  /** Prints one line on stdout. */
  print(line = ''): void {
    this.io.stdout(`${line}\n`);
  }

  async #buildDeps(): Promise<Deps> {
    const clients = makeAwsClients(this.config);
    const accountId = await this.#accountId(clients.kms.config.credentials);
    return buildDeps(this.config, { accountId, owner: `cli-${hostname()}-${process.pid}`, logger: this.logger, clients, clock: this.#clock });
  }

  /**
   * `--account-id` / `CKS_ACCOUNT_ID`; against a local endpoint the fake's rule (DESIGN.md §4): the
   * access key id when it is 12 digits, else `000000000000`. Real AWS needs it said: the CLI has no STS.
   */
  async #accountId(credentials: () => Promise<{ accessKeyId: string }>): Promise<string> {
    if (this.config.accountId !== undefined) return this.config.accountId;
    if (this.config.endpoint === undefined) {
      throw new ConfigError('CKS_ACCOUNT_ID is not set: the 12-digit account whose key stores are managed (or pass --account-id)');
    }
    const { accessKeyId } = await awsCall('Credentials', credentials);
    return /^\d{12}$/.test(accessKeyId) ? accessKeyId : LOCAL_ACCOUNT_ID;
  }
}

/**
 * Real time, except against the local fake (`GET /_fake/clock` answers): then the fake's time, so that
 * backoffs and deadlines move with `POST /_fake/clock/advance` as KMS's transitions do. Any other
 * endpoint (a VPC endpoint, say) does not answer that path and real time is kept.
 */
class EndpointClock implements Clock {
  #offsetMs = 0;

  constructor(private readonly endpoint: string | undefined) {}

  async sync(): Promise<void> {
    if (this.endpoint === undefined) return;
    try {
      const response = await fetch(new URL('/_fake/clock', this.endpoint));
      const body = response.ok ? ((await response.json()) as { nowMs?: unknown }) : {};
      if (typeof body.nowMs === 'number') this.#offsetMs = body.nowMs - Date.now();
    } catch {
      // Not reachable or not the fake: the calls that follow will say so; keep real time.
    }
  }

  now(): number {
    return Date.now() + this.#offsetMs;
  }

  sleep(ms: number): Promise<void> {
    return sleep(ms);
  }
}

/**
 * The core logs JSON lines; the CLI's stdout is for the operator. Logs go to stderr, and only when
 * asked for (`--verbose` at INFO, or `CKS_LOG_LEVEL` at its level); otherwise nowhere.
 */
function cliLogger(config: Config, io: CliIo, asked: boolean): Logger {
  return makeLogger({ logLevel: asked ? config.logLevel : 'SILENT' }, {}, (line) => io.stderr(`${line}\n`));
}

/** `5s`, `1m`, `500ms`, `1h` → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
  const ms = match ? Number(match[1]) * unit[match[2] as keyof typeof unit] : 0;
  if (!(ms > 0)) throw new UsageError(`--interval must be a duration such as 500ms, 5s or 1m, got "${text}"`);
  return ms;
}

/**
 * Runs `pass` now and then every `intervalMs` until SIGINT or SIGTERM. A signal during a pass lets it
 * finish (a pass is never cut between a call and its record); the loop then ends normally.
 */
export async function repeatUntilInterrupted(intervalMs: number, pass: () => Promise<void>): Promise<void> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    while (!stop.signal.aborted) {
      await pass();
      await sleep(intervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
