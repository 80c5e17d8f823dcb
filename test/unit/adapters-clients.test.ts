import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeAdapters, makeAwsClients } from '../../shared/adapters/clients.js';
import { CloudHsmSdkAdapter } from '../../shared/adapters/cloudhsm.js';
import { EventBridgeAdapter } from '../../shared/adapters/eventbridge.js';
import { KmsSdkAdapter } from '../../shared/adapters/kms.js';
import { SecretsManagerAdapter } from '../../shared/adapters/secrets.js';
import type { Clock } from '../../shared/reconcile/ports.js';

const clock: Clock = { now: () => 0, sleep: async () => undefined };

describe('makeAwsClients', () => {
  let server: Server;
  let endpoint: string;
  const received: IncomingHttpHeaders[] = [];

  beforeEach(async () => {
    received.length = 0;
    server = createServer((request, response) => {
      received.push(request.headers);
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(request.headers['x-amz-target']?.toString().startsWith('BaldrApiService.') ? '{"Clusters":[]}' : '{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    vi.stubEnv('AWS_ACCESS_KEY_ID', '111122223333');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test-secret');
  });

  afterEach(async () => {
    vi.unstubAllEnvs();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('gives every client the region and adaptive retries', async () => {
    // Act
    const clients = makeAwsClients({ region: 'eu-central-1', endpoint });

    // Assess
    for (const client of [clients.kms, clients.cloudHsm, clients.secrets, clients.eventBridge]) {
      expect(await client.config.region()).toBe('eu-central-1');
      expect(await client.config.maxAttempts()).toBe(4);
      expect(await client.config.retryStrategy()).toMatchObject({ mode: 'adaptive' });
    }
    expect(await clients.dynamo.config.region()).toBe('eu-central-1');
  });

  it('sends CloudHSM v2 calls to the endpoint, signed for "cloudhsm"', async () => {
    // Prepare
    const clients = makeAwsClients({ region: 'eu-central-1', endpoint });
    const adapters = makeAdapters({ eventBusName: 'default', mutationRatePerSecond: 2 }, clients, clock);

    // Act
    await adapters.cloudHsm.describeClusters(['cluster-abcdefghijk']);

    // Assess
    expect(received).toHaveLength(1);
    expect(received[0]?.['x-amz-target']).toBe('BaldrApiService.DescribeClusters');
    expect(received[0]?.authorization).toContain('/eu-central-1/cloudhsm/aws4_request');
  });

  it('sends KMS calls to the endpoint too', async () => {
    // Prepare
    const clients = makeAwsClients({ region: 'eu-central-1', endpoint });
    const adapters = makeAdapters({ eventBusName: 'default', mutationRatePerSecond: 2 }, clients, clock);

    // Act
    await adapters.kms.connect('cks-1');

    // Assess
    expect(received[0]?.['x-amz-target']).toBe('TrentService.ConnectCustomKeyStore');
    expect(received[0]?.authorization).toContain('/eu-central-1/kms/aws4_request');
  });
});

describe('makeAdapters', () => {
  it('builds one SDK adapter per port', () => {
    // Act
    const adapters = makeAdapters({ eventBusName: 'ops', mutationRatePerSecond: 2 }, makeAwsClients({ region: 'us-east-1' }), clock);

    // Assess
    expect(adapters.kms).toBeInstanceOf(KmsSdkAdapter);
    expect(adapters.cloudHsm).toBeInstanceOf(CloudHsmSdkAdapter);
    expect(adapters.secrets).toBeInstanceOf(SecretsManagerAdapter);
    expect(adapters.events).toBeInstanceOf(EventBridgeAdapter);
  });
});
