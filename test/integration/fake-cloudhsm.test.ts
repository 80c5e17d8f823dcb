import {
  CloudHSMV2Client,
  type Cluster,
  CreateHsmCommand,
  DeleteHsmCommand,
  type DeleteHsmCommandInput,
  DescribeClustersCommand,
  type Hsm,
} from '@aws-sdk/client-cloudhsm-v2';
import { describe, expect, it } from 'vitest';
import { fakeForFile } from '../helpers/fake.js';

const fake = await fakeForFile();
const cloudHsm = new CloudHSMV2Client({ ...fake.config, maxAttempts: 1 });

async function newCluster(body: Record<string, unknown> = {}): Promise<string> {
  const { status, body: reply } = await fake.admin('POST', '/_fake/clusters', { kmsuserPassword: 'kmsuser-Passw0rd', ...body });
  expect(status).toBe(200);
  return reply.clusterId;
}

async function describeCluster(clusterId: string): Promise<Cluster> {
  const { Clusters } = await cloudHsm.send(new DescribeClustersCommand({ Filters: { clusterIds: [clusterId] } }));
  expect(Clusters).toHaveLength(1);
  return Clusters![0]!;
}

describe('DescribeClusters', () => {
  it('describes a cluster as CloudHSM does, with HSMs in distinct AZs and epoch-second timestamps', async () => {
    const clusterId = await newCluster({ activeHsms: 3 });
    expect(clusterId).toMatch(/^cluster-[2-7a-z]{11}$/);
    const cluster = await describeCluster(clusterId);
    expect(cluster).toMatchObject({
      ClusterId: clusterId,
      State: 'ACTIVE',
      HsmType: 'hsm1.medium',
      VpcId: expect.stringMatching(/^vpc-[0-9a-f]+$/),
      SecurityGroup: expect.stringMatching(/^sg-[0-9a-f]+$/),
      SubnetMapping: {
        'us-east-1a': expect.stringMatching(/^subnet-/),
        'us-east-1b': expect.stringMatching(/^subnet-/),
        'us-east-1c': expect.stringMatching(/^subnet-/),
      },
      Certificates: { ClusterCertificate: expect.stringContaining('-----BEGIN CERTIFICATE-----') },
    });
    // @aws-sdk/client-cloudhsm-v2 3.332 reads an ISO string as 1970: the fake sends epoch seconds.
    expect(Math.abs(cluster.CreateTimestamp!.getTime() - fake.now())).toBeLessThan(1000);
    expect(cluster.Hsms!.map((hsm) => hsm.AvailabilityZone).sort()).toEqual(['us-east-1a', 'us-east-1b', 'us-east-1c']);
    for (const hsm of cluster.Hsms!) {
      expect(hsm).toMatchObject({
        ClusterId: clusterId,
        HsmId: expect.stringMatching(/^hsm-[2-7a-z]{11}$/),
        EniId: expect.stringMatching(/^eni-/),
        EniIp: expect.stringMatching(/^10\.0\.\d+\.\d+$/),
        State: 'ACTIVE',
        SubnetId: cluster.SubnetMapping![hsm.AvailabilityZone!],
      });
    }
  });

  it('gives clusters that share a backup history the same cluster certificate', async () => {
    const original = await newCluster();
    const restored = await newCluster({ relatedTo: original });
    const unrelated = await newCluster();
    const certificate = async (id: string): Promise<string | undefined> => (await describeCluster(id)).Certificates?.ClusterCertificate;
    expect(await certificate(restored)).toBe(await certificate(original));
    expect(await certificate(unrelated)).not.toBe(await certificate(original));
  });

  it('filters by clusterIds, vpcIds and states', async () => {
    const [a, b, c] = [await newCluster(), await newCluster(), await newCluster()];
    await fake.admin('PATCH', `/_fake/clusters/${c}`, { state: 'DEGRADED' });
    const ids = async (Filters: Record<string, string[]>): Promise<string[]> =>
      ((await cloudHsm.send(new DescribeClustersCommand({ Filters }))).Clusters ?? []).map((x) => x.ClusterId!);
    expect(await ids({ clusterIds: [a!, c!] })).toEqual([a, c]);
    expect(await ids({ vpcIds: [(await describeCluster(b!)).VpcId!] })).toEqual([b]);
    expect(await ids({ states: ['DEGRADED'] })).toEqual([c]);
    expect(await ids({ states: ['ACTIVE'], clusterIds: [a!, c!] })).toEqual([a]);
  });

  it('pages with MaxResults and NextToken', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push(await newCluster());
    const seen: string[] = [];
    const tokens: (string | undefined)[] = [];
    let NextToken: string | undefined;
    do {
      const page = await cloudHsm.send(new DescribeClustersCommand({ MaxResults: 2, NextToken }));
      seen.push(...page.Clusters!.map((c) => c.ClusterId!));
      NextToken = page.NextToken;
      tokens.push(NextToken);
    } while (NextToken);
    expect(seen).toEqual(created);
    expect(tokens).toHaveLength(3);
  });

  it.each([
    [{ MaxResults: 0 }, "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"],
    [{ MaxResults: 26 }, "Value '26' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 25"],
    [{ NextToken: 'garbage' }, 'NextToken is invalid'],
    [{ Filters: { owners: ['me'] } }, 'Invalid filter key: owners'],
  ])('rejects %o with CloudHsmInvalidRequestException', async (input, message) => {
    await expect(cloudHsm.send(new DescribeClustersCommand(input))).rejects.toMatchObject({
      name: 'CloudHsmInvalidRequestException',
      message: expect.stringContaining(message),
    });
  });

  it('sends CloudHSM errors with a capitalised Message member and the x-amzn-errortype header', async () => {
    const response = await fetch(fake.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'BaldrApiService.DescribeClusters' },
      body: JSON.stringify({ MaxResults: 99 }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('CloudHsmInvalidRequestException');
    const body = await response.json();
    expect(body).toEqual({ __type: 'CloudHsmInvalidRequestException', Message: expect.stringContaining('maxResults') });
  });

  it('shows a deleted cluster in state DELETED with no HSMs', async () => {
    const clusterId = await newCluster();
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { deleted: true });
    expect(await describeCluster(clusterId)).toMatchObject({ State: 'DELETED', Hsms: [] });
  });
});

