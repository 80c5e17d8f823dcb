/**
 * The admin API under `/_fake/`: set up and break the world, move fake time, read what the product
 * did. JSON in and out; errors are AWS-shaped (`{"__type", "message"}`): 400 for a bad body, 404
 * for an unknown cluster, store, proxy or route.
 */
import { z } from 'zod';
import { MAX_ADVANCE_SECONDS } from './clock.js';
import { CLUSTER_STATES, type Cluster, newLineage } from './cloudhsm/model.js';
import { ACCOUNT_PATTERN, DEFAULT_SCOPE, REGION_PATTERN, type Scope, scopeKey } from './context.js';
import type { DynamoForwarder } from './dynamodb.js';
import { AwsError } from './errors.js';
import { checkPolicy, userArn } from './iam/model.js';
import { CONNECTION_ERROR_CODES } from './kms/enums.js';
import { XksProxy } from './kms/xks-proxy.js';
import * as random from './random.js';
import { roleArn } from './sts/model.js';
import type { Fault, Partition, World } from './world.js';

export interface AdminReply {
  status: number;
  body: unknown;
}

const notFound = (message: string): AwsError => new AwsError('ResourceNotFoundException', message, 404);
const invalid = (message: string): AwsError => new AwsError('ValidationException', message, 400);

const ScopeFields = {
  accountId: z.string().regex(ACCOUNT_PATTERN, 'must be 12 digits').optional(),
  region: z.string().regex(REGION_PATTERN, `must be a Region name like us-east-1 (${REGION_PATTERN.source})`).optional(),
};
const ScopeQuery = z.object(ScopeFields);

const NewCluster = z.strictObject({
  ...ScopeFields,
  clusterId: z
    .string()
    .regex(/^cluster-[2-7a-z]{11,16}$/, 'must look like cluster-[2-7a-z]{11,16}')
    .optional(),
  activeHsms: z.number().int().min(0).max(30).default(2),
  kmsuserPassword: z.string().min(1).optional(),
  relatedTo: z.string().optional(),
});

const ClusterPatch = z.strictObject({
  ...ScopeFields,
  activeHsms: z.number().int().min(0).max(30).optional(),
  kmsuserPassword: z.string().min(1).optional(),
  kmsuserExists: z.boolean().optional(),
  kmsuserLoggedIn: z.boolean().optional(),
  kmsuserLockedOut: z.boolean().optional(),
  subnetDeleted: z.boolean().optional(),
  freeAddresses: z.number().int().min(0).optional(),
  state: z.enum(CLUSTER_STATES).optional(),
  deleted: z.boolean().optional(),
});

const ProxyFields = {
  uriPath: z.string().min(1),
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  reachable: z.boolean(),
  vpcEndpointServiceName: z.string().min(1),
};
const UriEndpoint = z.string().regex(/^https:\/\/[a-zA-Z0-9.-]+$/, 'must look like https://host');
const NewProxy = z.strictObject({
  ...ScopeFields,
  uriEndpoint: UriEndpoint,
  ...ProxyFields,
  reachable: ProxyFields.reachable.default(true),
  vpcEndpointServiceName: ProxyFields.vpcEndpointServiceName.optional(),
});
const ProxyPatch = z.strictObject({ ...ScopeFields, uriEndpoint: UriEndpoint, ...ProxyFields }).partial({
  uriPath: true,
  accessKeyId: true,
  secretAccessKey: true,
  reachable: true,
  vpcEndpointServiceName: true,
});

const StoreErrorCode = z.strictObject({ ...ScopeFields, errorCode: z.enum(CONNECTION_ERROR_CODES) });

