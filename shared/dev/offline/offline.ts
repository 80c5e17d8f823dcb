/**
 * The deployed functions running locally on their own triggers: `serverless offline` (osls with
 * serverless-offline, the functions bundled by serverless-esbuild as for a deploy) against the local
 * AWS, plus what serverless-offline has no emulation for. It runs `sweep` on its schedule itself;
 * this module delivers, through serverless-offline's Lambda Invoke API:
 *
 * - to `onEvent`, the fake's CloudTrail events (`GET /_fake/cloudtrail`) that one of its EventBridge
 *   rule patterns matches, each held until it is `CLOUDTRAIL_DELAY_MS` old in fake time;
 * - to `onChange`, the desired-state table's stream records (see `stream.ts`) that its filter
 *   patterns let through;
 * - to `onEvent`, the follow-ups the functions send to the stack's follow-up queue (created here, as
 *   the stack creates it), each once its delay has passed in fake time, as Lambda's event source does.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ensureTable } from '../../adapters/dynamodb-store.js';
import { LOCAL_ACCOUNT_ID } from '../../runtime/deps.js';
import type { TargetedResult } from '../../runtime/lambda.js';
import type { CloudTrailEvent } from '../demo/admin.js';
import { FakeAdmin } from '../demo/admin.js';
import { demoCredentials } from '../demo/clients.js';
import { matchesPattern } from '../demo/event-pattern.js';
import { type FakeOptions, type FakeServer, startFake } from '../fake/server.js';
import { deployStackIam } from '../iam/stack.js';
import { QueuePump } from '../queue/pump.js';
import { loadService, SERVERLESS_BIN, type Service } from './service.js';
import { type StreamRecord, TableStream } from './stream.js';

/**
 * CloudTrail delivers an event minutes after the call, by which time a disconnect has finished. The
 * fake records events at once; each is held for this much fake time before it is routed.
 */
const CLOUDTRAIL_DELAY_MS = 10_000;
/** How often CloudTrail and the table are polled (real ms); a stream's batch window is 1 s. */
const POLL_MS = 500;
/** Bundling and starting the functions can take a while on a busy machine. */
const START_TIMEOUT_MS = 180_000;
/** How long `serverless offline` gets to halt before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

/** Where the local AWS comes from: started here with the fake's options, or already running. */
export type LocalAws = { start: Omit<FakeOptions, 'logger'> } | { endpoint: string };

/** Who the runner itself calls as: a principal the fake allows everything (no role of the stack). */
const RUNNER_ROLE = 'cks-offline-runner';

export interface OfflineOptions {
  aws: LocalAws;
  /** Given to both `serverless print` and `serverless offline`: `--stage`, `--region`, `--param`. */
  serverlessArgs: string[];
  /** Port of serverless-offline's Lambda Invoke API; null: a free one. */
  lambdaPort: number | null;
}

/** The runner: `start`, then `stop` (idempotent; also after a failed or partial start). */
export class Offline {
  readonly #stop = new AbortController();
  #fake: FakeServer | undefined;
  #fakeLog: WriteStream | undefined;
  #child: ChildProcess | undefined;
  #childExit: Promise<string> | undefined;
  #routing: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;

  constructor(
    private readonly options: OfflineOptions,
    /** Receives the runner's own lines, without the `cks offline: ` prefix. */
    private readonly print: (line: string) => void,
  ) {}

