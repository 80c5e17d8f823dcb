/**
 * What every `cks` command shares: the configuration from global flags and environment, the core's
 * dependencies (built on first use), where output goes, and the CLI's own errors.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { awsCall } from '../adapters/aws-errors.js';
import type { StaticCredentials } from '../adapters/clients.js';
import { type Config, loadConfig } from '../config.js';
import { signerOf } from '../domain/signatures.js';
import type { Scope } from '../domain/types.js';
import { ConfigError } from '../errors.js';
import { parseScope, ScopeSyntaxError } from '../fleet/scope.js';
import type { Clock } from '../reconcile/ports.js';
import type { buildDeps } from '../runtime/deps.js';
import type { FleetRuntime } from '../runtime/fleet.js';
import { DEFAULT_SECRET_PREFIX, type StackNames, stackNames } from './stack.js';

/** Where the CLI reads its environment and writes its output; `bin/cks.js` wires it to the process. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** The terminal's width, when stdout is one: long text is wrapped to it (100 otherwise). */
  columns?: number;
}

/** The flags every command takes. */
export interface GlobalOptions {
  endpointUrl?: string;
  region?: string;
  table?: string;
  accountId?: string;
  /** A deployed stack's stage: its table, event bus and (by STS) account. */
  stage?: string;
  verbose?: boolean;
  /** `--scope <account>/<region>`: the account and Region the store commands act in (default: the deployment's own). */
  scope?: string;
}

/** Who runs the command, from STS GetCallerIdentity. */
export interface Caller {
  arn: string;
  account: string;
  /**
   * Whom the caller signs changes as (see `signerOf`): `source/<CKS_SOURCE_IDENTITY>` when that is set
   * (STS cannot tell a session's source identity back), else `principal/<STS UserId>`.
   */
  signer: string;
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
  /** The deployed stack named by `--stage` / `CKS_STAGE`, if any. */
  readonly stack: StackNames | undefined;
  /** The deployment's secret name prefix (`CKS_SECRET_PREFIX`, as serverless.yml's `secretPrefix`). */
  readonly secretPrefix: string;
  /** The scope `--scope` names; undefined: the deployment's own. */
  readonly scope: Scope | undefined;
  /** The access key of the environment, if it names one (else the SDK's default chain is used). */
  readonly credentials: StaticCredentials | undefined;
  #fleet: Promise<FleetRuntime> | undefined;
  #caller: Promise<Caller> | undefined;
  /** Whether the core's log lines are printed (`--verbose` or `CKS_LOG_LEVEL`). */
  readonly #logsAsked: boolean;
  readonly #clock: CliClock;

