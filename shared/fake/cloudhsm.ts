/**
 * CloudHSM v2: clusters with HSMs, ENIs and subnets, and the kmsuser crypto user that KMS logs in
 * as. Clusters are created through the admin API (ACTIVE and initialized); the AWS API offers
 * DescribeClusters, CreateHsm and DeleteHsm.
 */
import { z } from 'zod';
import type { ConnectionErrorCode } from '../domain/types.js';
import { CloudHsmInvalidRequestException, CloudHsmResourceNotFoundException } from './errors.js';
import * as random from './random.js';
import { decodeCursor, encodeCursor, epochSeconds, firstAfter, parseInput, type Reply } from './wire.js';
import type { CallContext, WorldContext } from './world.js';

/** How long an HSM takes to come up and to go away, in fake seconds. */
export const HSM_CREATE_SECONDS = 300;
export const HSM_DELETE_SECONDS = 60;

export const CLUSTER_STATES = [
  'CREATE_IN_PROGRESS',
  'UNINITIALIZED',
  'INITIALIZE_IN_PROGRESS',
  'INITIALIZED',
  'ACTIVE',
  'UPDATE_IN_PROGRESS',
  'DELETE_IN_PROGRESS',
  'DELETED',
  'DEGRADED',
] as const;
export type ClusterState = (typeof CLUSTER_STATES)[number];

/**
 * The backup history a cluster descends from. Clusters restored from one another's backups share
 * it, and with it their cluster certificate and the trust anchor that signed it.
 */
export interface Lineage {
  readonly trustAnchorCertificate: string;
  readonly clusterCertificate: string;
}

export function newLineage(): Lineage {
  return { trustAnchorCertificate: random.certificate(), clusterCertificate: random.certificate() };
}

/** The kmsuser crypto user of a cluster, as far as KMS's login needs it. */
export class CryptoUser {
  exists = true;
  loggedIn = false;
  lockedOut = false;
  failedLogins = 0;

  constructor(public password: string) {}

  /** CloudHSM locks a crypto user after this many consecutive failed logins. */
  static readonly MAX_FAILED_LOGINS = 5;

  /**
   * KMS's login on connect: the error code, or the new password after KMS rotated it (as KMS does
   * on every successful connect).
   */
  login(password: string): { error: ConnectionErrorCode } | { rotatedPassword: string } {
    if (!this.exists) return { error: 'USER_NOT_FOUND' };
    if (this.lockedOut) return { error: 'USER_LOCKED_OUT' };
    if (this.loggedIn) return { error: 'USER_LOGGED_IN' };
    if (password !== this.password) {
      this.failedLogins += 1;
      if (this.failedLogins >= CryptoUser.MAX_FAILED_LOGINS) this.lockedOut = true;
      return { error: 'INVALID_CREDENTIALS' };
    }
    this.failedLogins = 0;
    this.password = random.password();
    return { rotatedPassword: this.password };
  }

  /**
   * A crypto officer sets a new password. As in CloudHSM, that also unlocks a locked-out user.
   */
  setPassword(password: string): void {
    this.password = password;
    this.lockedOut = false;
    this.failedLogins = 0;
  }

  toState(): object {
    return {
      exists: this.exists,
      password: random.fingerprint(this.password),
      loggedIn: this.loggedIn,
      lockedOut: this.lockedOut,
      failedLogins: this.failedLogins,
    };
  }
}

export type HsmState = 'CREATE_IN_PROGRESS' | 'ACTIVE' | 'DEGRADED' | 'DELETE_IN_PROGRESS' | 'DELETED';

export class Hsm {
  readonly id = random.hsmId();
  readonly eniId = random.ec2Id('eni');

  constructor(
    readonly clusterId: string,
    readonly availabilityZone: string,
    readonly subnetId: string,
    readonly eniIp: string,
    public state: HsmState,
  ) {}

  toJSON(): object {
    return {
      AvailabilityZone: this.availabilityZone,
      ClusterId: this.clusterId,
      SubnetId: this.subnetId,
      EniId: this.eniId,
      EniIp: this.eniIp,
      HsmId: this.id,
      State: this.state,
    };
  }
}

export class Cluster {
  readonly vpcId = random.ec2Id('vpc');
  readonly securityGroup = random.ec2Id('sg');
  /** Availability Zone → subnet id: one private subnet in each of three AZs of the Region. */
  readonly subnetMapping: Record<string, string>;
  hsms: Hsm[] = [];
  state: ClusterState = 'ACTIVE';
  /** A subnet of the cluster was deleted in EC2 (connect fails with SUBNET_NOT_FOUND). */
  subnetDeleted = false;
  /** Free IP addresses left in the cluster's subnets (0: INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET). */
  freeAddresses = 250;
  #nextHost = 10;

  constructor(
    readonly seq: number,
    readonly id: string,
    region: string,
    readonly createdAt: number,
    readonly lineage: Lineage,
    readonly kmsuser: CryptoUser,
  ) {
    this.subnetMapping = Object.fromEntries(['a', 'b', 'c'].map((az) => [`${region}${az}`, random.ec2Id('subnet')]));
  }