  /**
   * Starts (or finds) the local AWS, creates the table as the stack would, starts `serverless offline`
   * and begins routing. Resolves with how `serverless offline` ends once both answer.
   */
  async start(): Promise<{ exited: Promise<string> }> {
    const [endpoint, service] = await Promise.all([
      this.#localAws(),
      loadService(this.options.serverlessArgs, { ...process.env, SLS_TELEMETRY_DISABLED: '1' }),
    ]);
    const { region, table, routes } = service;
    // serverless-offline gives every function the same AWS_* variables, so both call as the sweep's
    // role: the fake names it in CloudTrail and the rules leave the reconciler's own calls out.
    const credentials = demoCredentials(routes.roles.sweep);
    // The table's creation and its stream's emulation are the stack's and DynamoDB Streams' doing, not a function's.
    const dynamo = new DynamoDBClient({ endpoint, region, credentials: demoCredentials(RUNNER_ROLE) });
    const created = await ensureTable(dynamo, table);
    const followUpQueue = String(service.template.Resources.FollowUpQueue?.Properties?.QueueName);
    await new SQSClient({ endpoint, region, credentials: demoCredentials(RUNNER_ROLE) }).send(new CreateQueueCommand({ QueueName: followUpQueue }));
    // The functions' calls are authorized by the stack's own policies, as deployed; `cks` may run as an OperatorPolicy holder.
    const operator = await deployStackIam(new FakeAdmin(endpoint), service.template, { accountId: LOCAL_ACCOUNT_ID, region });
    this.print(`stage ${service.stage}, Region ${region}, table ${table} (${created ? 'created' : 'exists'}); starting serverless offline`);

    const lambdaPort = this.options.lambdaPort ?? (await freePort());
    const lambdaUrl = `http://127.0.0.1:${lambdaPort}`;
    this.#spawnServerless(lambdaPort, {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_SESSION_TOKEN: credentials.sessionToken ?? '',
      // The function ARN serverless-offline passes names no account.
      CKS_ACCOUNT_ID: LOCAL_ACCOUNT_ID,
      // The Lambda runtime's Node is newer than the one this may run on.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    await this.#answers(lambdaUrl);

    const router = new Router(endpoint, service, {
      lambda: new LambdaClient({ endpoint: lambdaUrl, region, credentials }),
      stream: new TableStream(dynamo, table, region),
      // Lambda's event source mapping receives with the function's role.
      followUps: { sqs: new SQSClient({ endpoint, region, credentials: demoCredentials(routes.roles.onEvent) }), queueName: followUpQueue },
      print: this.print,
    });
    await router.begin();
    this.#routing = (async () => {
      const { signal } = this.#stop;
      while (!signal.aborted) {
        await router.pass().catch((error: unknown) => this.print(`error: ${error instanceof Error ? error.message : String(error)}`));
        await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
      }
    })();
    this.print(
      `ready (pid ${process.pid}): sweep runs on its schedule; onEvent gets the CloudTrail events its ${routes.eventPatterns.length} ` +
        `rules match and the follow-ups once due, and onChange the table's stream, through the Lambda API at ${lambdaUrl}`,
    );
    this.print(
      `from another terminal: export AWS_ENDPOINT_URL=${endpoint} AWS_REGION=${region} AWS_ACCESS_KEY_ID=test ` +
        `AWS_SECRET_ACCESS_KEY=test CKS_TABLE=${table}`,
    );
    this.print(
      `cks as a least-privilege operator (the stack's OperatorPolicy): AWS_ACCESS_KEY_ID=${operator.accessKeyId} ` +
        `AWS_SECRET_ACCESS_KEY=${operator.secretAccessKey}`,
    );
    return { exited: this.#childExit! };
  }

  /** Stops routing, `serverless offline` and the local AWS if it was started here. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stop.abort();
      await this.#routing;
      const child = this.#child;
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const halted = await Promise.race([this.#childExit!.then(() => true), sleep(STOP_TIMEOUT_MS, false)]);
        if (!halted) {
          child.kill('SIGKILL');
          await this.#childExit;
        }
      }
      await this.#fake?.close();
      await new Promise((resolve) => (this.#fakeLog ? this.#fakeLog.end(resolve) : resolve(undefined)));
    })();
    return this.#stopping;
  }

  /** The local AWS's endpoint: the fake started here, or `endpoint` once it answers as the fake. */
  async #localAws(): Promise<string> {
    const { aws } = this.options;
    if ('endpoint' in aws) {
      await fakeTime(aws.endpoint).catch((error: unknown) => {
        throw new Error(`AWS_ENDPOINT_URL ${aws.endpoint} does not answer as the local fake (GET /_fake/clock): ${String(error)}`);
      });
      this.print(`using the local AWS at ${aws.endpoint}`);
      return aws.endpoint;
    }
    const logFile = join(tmpdir(), `cks-offline-${process.pid}.log`);
    const log = createWriteStream(logFile);
    this.#fakeLog = log;
    this.#fake = await startFake({ ...aws.start, logger: (line) => log.write(`${line}\n`) });
    const clock = aws.start.clock === 'manual' ? 'manual clock' : `real clock x${aws.start.timeScale ?? 1}`;
    this.print(`local AWS listening on ${this.#fake.url} (${clock}); its call log: ${logFile}`);
    return this.#fake.url;
  }

  /** `serverless offline` with the functions' environment from serverless.yml plus `env`, output passed through. */
  #spawnServerless(lambdaPort: number, env: Record<string, string>): void {
    const args = ['offline', '--host', '127.0.0.1', '--lambdaPort', String(lambdaPort), '--localEnvironment', '--noSponsor'];
    const child = spawn(process.execPath, [SERVERLESS_BIN, ...args, ...this.options.serverlessArgs], {
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    this.#child = child;
    this.#childExit = new Promise((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ? `was killed by ${signal}` : `exited with code ${code}`)),
    );
  }

  /** Resolves once the Lambda API answers any request; rejects when serverless exits or time runs out. */
  async #answers(url: string): Promise<void> {
    const child = this.#child!;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`serverless offline ${await this.#childExit} before it answered`);
      if (
        await fetch(url).then(
          () => true,
          () => false,
        )
      )
        return;
      await sleep(250);
    }
    throw new Error(`serverless offline did not answer at ${url} within ${START_TIMEOUT_MS / 1000} s`);
  }
}