describe('CreateHsm', () => {
  it('creates an HSM in CREATE_IN_PROGRESS that becomes ACTIVE after 300 fake seconds', async () => {
    const clusterId = await newCluster({ activeHsms: 0 });
    const { Hsm } = await cloudHsm.send(new CreateHsmCommand({ ClusterId: clusterId, AvailabilityZone: 'us-east-1b' }));
    expect(Hsm).toMatchObject({
      ClusterId: clusterId,
      AvailabilityZone: 'us-east-1b',
      State: 'CREATE_IN_PROGRESS',
      HsmId: expect.stringMatching(/^hsm-/),
    });
    fake.advance(299);
    expect((await describeCluster(clusterId)).Hsms!.map((h) => h.State)).toEqual(['CREATE_IN_PROGRESS']);
    fake.advance(1);
    expect((await describeCluster(clusterId)).Hsms!.map((h) => h.State)).toEqual(['ACTIVE']);
  });

  it('uses the requested IP address', async () => {
    const clusterId = await newCluster({ activeHsms: 0 });
    const { Hsm } = await cloudHsm.send(new CreateHsmCommand({ ClusterId: clusterId, AvailabilityZone: 'us-east-1a', IpAddress: '10.0.0.200' }));
    expect(Hsm!.EniIp).toBe('10.0.0.200');
  });

  it('rejects an Availability Zone outside the cluster subnet mapping with CloudHsmInvalidRequestException', async () => {
    const clusterId = await newCluster();
    await expect(cloudHsm.send(new CreateHsmCommand({ ClusterId: clusterId, AvailabilityZone: 'us-east-1f' }))).rejects.toMatchObject({
      name: 'CloudHsmInvalidRequestException',
      message: expect.stringContaining('us-east-1f'),
    });
  });

  it('rejects a malformed Availability Zone or cluster id with CloudHsmInvalidRequestException', async () => {
    await expect(cloudHsm.send(new CreateHsmCommand({ ClusterId: 'cluster-234567abcde', AvailabilityZone: 'moon' }))).rejects.toMatchObject({
      name: 'CloudHsmInvalidRequestException',
      message: expect.stringContaining("at 'availabilityZone'"),
    });
    await expect(cloudHsm.send(new CreateHsmCommand({ ClusterId: 'c-1', AvailabilityZone: 'us-east-1a' }))).rejects.toMatchObject({
      name: 'CloudHsmInvalidRequestException',
      message: expect.stringContaining("at 'clusterId'"),
    });
  });

  it('rejects an unknown or deleted cluster with CloudHsmResourceNotFoundException', async () => {
    await expect(cloudHsm.send(new CreateHsmCommand({ ClusterId: 'cluster-234567abcde', AvailabilityZone: 'us-east-1a' }))).rejects.toMatchObject({
      name: 'CloudHsmResourceNotFoundException',
      message: expect.stringContaining('cluster-234567abcde'),
    });
    const clusterId = await newCluster();
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { deleted: true });
    await expect(cloudHsm.send(new CreateHsmCommand({ ClusterId: clusterId, AvailabilityZone: 'us-east-1a' }))).rejects.toMatchObject({
      name: 'CloudHsmResourceNotFoundException',
    });
  });

  it('rejects an HSM in a cluster whose subnet has no free address with CloudHsmInvalidRequestException', async () => {
    const clusterId = await newCluster();
    await fake.admin('PATCH', `/_fake/clusters/${clusterId}`, { freeAddresses: 0 });
    await expect(cloudHsm.send(new CreateHsmCommand({ ClusterId: clusterId, AvailabilityZone: 'us-east-1a' }))).rejects.toMatchObject({
      name: 'CloudHsmInvalidRequestException',
      message: expect.stringContaining('no free IP address'),
    });
  });
});

