/**
 * Starts the local AWS fake in-process for integration tests.
 *
 * ```ts
 * const fake = await startTestFake();               // port 0, manual clock
 * const kms = new KMSClient(fake.config);
 * const { body } = await fake.admin('POST', '/_fake/clusters', { kmsuserPassword: 'pw-123456' });
 * fake.advance(120);                                // fake seconds: transitions apply
 * await fake.close();
 * ```
 *
 * A test file that shares one fake among its tests starts it at its top level instead:
 * `const fake = await fakeForFile();` resets it before each test and closes it after the last.
 *
 * Every answer of the fake's AWS API is checked against the official service models
 * (`service-models.ts`); `fakeForFile` fails each test after which a divergence was found.
 * Stores, clusters and secrets in it are built with `./world.ts`.
 */
import { afterAll, afterEach, beforeEach, expect } from 'vitest';
import { type FakeOptions, type FakeServer, startFake } from '../../shared/dev/fake/server.js';
import { checkResponse, isEmulatorDivergence } from './service-models.js';

/** Ready-made SDK v3 client configuration: pass it to any client constructor. */
export interface FakeClientConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export interface TestFake extends FakeServer {
  /** Client config for the default account `000000000000` in `us-east-1`. */
  config: FakeClientConfig;
  /**
   * Client config for another account and/or Region. `roleName` becomes the caller's role in
   * CloudTrail events (sent as the session token, which the fake reads as a role name).
   */
  configFor(options: { accountId?: string; region?: string; roleName?: string }): FakeClientConfig;
  /**
   * Calls the admin API (`/_fake/...`); `body` is sent as JSON. Never throws on an HTTP error
   * status: check `status`. `T` defaults to `any` because admin replies are loosely shaped JSON.
   */
  // biome-ignore lint/suspicious/noExplicitAny: admin replies are loosely shaped JSON that tests read field by field
  admin<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** The fake's log lines so far (one per call, plus unexpected errors). */
  logs: string[];
  /**
   * How answers so far diverged from the service models (operation, member path and rule, one line
   * each), but for the DynamoDB emulator's own known divergences.
   */
  divergences: string[];
}

/** Starts the fake on an ephemeral port with a manual clock (override with `options`). */
export async function startTestFake(options: Omit<FakeOptions, 'logger' | 'onResponse'> = {}): Promise<TestFake> {
  const logs: string[] = [];
  const divergences: string[] = [];
  const server = await startFake({
    port: 0,
    clock: 'manual',
    ...options,
    logger: (line) => logs.push(line),
    onResponse: (response) => {
      try {
        divergences.push(...checkResponse(response).filter((found) => !isEmulatorDivergence(found)));
      } catch (error) {
        divergences.push(`${response.service}.${response.operation}: not checked: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
  });
  const configFor = ({ accountId = '000000000000', region = 'us-east-1', roleName = '' } = {}): FakeClientConfig => ({
    endpoint: server.url,
    region,
    credentials: {
      accessKeyId: accountId,
      secretAccessKey: 'fake-secret-access-key',
      ...(roleName !== '' && { sessionToken: roleName }),
    },
  });
  return {
    ...server,
    config: configFor({}),
    configFor,
    logs,
    divergences,
    async admin<T>(method: string, path: string, body?: unknown) {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as T };
    },
  };
}

/**
 * The fake of one test file: started now, reset (`POST /_fake/reset`) before each of its tests, closed
 * after the last; a test fails when an answer the fake gave during it diverged from the service models.
 */
export async function fakeForFile(options: Omit<FakeOptions, 'logger' | 'onResponse'> = {}): Promise<TestFake> {
  const fake = await startTestFake(options);
  beforeEach(async () => {
    await fake.admin('POST', '/_fake/reset');
  });
  afterEach(() => {
    const found = fake.divergences.splice(0);
    expect(found, 'answers of the fake that diverge from the AWS service models').toEqual([]);
  });
  afterAll(() => fake.close());
  return fake;
}