/** Delivers what the triggers would: matching CloudTrail events and due follow-ups to `onEvent`, stream records to `onChange`. */
class Router {
  #cursor = 0;
  /** CloudTrail events read but not yet old enough to deliver. */
  #held: CloudTrailEvent[] = [];
  readonly #followUps: QueuePump;

  constructor(
    private readonly endpoint: string,
    private readonly service: Service,
    private readonly io: {
      lambda: LambdaClient;
      stream: TableStream;
      followUps: { sqs: SQSClient; queueName: string };
      print: (line: string) => void;
    },
  ) {
    this.#followUps = new QueuePump(io.followUps.sqs, io.followUps.queueName, async (event) => {
      this.io.print('follow-up → onEvent');
      await this.#invoke('onEvent', this.service.onEventName, event);
    });
  }

  /** Events and changes from now on: a new rule or stream sees nothing from before it existed. */
  async begin(): Promise<void> {
    this.#cursor = (await this.#cloudTrail()).next;
    await this.io.stream.start();
  }

  /** One poll of CloudTrail, the follow-up queue and the table; each delivery waits for its function's answer. */
  async pass(): Promise<void> {
    await this.#followUps.drain();
    const [now, trail] = await Promise.all([fakeTime(this.endpoint), this.#cloudTrail()]);
    this.#cursor = trail.next;
    const all = [...this.#held, ...trail.events];
    this.#held = all.filter((event) => Date.parse(event.time) + CLOUDTRAIL_DELAY_MS > now);
    for (const event of all.filter((e) => !this.#held.includes(e))) {
      const call = `CloudTrail ${event.detail.eventName} by ${event.detail.userIdentity?.sessionContext?.sessionIssuer?.userName ?? 'an unknown caller'}`;
      if (!this.service.routes.eventPatterns.some((pattern) => matchesPattern(pattern, event))) {
        this.io.print(`${call}: no onEvent rule matches`);
        continue;
      }
      this.io.print(`${call} → onEvent`);
      await this.#invoke('onEvent', this.service.onEventName, event);
    }

    const { streamFilters } = this.service.routes;
    const records = (await this.io.stream.read()).filter(
      (record) => streamFilters.length === 0 || streamFilters.some((pattern) => matchesPattern(pattern, record)),
    );
    if (records.length > 0) {
      this.io.print(`stream: ${records.map(describeRecord).join(', ')} → onChange`);
      await this.#invoke('onChange', this.service.onChangeName, { Records: records });
    }
  }

  #cloudTrail(): Promise<{ events: CloudTrailEvent[]; next: number }> {
    const scope = `accountId=${LOCAL_ACCOUNT_ID}&region=${encodeURIComponent(this.service.region)}`;
    return getJson(`${this.endpoint}/_fake/cloudtrail?since=${this.#cursor}&${scope}`);
  }

  /** Invokes an event function (`label`, deployed as `name`) and prints what it did per store. */
  async #invoke(label: string, name: string, event: unknown): Promise<void> {
    const reply = await this.io.lambda.send(new InvokeCommand({ FunctionName: name, Payload: new TextEncoder().encode(JSON.stringify(event)) }));
    const text = new TextDecoder().decode(reply.Payload);
    if (reply.FunctionError) {
      const failure = text ? (JSON.parse(text) as { errorMessage?: string }) : {};
      this.io.print(`${label} failed: ${failure.errorMessage ?? reply.FunctionError}`);
      return;
    }
    const result = JSON.parse(text) as TargetedResult;
    if ('skipped' in result) {
      this.io.print(`${label}: ${result.skipped}`);
      return;
    }
    if (result.stores.length === 0) this.io.print(`${label} (${result.trigger}): no managed store is named`);
    for (const store of result.stores) {
      this.io.print(`${label} (${result.trigger}) ${store.name}: ${store.action} · ${store.reason}${store.error ? ` · error: ${store.error}` : ''}`);
    }
  }
}

function describeRecord(record: StreamRecord): string {
  return `${record.eventName} ${record.dynamodb.Keys.sk?.S ?? JSON.stringify(record.dynamodb.Keys)}`;
}

/** The fake's time (epoch ms): CloudTrail event times are in it. */
async function fakeTime(endpoint: string): Promise<number> {
  return (await getJson<{ nowMs: number }>(`${endpoint}/_fake/clock`)).nowMs;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  const body = (await response.json()) as T & { message?: string };
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${body.message ?? ''}`);
  return body;
}

/** A TCP port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
