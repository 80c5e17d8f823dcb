import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CliContext, CliError, type CliIo } from '../../shared/cli/context.js';
import { ConfigError } from '../../shared/errors.js';

const HOUR_MS = 3_600_000;

/** An endpoint that records the paths asked of it and answers GET /_fake/clock as `clock` says. */
let server: Server;
let endpoint: string;
let requested: string[];
let clock: { status: number; nowMs?: number };

beforeAll(async () => {
  server = createServer((request, response) => {
    requested.push(request.url ?? '');
    response.writeHead(clock.status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(clock.nowMs === undefined ? {} : { nowMs: clock.nowMs }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  requested = [];
  clock = { status: 200, nowMs: Date.now() + HOUR_MS };
});

/** A context with `--endpoint-url` the recording endpoint, unless `options` says otherwise. */
function context(env: Record<string, string>, options: { endpointUrl?: string } = { endpointUrl: endpoint }): CliContext {
  const io: CliIo = {
    stdout: () => undefined,
    stderr: () => undefined,
    env: { AWS_REGION: 'us-east-1', CKS_TABLE: 't', CKS_ACCOUNT_ID: '111122223333', AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', ...env },
  };
  return new CliContext(io, options);
}

describe('the CLI clock', () => {
  it('keeps real time and asks the endpoint nothing without CKS_FAKE_CLOCK', async () => {
    // Act
    const before = Date.now();
    const deps = await context({}).deps();

    // Assess
    expect(requested).toEqual([]);
    expect(deps.clock.now()).toBeGreaterThanOrEqual(before);
    expect(deps.clock.now()).toBeLessThan(before + HOUR_MS / 2);
  });

  it('keeps real time with CKS_FAKE_CLOCK=0', async () => {
    // Act
    await context({ CKS_FAKE_CLOCK: '0' }).deps();

    // Assess
    expect(requested).toEqual([]);
  });

  it("with CKS_FAKE_CLOCK=1 follows the fake's time, read again by each deps() call", async () => {
    // Prepare
    const ctx = context({ CKS_FAKE_CLOCK: '1' });

    // Act
    const first = (await ctx.deps()).clock.now();
    clock.nowMs = Date.now() + 2 * HOUR_MS;
    const second = (await ctx.deps()).clock.now();

    // Assess
    expect(requested).toEqual(['/_fake/clock', '/_fake/clock']);
    expect(first - Date.now()).toBeGreaterThan(HOUR_MS - 60_000);
    expect(second - Date.now()).toBeGreaterThan(2 * HOUR_MS - 60_000);
  });

  it('with CKS_FAKE_CLOCK=1 fails in one line against an endpoint that gives no fake time', async () => {
    // Prepare
    clock = { status: 404 };

    // Act
    const deps = context({ CKS_FAKE_CLOCK: '1' }).deps();

    // Assess
    await expect(deps).rejects.toThrow(CliError);
    await expect(deps).rejects.toThrow(`${endpoint}/_fake/clock gave no fake time (HTTP 404): CKS_FAKE_CLOCK=1 is for the local fake only`);
  });

  it('with CKS_FAKE_CLOCK=1 names the endpoint and the cause when it cannot be reached', async () => {
    // Prepare: a port nothing listens on.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));

    // Act
    const deps = context({ CKS_FAKE_CLOCK: '1' }, { endpointUrl: url }).deps();

    // Assess
    await expect(deps).rejects.toThrow(
      new RegExp(`^cannot read the local fake's clock at ${url}/_fake/clock \\(CKS_FAKE_CLOCK=1\\): .*ECONNREFUSED`),
    );
  });

  it('rejects a CKS_FAKE_CLOCK other than 1 or 0, naming it', () => {
    expect(() => context({ CKS_FAKE_CLOCK: 'yes' })).toThrow(
      new ConfigError(`CKS_FAKE_CLOCK must be 1 (keep the local fake's time) or 0, got "yes"`),
    );
  });

  it('rejects CKS_FAKE_CLOCK=1 without an endpoint', () => {
    expect(() => context({ CKS_FAKE_CLOCK: '1' }, {})).toThrow(
      new ConfigError("CKS_FAKE_CLOCK=1 needs the local fake's endpoint (AWS_ENDPOINT_URL or --endpoint-url)"),
    );
  });
});
