/**
 * The demo itself: the local AWS in-process with time running 60× faster, a world of custom key
 * stores built from `stores.yaml` and applied as desired state, a scenario that breaks stores one
 * failure at a time, and the two Lambda functions reconciling them — the sweep every interval, the
 * on-event function for each CloudTrail event its rules match, each follow-up once its delay has passed
 * on the fake's clock, and each desired-state change. A small
 * fleet: besides its own account and Region, stores in the own account's second Region and in a
 * member account's two Regions, reached through the member role as the worker reaches them.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SweepResult } from '../../../functions/sweep.js';
import { makeAdapters, makeAwsClients } from '../../adapters/clients.js';
import { DynamoStateAdapter, ensureTable } from '../../adapters/dynamodb-store.js';
import { type Config, loadConfig } from '../../config.js';
import type { Scope } from '../../domain/types.js';
import { errorMessage } from '../../errors.js';
import { sameScope, scopeLabel } from '../../fleet/scope.js';
import { groupByScope } from '../../fleet/targets.js';
import { makeLogger } from '../../logger.js';
import type { Clock, KmsPort } from '../../reconcile/ports.js';
import { LOCAL_ACCOUNT_ID } from '../../runtime/deps.js';
import type { ScopeResult, TargetedResult } from '../../runtime/lambda.js';
import { type FakeServer, startFake } from '../fake/server.js';
import { deployMemberRole, deployStackIam, stackTemplate } from '../iam/stack.js';
import { type CloudTrailEvent, FakeAdmin } from './admin.js';
import { demoCredentials } from './clients.js';
import { type DemoLambdas, makeLambdas } from './lambdas.js';
import { loadRoutes } from './routes.js';
import { DemoView, reachedRows, type StoreRow, storeRows, type ViewStats } from './view.js';
import { buildWorld, parseDemoStores, type ScopeTools, scenario, type WorldTools } from './world.js';

/** Fake seconds per real second: a CloudHSM connect (120 fake s) takes 2 real seconds. */
export const TIME_SCALE = 60;
/** The port the local AWS takes when it is free and no other is asked for. */
export const DEFAULT_PORT = 4566;
/**
 * CloudTrail delivers an event minutes after the call, by which time a disconnect has finished. The
 * fake records events at once; the demo holds each for this much fake time before routing it.
 */
const CLOUDTRAIL_DELAY_MS = 10_000;
/**
 * A run's lease, in fake time. The deployed minute would be one real second here, which a busy machine's
 * pass outlasts (its status write is then refused); fifteen fake minutes give a run fifteen real seconds.
 */
const LEASE_TTL_MS = 15 * 60_000;
/** How often the view, the CloudTrail poll and the stream emulation run (real ms). */
const WATCH_MS = 250;
const REGION = 'us-east-1';
const TABLE = 'cks-demo';
/** The role a human operator calls as: CloudTrail names it, and the on-event rules let it through. */
const OPERATOR_ROLE = 'demo-operator';
/** The role the reconciler assumes in the fleet's other scopes (CKS_MEMBER_ROLE_NAME's default). */
const MEMBER_ROLE = 'cks-reconciler-member';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface DemoOptions {
  /** The local AWS's port; null: 4566 when free, else any free one. */
  port: number | null;
  /** Real seconds between sweeps. */
  intervalSeconds: number;
}

/** A running demo: `run` until `stop`. */
export class Demo {
  readonly #stop = new AbortController();
  #stopping: Promise<void> | undefined;
  #running: Promise<void> = Promise.resolve();
  readonly #state: DynamoStateAdapter;
  readonly #kms: KmsPort;
  readonly #tools: WorldTools;
  readonly #clock: Clock;
  readonly #stats: ViewStats;
  readonly #counts = { succeeded: 0, escalated: 0 };
  #rows: StoreRow[] = [];
  #trailCursor = 0;
  /** CloudTrail events read but not yet delivered (see CLOUDTRAIL_DELAY_MS). */
  #trail: CloudTrailEvent[] = [];
  #eventCursor = 0;
  readonly #generations = new Map<string, number>();
  /** The fleet's other scopes, with the operator's clients and the table there. */
  #fleet: Array<{ scope: Scope; tools: ScopeTools; state: DynamoStateAdapter }> = [];
  #fleetRows: StoreRow[] = [];