const NewFault = z
  .strictObject({
    ...ScopeFields,
    operation: z.string().min(1),
    error: z
      .string()
      .regex(/^[A-Za-z.#]+$/, 'must be an exception name')
      .optional(),
    count: z.number().int().min(1).optional(),
    after: z.number().int().min(0).optional(),
    probability: z.number().min(0).max(1).default(1),
    latencyMs: z.number().int().min(0).max(60_000).default(0),
  })
  .refine((fault) => fault.error !== undefined || fault.latencyMs > 0, 'a fault needs an error or a latencyMs');

/** The latest value of one CloudWatch metric (the fake keeps only that: GetMetricData reads it back). */
const NewMetric = z.strictObject({
  ...ScopeFields,
  namespace: z.literal('AWS/KMS'),
  metricName: z.enum([
    'XksProxyCertificateDaysToExpire',
    'XksProxyCredentialAge',
    'XksExternalKeyManagerStates',
    'XksProxyErrors',
    'XksProxyLatency',
    'ExternalKeyStoreThrottle',
  ]),
  dimensions: z.record(z.string().min(1).max(255), z.string().min(1).max(1024)).refine((d) => Object.keys(d).length <= 30, 'at most 30 dimensions'),
  value: z.number().finite(),
});

const IAM_NAME = /^[\w+=,.@-]{1,64}$/;
const Policy = z.record(z.string(), z.unknown());

/**
 * A role STS AssumeRole may return credentials for. Who may assume it: `trustPolicy`, else
 * `trustedAccounts` (absent: any account; `[]`: nobody). What its sessions may do: `policies`
 * (absent: everything).
 */
const NewRole = z.strictObject({
  accountId: ScopeFields.accountId.unwrap(),
  roleName: z.string().regex(IAM_NAME, 'must be an IAM role name'),
  trustedAccounts: z.array(z.string().regex(/^\d{12}$/, 'must be 12 digits')).optional(),
  trustPolicy: Policy.optional(),
  policies: z.array(Policy).optional(),
});

/** An IAM user with one access key, authorized by its identity policies (none: nothing is allowed). */
const NewPrincipal = z.strictObject({
  accountId: ScopeFields.accountId,
  userName: z.string().regex(IAM_NAME, 'must be an IAM user name'),
  policies: z.array(Policy).default([]),
});

/** An account's organization (`aws:PrincipalOrgID`, `aws:ResourceOrgID`); null: none. */
const Organization = z.strictObject({
  accountId: ScopeFields.accountId.unwrap(),
  organizationId: z
    .string()
    .regex(/^o-[a-z0-9]{10,32}$/, 'must look like o-[a-z0-9]{10,32}')
    .nullable(),
});

/** The resource policy of an event bus of an account and Region (default bus: `default`); null removes it. */
const BusPolicy = z.strictObject({
  ...ScopeFields,
  eventBusName: z.string().min(1).default('default'),
  policy: Policy.nullable(),
});
/** With a seed, the fake's identifiers, passwords and fault draws repeat from run to run (see random.ts). */
const Reset = z.strictObject({
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .optional(),
});

/** Fake time is one for every account and Region; the scope fields are accepted like on every call. */
const Advance = z.strictObject({
  ...ScopeFields,
  seconds: z.number().min(0).max(MAX_ADVANCE_SECONDS, `must be at most ${MAX_ADVANCE_SECONDS} (100 years)`),
});

/** Handles one admin request; `world.sync()` has run. */
export async function handleAdmin(world: World, dynamo: DynamoForwarder, method: string, url: URL, body: unknown): Promise<AdminReply> {
  const path = url.pathname.replace(/\/+$/, '');
  const query = url.searchParams;
  const route = `${method} ${path.replace(/^\/_fake\/(clusters|stores)\/[^/]+/, '/_fake/$1/{id}')}`;
  const id = decodePathSegment(path.split('/')[3] ?? '');

  switch (route) {
    case 'POST /_fake/reset':
      random.seedRandom(parse(Reset, body).seed ?? null);
      world.reset();
      await dynamo.close();
      return ok({});
    case 'GET /_fake/state': {
      const filter = scopeFilter(query);
      return ok({
        now: new Date(world.now()).toISOString(),
        nowMs: world.now(),
        clock: { mode: world.clock.mode, timeScale: world.clock.timeScale },
        storeQuota: world.storeQuota,
        pendingTransitions: world.pendingTransitions,
        faults: world.faults,
        roles: world.sts.roles().map((role) => ({
          roleArn: roleArn(role),
          roleId: role.roleId,
          trustedAccounts: role.trustedAccounts,
          trustPolicy: role.trustPolicy,
          policies: role.policies,
        })),
        principals: world.iam
          .users()
          .map((user) => ({ arn: userArn(user), userId: user.userId, accessKeyId: user.accessKeyId, policies: user.policies })),
        organizations: world.iam.organizations(),
        eventBusPolicies: world.iam.busPolicies(),
        partitions: [...world.partitions.values()].filter((p) => !p.isEmpty && filter(p.scope)).map((p) => p.toState()),
      });
    }
    case 'POST /_fake/clusters':
      return ok(createCluster(world, parse(NewCluster, body)));
    case 'PATCH /_fake/clusters/{id}': {
      const patch = parse(ClusterPatch, body);
      const cluster = world.partition(scopeOf(patch)).clusters.get(id);
      if (!cluster) throw notFound(`No cluster ${id} in ${scopeKey(scopeOf(patch))}.`);
      patchCluster(cluster, patch);
      return ok(cluster.toState());
    }
    case 'POST /_fake/xks-proxies': {
      const input = parse(NewProxy, body);
      const proxies = world.partition(scopeOf(input)).xksProxies;
      if (proxies.has(input.uriEndpoint)) throw invalid(`An XKS proxy at ${input.uriEndpoint} already exists.`);
      const proxy = new XksProxy(
        input.uriEndpoint,
        input.uriPath,
        input.accessKeyId,
        input.secretAccessKey,
        input.reachable,
        input.vpcEndpointServiceName,
      );
      proxies.set(proxy.uriEndpoint, proxy);
      return ok(proxy.toState());
    }
    case 'PATCH /_fake/xks-proxies': {
      const { accountId, region, uriEndpoint, ...changes } = parse(ProxyPatch, body);
      const proxy = world.partition(scopeOf({ accountId, region })).xksProxies.get(uriEndpoint);
      if (!proxy) throw notFound(`No XKS proxy at ${uriEndpoint}.`);
      Object.assign(proxy, changes);
      return ok(proxy.toState());
    }
    case 'POST /_fake/stores/{id}/outcome':
    case 'POST /_fake/stores/{id}/fail': {
      const input = parse(StoreErrorCode, body);
      const partition = world.partition(scopeOf(input));
      const store = partition.kms.find(id);
      if (!store) throw notFound(`No custom key store with name or id ${id} in ${scopeKey(partition.scope)}.`);
      if (route.endsWith('/outcome')) store.injectedOutcome = input.errorCode;
      else partition.kms.fail(store, input.errorCode);
      return ok(store.toState());
    }
    case 'POST /_fake/metrics': {
      const { namespace, metricName, dimensions, value, ...scope } = parse(NewMetric, body);
      const partition = world.partition(scopeOf(scope));
      partition.cloudWatch.put({ namespace, metricName, dimensions }, value, world.now());
      return ok({ namespace, metricName, dimensions, value, at: new Date(world.now()).toISOString() });
    }
    case 'POST /_fake/faults': {
      const fault: Fault = parse(NewFault, body);
      world.faults.push(fault);
      return ok({ faults: world.faults });
    }
    case 'POST /_fake/roles': {
      const input = parse(NewRole, body);
      const role = world.sts.putRole({
        ...input,
        trustPolicy: input.trustPolicy && checkPolicy(input.trustPolicy, 'trust'),
        policies: input.policies?.map((policy) => checkPolicy(policy, 'identity')),
      });
      world.iam.changed();
      return ok({ roleArn: roleArn(role), roleId: role.roleId, trustedAccounts: role.trustedAccounts });
    }
    case 'POST /_fake/principals': {
      const input = parse(NewPrincipal, body);
      const user = world.iam.putUser({
        accountId: scopeOf(input).accountId,
        userName: input.userName,
        policies: input.policies.map((policy) => checkPolicy(policy, 'identity')),
      });
      return ok({ arn: userArn(user), userId: user.userId, accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey });
    }
    case 'POST /_fake/organizations': {
      const { accountId, organizationId } = parse(Organization, body);
      world.iam.setOrganization(accountId, organizationId);
      return ok({ organizations: world.iam.organizations() });
    }
    case 'POST /_fake/event-bus-policies': {
      const input = parse(BusPolicy, body);
      const { accountId, region } = scopeOf(input);
      const busArn = `arn:aws:events:${region}:${accountId}:event-bus/${input.eventBusName}`;
      world.iam.setBusPolicy(busArn, input.policy && checkPolicy(input.policy, 'resource'));
      return ok({ eventBusArn: busArn, policy: input.policy });
    }
    case 'DELETE /_fake/faults':
      world.faults = [];
      return ok({});
    case 'GET /_fake/clock':
      return ok({ now: new Date(world.now()).toISOString(), nowMs: world.now(), mode: world.clock.mode, timeScale: world.clock.timeScale });
    case 'POST /_fake/clock/advance': {
      const { seconds } = parse(Advance, body);
      try {
        world.clock.advance(seconds);
      } catch (error) {
        if (error instanceof RangeError) throw invalid(`seconds: ${error.message}`);
        throw error;
      }
      world.sync();
      return ok({ now: new Date(world.now()).toISOString(), nowMs: world.now() });
    }
    case 'GET /_fake/events': {
      const filter = scopeFilter(query);
      return ok(
        world.events
          .since(cursor(query))
          .filter(({ entry }) => filter(entry))
          .map(({ seq, entry }) => ({ seq, ...entry })),
      );
    }
    case 'GET /_fake/calls': {
      const filter = scopeFilter(query);
      const counts: Record<string, number> = {};
      for (const [key, perOperation] of world.counts) {
        const [accountId = '', region = ''] = key.split('/');
        if (!filter({ accountId, region })) continue;
        for (const [name, count] of perOperation) counts[name] = (counts[name] ?? 0) + count;
      }
      const calls = world.calls.since(cursor(query)).flatMap(({ entry }) => (filter(entry) ? [entry] : []));
      return ok({ counts, calls });
    }
    case 'GET /_fake/cloudtrail': {
      const filter = scopeFilter(query);
      const events = world.cloudtrail.since(cursor(query)).flatMap(({ entry }) => (filter(entry.scope) ? [entry.event] : []));
      return ok({ events, next: world.cloudtrail.next });
    }
    default:
      throw notFound(`No admin call ${method} ${url.pathname}.`);
  }
}

function ok(body: unknown): AdminReply {
  return { status: 200, body };
}

function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  throw invalid(result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; '));
}

function scopeOf(fields: { accountId?: string | undefined; region?: string | undefined }): Scope {
  return { accountId: fields.accountId ?? DEFAULT_SCOPE.accountId, region: fields.region ?? DEFAULT_SCOPE.region };
}

/** For the GET reads: only the given account and/or Region, or everything when neither is given. */
function scopeFilter(query: URLSearchParams): (scope: Scope) => boolean {
  const { accountId, region } = parse(ScopeQuery, {
    accountId: query.get('accountId') ?? undefined,
    region: query.get('region') ?? undefined,
  });
  return (scope) => (accountId === undefined || scope.accountId === accountId) && (region === undefined || scope.region === region);
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalid(`path: malformed percent-encoding in "${segment}"`);
  }
}

function cursor(query: URLSearchParams): number {
  const given = query.get('since');
  const since = given === null ? 0 : Number(given);
  if (!Number.isInteger(since) || since < 0) throw invalid('since: must be a non-negative integer');
  return since;
}

function createCluster(world: World, input: z.output<typeof NewCluster>): object {
  const partition: Partition = world.partition(scopeOf(input));
  const clusterId = input.clusterId ?? random.clusterId();
  if (partition.clusters.get(clusterId)) throw invalid(`The cluster ${clusterId} already exists.`);
  let related: Cluster | undefined;
  if (input.relatedTo !== undefined) {
    related = partition.clusters.get(input.relatedTo);
    if (!related) throw notFound(`No cluster ${input.relatedTo} to relate to in ${scopeKey(partition.scope)}.`);
  }
  // A cluster restored from a backup starts with the backup's users: kmsuser keeps its password.
  const kmsuserPassword = input.kmsuserPassword ?? related?.kmsuser.password;
  if (kmsuserPassword === undefined) throw invalid('kmsuserPassword: required (unless relatedTo is given)');
  const cluster = partition.clusters.add({
    clusterId,
    activeHsms: input.activeHsms,
    lineage: related?.lineage ?? newLineage(),
    kmsuserPassword,
  });
  return { clusterId: cluster.id, trustAnchorCertificate: cluster.lineage.trustAnchorCertificate };
}

function patchCluster(cluster: Cluster, patch: z.output<typeof ClusterPatch>): void {
  // `deleted: true` is state DELETED (its HSMs are gone); `deleted: false` brings a deleted cluster back ACTIVE.
  const state = patch.state ?? (patch.deleted ? 'DELETED' : patch.deleted === false && cluster.deleted ? 'ACTIVE' : undefined);
  if (state !== undefined) {
    cluster.state = state;
    if (state === 'DELETED') cluster.hsms = [];
  }
  if (patch.activeHsms !== undefined) cluster.setActiveHsmCount(patch.activeHsms);
  const user = cluster.kmsuser;
  if (patch.kmsuserExists !== undefined) user.exists = patch.kmsuserExists;
  if (patch.kmsuserPassword !== undefined) user.setPassword(patch.kmsuserPassword);
  if (patch.kmsuserLoggedIn !== undefined) user.loggedIn = patch.kmsuserLoggedIn;
  if (patch.kmsuserLockedOut !== undefined) {
    user.lockedOut = patch.kmsuserLockedOut;
    if (!patch.kmsuserLockedOut) user.failedLogins = 0;
  }
  if (patch.subnetDeleted !== undefined) cluster.subnetDeleted = patch.subnetDeleted;
  if (patch.freeAddresses !== undefined) cluster.freeAddresses = patch.freeAddresses;
}
