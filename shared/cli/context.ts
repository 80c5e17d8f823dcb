/**
 * What every `cks` command shares: the configuration from global flags and environment, the core's
 * dependencies (built on first use), where output goes, and the CLI's own errors.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, type Config } from '../config.js';
import { awsCall } from '../adapters/aws-errors.js';
import { ConfigError } from '../errors.js';
import type { StaticCredentials } from '../adapters/clients.js';
import type { buildDeps } from '../runtime/deps.js';
import type { FleetRuntime } from '../runtime/fleet.js';
import { parseScope, ScopeSyntaxError } from '../fleet/scope.js';
import type { Scope } from '../domain/types.js';
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
  /** `--scope <account>/<region>`: the account and Region the store commands act in (default: the deployment's own). */
  scope?: string;
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
  /** The scope `--scope` names; undefined: the deployment's own. */
  readonly scope: Scope | undefined;
  #fleet: Promise<FleetRuntime> | undefined;
  /** The access key of the environment, if it names one (else the SDK's default chain is used). */
  readonly credentials: StaticCredentials | undefined;
  /** Whether the core's log lines are printed (`--verbose` or `CKS_LOG_LEVEL`). */
  readonly #logsAsked: boolean;
  readonly #clock: CliClock;

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
    try {
      this.scope = options.scope === undefined ? undefined : parseScope(options.scope);
    } catch (error) {
      throw error instanceof ScopeSyntaxError ? new UsageError(error.message) : error;
    }
    this.credentials = envCredentials(io.env);
    this.#logsAsked = options.verbose === true || Boolean(io.env.CKS_LOG_LEVEL?.trim());
    this.#clock = new CliClock(fakeClockUrl(io.env, this.config.endpoint));
  }

  /**
   * The core's dependencies, built on first use (the account may need the SDK's credentials). With
   * `CKS_FAKE_CLOCK=1` each call re-reads the local fake's clock, so a pass after
   * `POST /_fake/clock/advance` sees that time.
   */
  async deps(): Promise<Deps> {
    const fleet = await this.fleet();
    return fleet.deps(this.scope ?? fleet.home);
  }

  /** Every scope's dependencies (`--all`): the deployment's own account and Region, and the member role's elsewhere. */
  async fleet(): Promise<FleetRuntime> {
    this.#fleet ??= this.#buildFleet();
    const fleet = await this.#fleet;
    await this.#clock.sync();
    return fleet;
  }

  /** Prints one line on stdout. */
  print(line = ''): void {
    this.io.stdout(`${line}\n`);
  }

  /**
   * The SDK clients, the core and the logger are loaded here, by the first command that needs them:
   * `cks --help` and usage errors load none of them.
   */
  async #buildFleet(): Promise<FleetRuntime> {
    const [{ makeAwsClients }, { LOCAL_ACCOUNT_ID }, { FleetRuntime }, { loadFleetConfig }, { makeLogger }] = await Promise.all([
      import('../adapters/clients.js'),
      import('../runtime/deps.js'),
      import('../runtime/fleet.js'),
      import('../config.js'),
      import('../logger.js'),
    ]);
    const clients = makeAwsClients(this.config, this.credentials);
    const accountId = this.config.accountId ?? (await this.#localAccountId(clients.kms.config.credentials, LOCAL_ACCOUNT_ID));
    // The core logs JSON lines; the CLI's stdout is for the operator. Logs go to stderr, and only
    // when asked for (`--verbose` at INFO, or `CKS_LOG_LEVEL` at its level); otherwise nowhere.
    const logger = makeLogger({ logLevel: this.#logsAsked ? this.config.logLevel : 'SILENT' }, {}, (line) => this.io.stderr(`${line}\n`));
    return new FleetRuntime(this.config, loadFleetConfig(this.io.env), { accountId, owner: `cli-${hostname()}-${process.pid}`, logger, clients, clock: this.#clock });
  }

  /**
   * Without `--account-id` / `CKS_ACCOUNT_ID`, against a local endpoint, the fake's rule: the access
   * key id when it is 12 digits, else `fallback` (000000000000). Real AWS needs it said: the CLI has no STS.
   */
  async #localAccountId(credentials: () => Promise<{ accessKeyId: string }>, fallback: string): Promise<string> {
    if (this.config.endpoint === undefined) {
      throw new ConfigError('CKS_ACCOUNT_ID is not set: the 12-digit account whose key stores are managed (or pass --account-id)');
    }
    const { accessKeyId } = await awsCall('Credentials', credentials);
    return /^\d{12}$/.test(accessKeyId) ? accessKeyId : fallback;
  }
}

/**
 * `CKS_FAKE_CLOCK=1`: the CLI keeps the local fake's time, read from `<endpoint>/_fake/clock`.
 * Unset, empty or `0`: real time, and nothing is asked of the endpoint beyond the AWS calls.
 */
function fakeClockUrl(env: CliIo['env'], endpoint: string | undefined): URL | undefined {
  const value = env.CKS_FAKE_CLOCK?.trim() ?? '';
  if (value === '' || value === '0') return undefined;
  if (value !== '1') throw new ConfigError(`CKS_FAKE_CLOCK must be 1 (keep the local fake's time) or 0, got "${value}"`);
  if (endpoint === undefined) {
    throw new ConfigError("CKS_FAKE_CLOCK=1 needs the local fake's endpoint (AWS_ENDPOINT_URL or --endpoint-url)");
  }
  return new URL('/_fake/clock', endpoint);
}

/**
 * Real time; with a fake clock URL, the local fake's time, so that backoffs and deadlines move with
 * `POST /_fake/clock/advance` as KMS's transitions do.
 */
class CliClock implements Clock {
  #offsetMs = 0;

  constructor(private readonly fakeClock: URL | undefined) {}

  /** Reads the fake's time (with a fake clock URL): an endpoint that does not give it is an error. */
  async sync(): Promise<void> {
    if (this.fakeClock === undefined) return;
    const response = await fetch(this.fakeClock).catch((error: unknown) => {
      // fetch's own message is "fetch failed"; its cause says why (ECONNREFUSED, a DNS failure...).
      const reason = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
      throw new CliError(`cannot read the local fake's clock at ${this.fakeClock} (CKS_FAKE_CLOCK=1): ${reason}`);
    });
    const body = response.ok ? ((await response.json().catch(() => ({}))) as { nowMs?: unknown }) : {};
    if (typeof body.nowMs !== 'number') {
      throw new CliError(`${this.fakeClock} gave no fake time (HTTP ${response.status}): CKS_FAKE_CLOCK=1 is for the local fake only`);
    }
    this.#offsetMs = body.nowMs - Date.now();
  }

  now(): number {
    return Date.now() + this.#offsetMs;
  }

  sleep(ms: number): Promise<void> {
    return sleep(ms);
  }
}

/**
 * The access key the CLI's environment names (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optionally
 * `AWS_SESSION_TOKEN`), else none: the SDK's default chain (profiles, SSO, instance roles) finds one.
 */
function envCredentials(env: CliIo['env']): StaticCredentials | undefined {
  const [accessKeyId, secretAccessKey, sessionToken] = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'].map((name) => env[name]?.trim());
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, ...(sessionToken && { sessionToken }) };
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