  private constructor(
    private readonly fake: FakeServer,
    private readonly config: Config,
    private readonly view: DemoView,
    private readonly log: WriteStream,
    private readonly files: { log: string; stores: string },
    intervalSeconds: number,
  ) {
    this.#clock = { now: () => fake.now(), sleep: (ms) => sleep(ms / TIME_SCALE) };
    const operator = makeAwsClients(config, demoCredentials(OPERATOR_ROLE));
    this.#kms = makeAdapters(config, operator, this.#clock).kms;
    this.#state = new DynamoStateAdapter(operator.dynamo, TABLE, { accountId: LOCAL_ACCOUNT_ID, region: REGION });
    this.#tools = {
      admin: new FakeAdmin(fake.url),
      kms: operator.kms,
      secrets: operator.secrets,
      kmsPort: this.#kms,
      state: this.#state,
      now: () => this.#clock.now(),
      elsewhere: (scope) => {
        // The account's own operator: the fake takes a 12-digit access key id as the account.
        const clients = makeAwsClients({ ...config, region: scope.region }, { ...demoCredentials(OPERATOR_ROLE), accessKeyId: scope.accountId });
        return { kms: clients.kms, secrets: clients.secrets, kmsPort: makeAdapters(config, clients, this.#clock).kms };
      },
    };
    this.#stats = { fakeTime: fake.now(), timeScale: TIME_SCALE, intervalSeconds, sweeps: 0, onEventRuns: 0, onChangeRuns: 0, routed: 0, leftOut: 0 };
  }

  /**
   * Starts the local AWS and the view. The reconciler's JSON logs and the fake's call log go to a
   * file in the temp directory (named after the port unless it is 4566), never to the screen.
   */
  static async start(options: DemoOptions, out: NodeJS.WriteStream): Promise<Demo> {
    let log: WriteStream | undefined;
    const sink = (line: string): void => void log?.write(`${line}\n`);
    // The screen belongs to the view: process warnings (e.g. the SDK's Node version notice) go to the log.
    process.removeAllListeners('warning');
    process.on('warning', (warning) => sink(`${warning.name}: ${warning.message}`));
    const fake = await startLocalAws(options.port, sink);
    const base = join(tmpdir(), fake.port === DEFAULT_PORT ? 'cks-demo' : `cks-demo-${fake.port}`);
    const files = { log: `${base}.log`, stores: `${base}-stores.yaml` };
    log = createWriteStream(files.log);
    const config = loadConfig({}, { region: REGION, tableName: TABLE, endpoint: fake.url, accountId: LOCAL_ACCOUNT_ID, leaseTtlMs: LEASE_TTL_MS });
    const view = new DemoView(out, {
      endpoint: fake.url,
      table: TABLE,
      region: REGION,
      accountId: LOCAL_ACCOUNT_ID,
      logFile: files.log,
      storesFile: files.stores,
    });
    return new Demo(fake, config, view, log, files, options.intervalSeconds);
  }

  /** Builds the world, applies the desired state, and reconciles until `stop`. */
  async run(): Promise<void> {
    this.view.activity('demo', `local AWS listening on ${this.fake.url}; building the world from shared/dev/demo/stores.yaml`);
    await ensureTable(new DynamoDBClient({ region: REGION, endpoint: this.fake.url, credentials: demoCredentials(OPERATOR_ROLE) }), TABLE);
    // Everything runs as deployed: each function as its role, `cks` as a holder of the OperatorPolicy.
    const home = { accountId: LOCAL_ACCOUNT_ID, region: REGION };
    const template = await stackTemplate();
    const operatorKeys = await deployStackIam(this.#tools.admin, template, {
      ...home,
      names: { StoresTable: TABLE, ReconcilerEventBus: this.config.eventBusName },
    });
    // The stack's follow-up queue, as CloudFormation creates it.
    const followUpQueue = String(template.Resources.FollowUpQueue?.Properties?.QueueName);
    const sqs = new SQSClient({ region: REGION, endpoint: this.fake.url, credentials: demoCredentials(OPERATOR_ROLE) });
    await sqs.send(new CreateQueueCommand({ QueueName: followUpQueue }));
    const cks = makeAwsClients(this.config, operatorKeys).dynamo;
    const text = await buildWorld(await readFile(join(ROOT, 'shared/dev/demo/stores.yaml'), 'utf8'), this.#tools);
    const specs = parseDemoStores(text, 'stores.yaml');
    await writeFile(this.files.stores, text);
    const declared: string[] = [];
    const groups = groupByScope(specs, this.#state.scope);
    const fleetRegions = [...new Set(groups.map((group) => group.scope.region))];
    for (const group of groups) {
      const state = new DynamoStateAdapter(cks, TABLE, group.scope);
      declared.push(...(await state.putDesired(group.specs, this.#clock.now())));
      if (sameScope(group.scope, this.#state.scope)) continue;
      await state.registerScope();
      // The StackSets template's roles: the member role, trusted by the function roles that act there from
      // inside the organization, and the read-only role for people.
      await deployMemberRole(this.#tools.admin, home, group.scope.accountId, fleetRegions);
      this.#fleet.push({ scope: group.scope, tools: this.#tools.elsewhere(group.scope), state });
    }
    this.view.activity(
      'apply',
      `stores.yaml applied as \`cks apply -f\` applies it: ${declared.length} stores declared in ${this.#fleet.length + 1} account-Regions`,
    );
    const lambdas = makeLambdas(this.config, await loadRoutes(join(ROOT, 'serverless.yml')), {
      clock: this.#clock,
      followUpQueue,
      logger: makeLogger(this.config, {}, (line) => this.log.write(`${line}\n`)),
    });
    // CloudTrail events from here on: building the world is not what the demo is about.
    this.#trailCursor = (await this.#tools.admin.cloudTrail(0)).next;

    const signal = this.#stop.signal;
    const steps = scenario(specs, this.#tools);
    const startedAt = Date.now();
    this.#running = Promise.all([
      every(WATCH_MS, signal, () => this.#watch(lambdas), this.#reportError),
      every(this.#stats.intervalSeconds * 1000, signal, () => this.#sweep(lambdas), this.#reportError),
      (async () => {
        for (const step of steps) {
          await sleep(startedAt + step.at * 1000 - Date.now(), undefined, { signal });
          this.view.activity('world', `${step.store}: ${step.says}`);
          await step.run().catch(this.#reportError);
        }
      })().catch(() => undefined /* stopped while waiting for the next step */),
    ]).then(() => undefined);
    await this.#running;
  }

  /** Stops the loops and the local AWS, gives the terminal back and prints a one-line summary. Idempotent. */
  stop(why: string): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stop.abort();
      await this.#running;
      await this.fake.close();
      const byState = new Map<string, number>();
      for (const row of this.#rows) byState.set(row.observed, (byState.get(row.observed) ?? 0) + 1);
      const states = byState.size === 0 ? 'none built yet' : [...byState].map(([state, n]) => `${n} ${state}`).join(', ');
      const fleetStates = new Map<string, number>();
      for (const row of this.#fleetRows) fleetStates.set(row.observed, (fleetStates.get(row.observed) ?? 0) + 1);
      const fleet =
        this.#fleet.length === 0
          ? ''
          : ` and ${this.#fleetRows.length} in ${this.#fleet.length} other account-Regions (${[...fleetStates].map(([state, n]) => `${n} ${state}`).join(', ')})`;
      const { sweeps, onEventRuns, onChangeRuns } = this.#stats;
      this.view.close(
        `cks demo stopped (${why}): ${this.#rows.length} stores (${states})${fleet}; ${this.#counts.succeeded} repairs succeeded, ` +
          `${this.#counts.escalated} escalated; ${sweeps} sweeps, ${onEventRuns} on-event and ${onChangeRuns} on-change runs; logs in ${this.files.log}`,
      );
      await new Promise((resolve) => this.log.end(resolve));
    })();
    return this.#stopping;
  }

  async #sweep(lambdas: DemoLambdas): Promise<void> {
    this.#stats.sweeps += 1;
    this.#report('sweep', await lambdas.sweep());
  }

  /** One tick: deliver due follow-ups, route new CloudTrail events and desired-state changes, then refresh the view. */
  async #watch(lambdas: DemoLambdas): Promise<void> {
    const { admin } = this.#tools;
    // Follow-ups are on-event runs, as deployed.
    for (const result of await lambdas.deliverFollowUps()) {
      this.#stats.onEventRuns += 1;
      this.#report('on-event', result);
    }
    const trail = await admin.cloudTrail(this.#trailCursor);
    this.#trailCursor = trail.next;
    const read = [...this.#trail, ...trail.events];
    const due = this.fake.now() - CLOUDTRAIL_DELAY_MS;
    this.#trail = read.filter((event) => Date.parse(event.time) > due);
    for (const event of read.filter((event) => Date.parse(event.time) <= due)) {
      // A member account forwards its events, less the member role's own (the StackSets template's rule).
      const forwarded = event.account === LOCAL_ACCOUNT_ID && event.region === REGION ? true : !isMemberRole(event);
      if (!forwarded || !lambdas.ruleMatches(event)) {
        this.#stats.leftOut += 1;
        continue;
      }
      this.#stats.routed += 1;
      const caller = event.detail.userIdentity?.sessionContext?.sessionIssuer?.userName ?? 'an unknown caller';
      this.view.activity('cloudtrail', `${event.detail.eventName} by ${caller} matches an on-event rule → on-event`);
      await this.#onEvent(lambdas, event);
    }

    const [{ records }, observed] = await Promise.all([this.#state.loadAll(), this.#kms.listStores()]);
    const changes = records.flatMap((record) => {
      if (!record.desired) return [];
      const generation = Number(record.desired.generation ?? 0);
      const seen = this.#generations.get(record.name);
      this.#generations.set(record.name, generation);
      if (seen === generation) return [];
      return [{ name: record.name, eventName: seen === undefined ? ('INSERT' as const) : ('MODIFY' as const), item: record.desired }];
    });
    const batch = lambdas.streamBatch(changes);
    if (batch) {
      this.view.activity('stream', `desired state of ${changes.map((c) => c.name).join(', ')} written → on-change`);
      this.#stats.onChangeRuns += 1;
      this.#report('on-change', await lambdas.onChange(batch));
    }
    this.#rows = storeRows(records, observed);
    this.#fleetRows = (
      await Promise.all(
        this.#fleet.map(async ({ scope, tools, state }) => {
          const [{ records: there, unreachable }, seen] = await Promise.all([state.loadAll(), tools.kmsPort.listStores()]);
          return reachedRows(storeRows(there, seen), unreachable).map((row) => ({ ...row, name: `${row.name} @${scopeLabel(scope)}` }));
        }),
      )
    ).flat();
    this.view.stores([...this.#rows, ...this.#fleetRows]);

    const events = await admin.events(this.#eventCursor);
    this.#eventCursor = (events.at(-1)?.seq ?? this.#eventCursor - 1) + 1;
    this.#counts.succeeded += events.filter((e) => e.DetailType === 'Repair Succeeded').length;
    this.#counts.escalated += events.filter((e) => e.DetailType === 'Repair Escalated').length;
    this.view.events(events);
    this.#stats.fakeTime = this.fake.now();
    this.view.render(this.#stats);
  }

  async #onEvent(lambdas: DemoLambdas, event: unknown): Promise<void> {
    this.#stats.onEventRuns += 1;
    this.#report('on-event', await lambdas.onEvent(event));
  }

  /** An activity line per store the function acted on (or failed on), and per other scope it swept. */
  #report(trigger: string, outcome: SweepResult | ScopeResult | TargetedResult, where = ''): void {
    if ('skipped' in outcome) return;
    if ('swept' in outcome) for (const scope of outcome.swept) this.#report(trigger, scope, ` @${scope.scope}`);
    if ('status' in outcome && outcome.status === 'closed')
      this.view.activity(trigger, `${outcome.scope}: closed, no store is declared there any more`);
    if ('status' in outcome && outcome.status === 'unreachable')
      this.view.activity(trigger, `${outcome.scope}: unreachable, ${outcome.operation} failed with ${outcome.errorCode}`);
    if (!('stores' in outcome)) return;
    for (const store of outcome.stores) {
      if ((store.action === 'none' || store.action.startsWith('skipped')) && !store.error) continue;
      this.view.activity(trigger, `${store.name}${where}: ${store.action} · ${store.reason}${store.error ? ` · error: ${store.error}` : ''}`);
    }
  }

  readonly #reportError = (error: unknown): void => {
    this.view.activity('error', errorMessage(error));
  };
}

/** A call the member role made: a member account's forwarding rule leaves it out, as the central rules leave out the reconciler's own. */
function isMemberRole(event: CloudTrailEvent): boolean {
  return event.detail.userIdentity?.sessionContext?.sessionIssuer?.userName === MEMBER_ROLE;
}

/** The fake on `port`; with none asked for, 4566 when it is free, else any free one. */
async function startLocalAws(port: number | null, logger: (line: string) => void): Promise<FakeServer> {
  const options = { clock: 'real', timeScale: TIME_SCALE, logger } as const;
  if (port !== null) return startFake({ ...options, port });
  return startFake({ ...options, port: DEFAULT_PORT }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EADDRINUSE') throw error;
    return startFake({ ...options, port: 0 });
  });
}

/** Runs `pass` every `ms` until `signal` aborts; a failing pass is reported and the loop goes on. */
async function every(ms: number, signal: AbortSignal, pass: () => Promise<void>, onError: (error: unknown) => void): Promise<void> {
  while (!signal.aborted) {
    await pass().catch(onError);
    await sleep(ms, undefined, { signal }).catch(() => undefined);
  }
}