  constructor(
    readonly io: CliIo,
    options: GlobalOptions,
  ) {
    const stage = options.stage ?? nonEmpty(io.env.CKS_STAGE);
    this.stack = stage === undefined ? undefined : stackNames(stage);
    this.config = loadConfig(io.env, {
      ...(options.endpointUrl !== undefined && { endpoint: options.endpointUrl }),
      ...(options.region !== undefined && { region: options.region }),
      ...(options.accountId !== undefined && { accountId: options.accountId }),
      ...stackConfig(this.stack, options.table ?? nonEmpty(io.env.CKS_TABLE), nonEmpty(io.env.CKS_EVENT_BUS)),
    });
    this.secretPrefix = io.env.CKS_SECRET_PREFIX ?? DEFAULT_SECRET_PREFIX;
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
   *
   * `publishes`: the command may publish the reconciler's events (`cks sweep`). Against AWS they must go
   * to the deployed stack's bus, where its on-call rules listen: an escalation published anywhere else
   * is never heard, and never sent again (an incident pages once). So without an endpoint such a
   * command needs the stack (`--stage`), which names the bus.
   */
  async deps(options: { publishes?: boolean } = {}): Promise<Deps> {
    if (options.publishes === true && this.config.endpoint === undefined && this.stack === undefined) {
      throw new CliError(
        `this command publishes the reconciler's events, and against AWS they must reach the deployed stack's bus, where its on-call rules listen: ` +
          `name the stack with --stage <stage> (or CKS_STAGE), not only CKS_EVENT_BUS (now "${this.config.eventBusName}")`,
      );
    }
    const fleet = await this.fleet();
    return fleet.deps(this.scope ?? fleet.home);
  }

  /**
   * Every scope's dependencies (`--all`): the deployment's own account and Region, and elsewhere the
   * read-only member role's (`CKS_MEMBER_READ_ROLE_NAME`): what cks does there is read.
   */
  async fleet(): Promise<FleetRuntime> {
    this.#fleet ??= this.#buildFleet();
    const fleet = await this.#fleet;
    await this.#clock.sync();
    return fleet;
  }

  /** Who runs this command (STS GetCallerIdentity, asked once): the principal recorded as `changedBy`, and the signer of its signatures. */
  caller(): Promise<Caller> {
    this.#caller ??= this.#callerIdentity();
    return this.#caller;
  }

  /**
   * The options every SDK client of this run gets: the Region, the endpoint, and the access key of
   * the CLI's environment when it holds one (else the SDK's default chain: profile, SSO, role), so
   * that the environment `cks` was given is the one it acts with.
   */
  get clientOptions(): { region: string; endpoint?: string; credentials?: StaticCredentials } {
    const { region, endpoint } = this.config;
    return { region, ...(endpoint !== undefined && { endpoint }), ...(this.credentials !== undefined && { credentials: this.credentials }) };
  }

  /** How wide text printed for people may be. */
  get width(): number {
    return this.io.columns ?? 100;
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
    const [{ makeAwsClients }, { LOCAL_ACCOUNT_ID }, { FleetRuntime }, { loadFleetConfig, loadMemberReadRoleName }, { makeLogger }] =
      await Promise.all([
        import('../adapters/clients.js'),
        import('../runtime/deps.js'),
        import('../runtime/fleet.js'),
        import('../config.js'),
        import('../logger.js'),
      ]);
    const clients = makeAwsClients(this.config, this.credentials);
    // A named stack is managed in the caller's own account (the stack's, where the caller operates).
    const accountId =
      this.config.accountId ??
      (this.stack !== undefined ? (await this.caller()).account : await this.#localAccountId(clients.kms.config.credentials, LOCAL_ACCOUNT_ID));
    // The core logs JSON lines; the CLI's stdout is for the operator. Logs go to stderr, and only
    // when asked for (`--verbose` at INFO, or `CKS_LOG_LEVEL` at its level); otherwise nowhere.
    const logger = makeLogger({ logLevel: this.#logsAsked ? this.config.logLevel : 'SILENT' }, {}, (line) => this.io.stderr(`${line}\n`));
    // In another account, cks reads through the read-only member role, never the reconciler's own.
    const fleetConfig = loadFleetConfig(this.io.env, { memberRoleName: loadMemberReadRoleName(this.io.env) });
    return new FleetRuntime(this.config, fleetConfig, {
      accountId,
      owner: `cli-${hostname()}-${process.pid}`,
      logger,
      clients,
      clock: this.#clock,
    });
  }

  /** The STS client is loaded by the commands that ask who the caller is, not by the others. */
  async #callerIdentity(): Promise<Caller> {
    const { STSClient, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
    const sts = new STSClient(this.clientOptions);
    const identity = await awsCall('STS.GetCallerIdentity', () => sts.send(new GetCallerIdentityCommand({})));
    if (identity.Arn === undefined || identity.Account === undefined || identity.UserId === undefined)
      throw new CliError('STS GetCallerIdentity named no caller: cannot tell who runs this command');
    const sourceIdentity = nonEmpty(this.io.env.CKS_SOURCE_IDENTITY) ?? null;
    return { arn: identity.Arn, account: identity.Account, signer: signerOf({ userId: identity.UserId, sourceIdentity }) };
  }

  /**
   * Without `--account-id` / `CKS_ACCOUNT_ID`, against a local endpoint, the fake's rule: the access
   * key id when it is 12 digits, else `fallback` (000000000000). Real AWS needs it said, or the stack
   * named (`--stage`), whose account is the caller's.
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
  const [accessKeyId, secretAccessKey, sessionToken] = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'].map((name) =>
    env[name]?.trim(),
  );
  if (!accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, ...(sessionToken && { sessionToken }) };
}

/** The one duration syntax of every flag: a number of seconds (`5`), or with a unit: `500ms`, `5s`, `2m`, `1h`, `7d`. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  const ms = match ? Number(match[1]) * unit[(match[2] ?? 's') as keyof typeof unit] : 0;
  if (!(ms > 0)) throw new UsageError(`${flag} must be a duration such as 5 (seconds), 500ms, 5s, 2m, 1h or 7d, got "${text}"`);
  return ms;
}

/** The table and bus of a named stack; one also named by `--table`, `CKS_TABLE` or `CKS_EVENT_BUS` must be the same. */
function stackConfig(stack: StackNames | undefined, table: string | undefined, eventBus: string | undefined): Partial<Config> {
  if (stack === undefined) return table === undefined ? {} : { tableName: table };
  if (table !== undefined && table !== stack.table) {
    throw new ConfigError(`stage "${stack.stage}" has the table ${stack.table}, but --table or CKS_TABLE says ${table}: give one of them`);
  }
  if (eventBus !== undefined && eventBus !== stack.eventBus) {
    throw new ConfigError(`stage "${stack.stage}" has the event bus ${stack.eventBus}, but CKS_EVENT_BUS says ${eventBus}: give one of them`);
  }
  return { tableName: stack.table, eventBusName: stack.eventBus };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === '' ? undefined : trimmed;
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