  get activeHsms(): Hsm[] {
    return this.hsms.filter((hsm) => hsm.state === 'ACTIVE');
  }

  get deleted(): boolean {
    return this.state === 'DELETED';
  }

  /** KMS's configuration rule for Create/Update: two ACTIVE HSMs in different Availability Zones. */
  get hasActiveHsmsInTwoZones(): boolean {
    return new Set(this.activeHsms.map((hsm) => hsm.availabilityZone)).size >= 2;
  }

  addHsm(availabilityZone: string, state: HsmState, ipAddress?: string): Hsm {
    const subnetId = this.subnetMapping[availabilityZone];
    if (subnetId === undefined) throw new Error(`no subnet in ${availabilityZone}`);
    const zoneIndex = Object.keys(this.subnetMapping).indexOf(availabilityZone);
    const hsm = new Hsm(this.id, availabilityZone, subnetId, ipAddress ?? `10.0.${zoneIndex}.${this.#nextHost++}`, state);
    this.hsms.push(hsm);
    return hsm;
  }

  /** Adds or removes ACTIVE HSMs (spread over the AZs) until exactly `count` are ACTIVE. */
  setActiveHsmCount(count: number): void {
    const zones = Object.keys(this.subnetMapping);
    while (this.activeHsms.length < count) {
      const used = (zone: string): number => this.activeHsms.filter((hsm) => hsm.availabilityZone === zone).length;
      const zone = zones.reduce((best, zone) => (used(zone) < used(best) ? zone : best));
      this.addHsm(zone, 'ACTIVE');
    }
    while (this.activeHsms.length > count) {
      const newest = this.activeHsms.at(-1)!;
      this.hsms = this.hsms.filter((hsm) => hsm !== newest);
    }
  }

  /** The cluster as DescribeClusters returns it. */
  toJSON(): object {
    return {
      BackupPolicy: 'DEFAULT',
      BackupRetentionPolicy: { Type: 'DAYS', Value: '90' },
      Certificates: { ClusterCertificate: this.lineage.clusterCertificate },
      ClusterId: this.id,
      CreateTimestamp: epochSeconds(this.createdAt),
      Hsms: this.hsms,
      HsmType: 'hsm1.medium',
      SecurityGroup: this.securityGroup,
      State: this.state,
      SubnetMapping: this.subnetMapping,
      VpcId: this.vpcId,
    };
  }

  /** The admin view: the AWS shape plus what AWS does not show (kmsuser, subnets, addresses). */
  toState(): object {
    return {
      ...this.toJSON(),
      TrustAnchorCertificate: this.lineage.trustAnchorCertificate,
      kmsuser: this.kmsuser.toState(),
      subnetDeleted: this.subnetDeleted,
      freeAddresses: this.freeAddresses,
    };
  }
}

/** The clusters of one account and Region. */
export class CloudHsmBackend {
  readonly #byId = new Map<string, Cluster>();
  /** In creation order (ascending `seq`), for paging. */
  readonly #ordered: Cluster[] = [];

  constructor(
    private readonly world: WorldContext,
    private readonly region: string,
  ) {}

  get(clusterId: string): Cluster | undefined {
    return this.#byId.get(clusterId);
  }

  all(): readonly Cluster[] {
    return this.#ordered;
  }

  /** An ACTIVE, initialized cluster (admin API). */
  add(options: { clusterId: string; activeHsms: number; lineage: Lineage; kmsuserPassword: string }): Cluster {
    const cluster = new Cluster(
      this.world.nextSeq(),
      options.clusterId,
      this.region,
      this.world.now(),
      options.lineage,
      new CryptoUser(options.kmsuserPassword),
    );
    cluster.setActiveHsmCount(options.activeHsms);
    this.#byId.set(cluster.id, cluster);
    this.#ordered.push(cluster);
    return cluster;
  }