describe('DeleteHsm', () => {
  async function clusterWithHsms(): Promise<{ clusterId: string; hsms: Hsm[] }> {
    const clusterId = await newCluster({ activeHsms: 3 });
    return { clusterId, hsms: (await describeCluster(clusterId)).Hsms! };
  }

  it.each([
    ['HsmId', (hsm: Hsm) => ({ HsmId: hsm.HsmId })],
    ['EniId', (hsm: Hsm) => ({ EniId: hsm.EniId })],
    ['EniIp', (hsm: Hsm) => ({ EniIp: hsm.EniIp })],
  ])('deletes an HSM by %s: DELETE_IN_PROGRESS, then gone after 60 fake seconds', async (_key, select) => {
    const { clusterId, hsms } = await clusterWithHsms();
    const { HsmId } = await cloudHsm.send(new DeleteHsmCommand({ ClusterId: clusterId, ...select(hsms[0]!) }));
    expect(HsmId).toBe(hsms[0]!.HsmId);
    const during = (await describeCluster(clusterId)).Hsms!.find((h) => h.HsmId === HsmId);
    expect(during?.State).toBe('DELETE_IN_PROGRESS');
    fake.advance(60);
    expect((await describeCluster(clusterId)).Hsms!.map((h) => h.HsmId)).toEqual(hsms.slice(1).map((h) => h.HsmId));
  });

  it.each([
    ['no HSM selector', {}],
    ['two HSM selectors', { HsmId: 'hsm-234567abcde', EniIp: '10.0.0.10' }],
  ])('rejects %s with CloudHsmInvalidRequestException', async (_case, selector: Partial<DeleteHsmCommandInput>) => {
    const { clusterId } = await clusterWithHsms();
    await expect(cloudHsm.send(new DeleteHsmCommand({ ClusterId: clusterId, ...selector }))).rejects.toMatchObject({
      name: 'CloudHsmInvalidRequestException',
      message: expect.stringContaining('exactly one of HsmId, EniId or EniIp'),
    });
  });

  it('rejects an unknown HSM with CloudHsmResourceNotFoundException', async () => {
    const { clusterId } = await clusterWithHsms();
    await expect(cloudHsm.send(new DeleteHsmCommand({ ClusterId: clusterId, HsmId: 'hsm-234567abcde' }))).rejects.toMatchObject({
      name: 'CloudHsmResourceNotFoundException',
      message: expect.stringContaining('hsm-234567abcde'),
    });
  });

  it('rejects deleting an HSM already being deleted with CloudHsmInvalidRequestException', async () => {
    const { clusterId, hsms } = await clusterWithHsms();
    await cloudHsm.send(new DeleteHsmCommand({ ClusterId: clusterId, HsmId: hsms[0]!.HsmId }));
    await expect(cloudHsm.send(new DeleteHsmCommand({ ClusterId: clusterId, HsmId: hsms[0]!.HsmId }))).rejects.toMatchObject({
      name: 'CloudHsmInvalidRequestException',
      message: expect.stringContaining('already being deleted'),
    });
  });
});
