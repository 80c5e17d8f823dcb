/**
 * `npm run bench:fake`: DescribeCustomKeyStores throughput of the fake, to show that the cost of a
 * page does not grow with the number of stores in the world (stores are kept in creation order,
 * a Marker seeks by binary search, and each store's list entry is serialised once per change).
 *
 * Raw HTTP with keep-alive; response bodies are read but not parsed, so the figures are the fake's
 * cost plus the transfer, not an SDK's deserialisation.
 */
import http from 'node:http';
import { startFake } from '../../shared/dev/fake/server.js';

const MAX_REQUESTS = 20_000;
const MAX_MILLISECONDS = 2_000;
const CONCURRENCY = 4;

const fake = await startFake({ port: 0, clock: 'manual', storeQuota: 1000 });
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

/** One request; the body is kept only when `keep` (a measured request just counts its bytes). */
function request(path: string, headers: Record<string, string>, body: string, keep = true): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: fake.port, method: 'POST', path, agent, headers: { 'content-type': 'application/x-amz-json-1.1', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => keep && chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const kms = (operation: string, input: object, keep = true) =>
  request('/', { 'x-amz-target': `TrentService.${operation}` }, JSON.stringify(input), keep);

async function seedStores(from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const cluster = await request('/_fake/clusters', {}, JSON.stringify({ kmsuserPassword: 'kmsuser-Passw0rd' }));
    const { clusterId, trustAnchorCertificate } = JSON.parse(cluster.body.toString()) as Record<string, string>;
    const created = await kms('CreateCustomKeyStore', {
      CustomKeyStoreName: `bench-${String(i).padStart(4, '0')}`,
      CloudHsmClusterId: clusterId,
      TrustAnchorCertificate: trustAnchorCertificate,
      KeyStorePassword: 'kmsuser-Passw0rd',
    });
    if (created.status !== 200) throw new Error(`CreateCustomKeyStore: ${created.body.toString()}`);
  }
}

interface Figure {
  requestsPerSecond: number;
  bytesPerResponse: number;
  entries: number;
}

/**
 * Sends the same request for at most `maxRequests` or `maxMilliseconds`, CONCURRENCY at a time,
 * and returns the rate.
 */
async function run(input: object, maxRequests: number, maxMilliseconds: number): Promise<number> {
  let sent = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (sent < maxRequests && performance.now() - started < maxMilliseconds) {
      sent++;
      await kms('DescribeCustomKeyStores', input, false);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return sent / ((performance.now() - started) / 1000);
}

/** A warm-up run (so that every figure is taken with optimised code), then the measured run. */
async function measure(input: object): Promise<Figure> {
  const sample = await kms('DescribeCustomKeyStores', input);
  if (sample.status !== 200) throw new Error(`DescribeCustomKeyStores: ${sample.body.toString()}`);
  const entries = (JSON.parse(sample.body.toString()) as { CustomKeyStores: unknown[] }).CustomKeyStores.length;
  await run(input, MAX_REQUESTS / 4, MAX_MILLISECONDS / 4);
  const requestsPerSecond = await run(input, MAX_REQUESTS, MAX_MILLISECONDS);
  return { requestsPerSecond, bytesPerResponse: sample.body.length, entries };
}

function line(label: string, figure: Figure): string {
  const rate = Math.round(figure.requestsPerSecond).toLocaleString('en-US').padStart(7);
  const size = `${(figure.bytesPerResponse / 1024).toFixed(1)} KiB`.padStart(10);
  const throughput = `${((figure.requestsPerSecond * figure.bytesPerResponse) / 1024 / 1024).toFixed(0)} MiB/s`.padStart(9);
  return `  ${label.padEnd(48)} ${rate} req/s  ${String(figure.entries).padStart(4)} entries ${size} ${throughput}`;
}

try {
  await seedStores(0, 10);
  const smallWorld = await measure({ Limit: 1 });
  await seedStores(10, 1000);
  const firstPage = await measure({ Limit: 1 });
  const near = JSON.parse((await kms('DescribeCustomKeyStores', { Limit: 900 })).body.toString()) as { NextMarker: string };
  const afterMarker = await measure({ Limit: 1, Marker: near.NextMarker });
  const bigPage = await measure({ Limit: 1000 });

  console.log(`DescribeCustomKeyStores on the fake (CloudHSM key stores, ${CONCURRENCY} concurrent keep-alive requests,`);
  console.log(`at most ${MAX_REQUESTS.toLocaleString('en-US')} requests or ${MAX_MILLISECONDS / 1000} s per figure)`);
  console.log(line('page of 1, world of 10 stores', smallWorld));
  console.log(line('page of 1, world of 1000 stores', firstPage));
  console.log(line('page of 1 after a Marker at store 900 of 1000', afterMarker));
  console.log(line('page of 1000, world of 1000 stores', bigPage));
  const ratio = (a: number, b: number): string => (a / b).toFixed(2);
  console.log(
    `world size: page of 1 with 1000 stores runs at ${ratio(firstPage.requestsPerSecond, smallWorld.requestsPerSecond)}x the rate with 10 stores`,
  );
  console.log(`            (after a Marker: ${ratio(afterMarker.requestsPerSecond, smallWorld.requestsPerSecond)}x)`);
  console.log(`page size:  page of 1000 runs at ${ratio(bigPage.requestsPerSecond, firstPage.requestsPerSecond)}x the rate of a page of 1`);
  console.log(
    `            it carries ${Math.round(bigPage.bytesPerResponse / firstPage.bytesPerResponse)}x the bytes and takes ` +
      `${ratio(firstPage.requestsPerSecond, bigPage.requestsPerSecond)}x as long: entries served per second ` +
      `${Math.round(bigPage.requestsPerSecond * bigPage.entries).toLocaleString('en-US')} vs ${Math.round(firstPage.requestsPerSecond).toLocaleString('en-US')}`,
  );
} finally {
  agent.destroy();
  await fake.close();
}