  describeClusters(input: DescribeClustersInput): Reply {
    const filters = input.Filters ?? {};
    for (const key of Object.keys(filters)) {
      if (!['clusterIds', 'vpcIds', 'states'].includes(key)) {
        throw new CloudHsmInvalidRequestException(`Invalid filter key: ${key}. Valid keys: clusterIds, vpcIds, states`);
      }
    }
    let start = 0;
    if (input.NextToken !== undefined) {
      const after = decodeCursor(input.NextToken);
      if (after === undefined) throw new CloudHsmInvalidRequestException('The NextToken is invalid.');
      start = firstAfter(this.#ordered, after);
    }
    const matches = (cluster: Cluster): boolean =>
      (filters.clusterIds?.includes(cluster.id) ?? true) &&
      (filters.vpcIds?.includes(cluster.vpcId) ?? true) &&
      (filters.states?.includes(cluster.state) ?? true);
    const limit = input.MaxResults ?? Number.POSITIVE_INFINITY;
    const page: Cluster[] = [];
    let index = start;
    for (; index < this.#ordered.length && page.length < limit; index++) {
      const cluster = this.#ordered[index]!;
      if (matches(cluster)) page.push(cluster);
    }
    const more = this.#ordered.slice(index).some(matches);
    return more ? { Clusters: page, NextToken: encodeCursor(page.at(-1)!.seq) } : { Clusters: page };
  }

  createHsm(input: CreateHsmInput): Reply {
    const cluster = this.#live(input.ClusterId);
    if (!(input.AvailabilityZone in cluster.subnetMapping)) {
      throw new CloudHsmInvalidRequestException(
        `The cluster ${cluster.id} has no subnet in Availability Zone ${input.AvailabilityZone}. ` +
          `Its subnets are in: ${Object.keys(cluster.subnetMapping).join(', ')}`,
      );
    }
    if (cluster.subnetDeleted) {
      throw new CloudHsmInvalidRequestException(`A subnet of cluster ${cluster.id} no longer exists.`);
    }
    if (cluster.freeAddresses === 0) {
      throw new CloudHsmInvalidRequestException(`The subnet in ${input.AvailabilityZone} has no free IP address.`);
    }
    if (input.IpAddress !== undefined && cluster.hsms.some((hsm) => hsm.eniIp === input.IpAddress)) {
      throw new CloudHsmInvalidRequestException(`The IP address ${input.IpAddress} is already in use.`);
    }
    const hsm = cluster.addHsm(input.AvailabilityZone, 'CREATE_IN_PROGRESS', input.IpAddress);
    this.world.schedule(HSM_CREATE_SECONDS, () => {
      if (hsm.state === 'CREATE_IN_PROGRESS') hsm.state = 'ACTIVE';
    });
    return { Hsm: hsm };
  }

  deleteHsm(input: DeleteHsmInput): Reply {
    const given = [input.HsmId, input.EniId, input.EniIp].filter((value) => value !== undefined);
    if (given.length !== 1) {
      throw new CloudHsmInvalidRequestException('Specify exactly one of HsmId, EniId or EniIp.');
    }
    const cluster = this.#live(input.ClusterId);
    const hsm = cluster.hsms.find(
      (hsm) => hsm.id === input.HsmId || hsm.eniId === input.EniId || hsm.eniIp === input.EniIp,
    );
    if (hsm === undefined) {
      throw new CloudHsmResourceNotFoundException(`No HSM matching ${given[0]} in cluster ${cluster.id}.`);
    }
    if (hsm.state === 'DELETE_IN_PROGRESS') {
      throw new CloudHsmInvalidRequestException(`The HSM ${hsm.id} is already being deleted.`);
    }
    hsm.state = 'DELETE_IN_PROGRESS';
    this.world.schedule(HSM_DELETE_SECONDS, () => {
      cluster.hsms = cluster.hsms.filter((other) => other !== hsm);
    });
    return { HsmId: hsm.id };
  }

  #live(clusterId: string): Cluster {
    const cluster = this.#byId.get(clusterId);
    if (cluster === undefined || cluster.deleted) {
      throw new CloudHsmResourceNotFoundException(`The cluster ${clusterId} was not found.`);
    }
    return cluster;
  }
}

// ---- Requests (CloudHSM v2 API model constraints) ----

const ClusterIdSchema = z.string().regex(/^cluster-[2-7a-zA-Z]{11,16}$/);
const IpAddressSchema = z.string().regex(/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/);

const DescribeClustersInput = z.object({
  Filters: z.record(z.string().regex(/^[a-zA-Z0-9_-]+$/), z.array(z.string().regex(/^[a-zA-Z0-9_-]+$/))).optional(),
  NextToken: z.string().max(256).optional(),
  MaxResults: z.number().int().min(1).max(25).optional(),
});
type DescribeClustersInput = z.output<typeof DescribeClustersInput>;

const CreateHsmInput = z.object({
  ClusterId: ClusterIdSchema,
  AvailabilityZone: z.string().regex(/^[a-z]{2}(-(gov))?-(east|west|north|south|central){1,2}-\d[a-z]$/),
  IpAddress: IpAddressSchema.optional(),
});
type CreateHsmInput = z.output<typeof CreateHsmInput>;

const DeleteHsmInput = z.object({
  ClusterId: ClusterIdSchema,
  HsmId: z.string().regex(/^hsm-[2-7a-zA-Z]{11,16}$/).optional(),
  EniId: z.string().regex(/^eni-[0-9a-fA-F]{8,17}$/).optional(),
  EniIp: IpAddressSchema.optional(),
});
type DeleteHsmInput = z.output<typeof DeleteHsmInput>;

/** `BaldrApiService.<Operation>` handlers: parse, call the model, return its reply. */
export const cloudHsmOperations: Record<string, (call: CallContext, input: unknown) => Reply> = {
  DescribeClusters: (call, input) =>
    call.partition.clusters.describeClusters(
      parseInput(DescribeClustersInput, input, CloudHsmInvalidRequestException),
    ),
  CreateHsm: (call, input) =>
    call.partition.clusters.createHsm(parseInput(CreateHsmInput, input, CloudHsmInvalidRequestException)),
  DeleteHsm: (call, input) =>
    call.partition.clusters.deleteHsm(parseInput(DeleteHsmInput, input, CloudHsmInvalidRequestException)),
};
