/**
 * CloudHSM v2 model: clusters with HSMs, ENIs and subnets, and the kmsuser crypto user that KMS
 * logs in as. Clusters are created through the admin API (ACTIVE and initialized); the AWS API
 * offers DescribeClusters, CreateHsm and DeleteHsm. `toJSON` of a cluster or HSM is its AWS shape.
 */
import type { WorldContext } from '../context.js';
import { CloudHsmInvalidRequestException, CloudHsmResourceNotFoundException } from '../errors.js';
import type { ConnectionErrorCode } from '../kms/enums.js';
import * as random from '../random.js';
import { decodeCursor, encodeCursor, epochSeconds, firstAfter } from '../wire.js';
import type { CreateHsmRequest, DeleteHsmRequest, DescribeClustersRequest } from './requests.js';

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
  readonly subnets: ReadonlyMap<string, string>;
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
    this.subnets = new Map(['a', 'b', 'c'].map((az) => [`${region}${az}`, random.ec2Id('subnet')]));
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
    const subnetId = this.subnets.get(availabilityZone);
    if (subnetId === undefined) throw new Error(`no subnet in ${availabilityZone}`);
    const zoneIndex = [...this.subnets.keys()].indexOf(availabilityZone);
    const hsm = new Hsm(this.id, availabilityZone, subnetId, ipAddress ?? `10.0.${zoneIndex}.${this.#nextHost++}`, state);
    this.hsms.push(hsm);
    return hsm;
  }

  /** Adds or removes ACTIVE HSMs (spread over the AZs) until exactly `count` are ACTIVE. */
  setActiveHsmCount(count: number): void {
    const zones = [...this.subnets.keys()];
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
      SubnetMapping: Object.fromEntries(this.subnets),
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

  /** One page of the clusters that match the filters, and the token of the next page while there is one. */
  describeClusters(request: DescribeClustersRequest): { clusters: Cluster[]; nextToken?: string } {
    const filters = request.Filters ?? {};
    let start = 0;
    if (request.NextToken !== undefined) {
      const after = decodeCursor(request.NextToken);
      if (after === undefined) throw new CloudHsmInvalidRequestException('The NextToken is invalid.');
      start = firstAfter(this.#ordered, after);
    }
    const matches = (cluster: Cluster): boolean =>
      (filters.clusterIds?.includes(cluster.id) ?? true) &&
      (filters.vpcIds?.includes(cluster.vpcId) ?? true) &&
      (filters.states?.includes(cluster.state) ?? true);
    const limit = request.MaxResults ?? Number.POSITIVE_INFINITY;
    const clusters: Cluster[] = [];
    let index = start;
    for (; index < this.#ordered.length && clusters.length < limit; index++) {
      const cluster = this.#ordered[index]!;
      if (matches(cluster)) clusters.push(cluster);
    }
    const more = this.#ordered.slice(index).some(matches);
    return more ? { clusters, nextToken: encodeCursor(clusters.at(-1)!.seq) } : { clusters };
  }

  createHsm(request: CreateHsmRequest): Hsm {
    const cluster = this.#live(request.ClusterId);
    if (!cluster.subnets.has(request.AvailabilityZone)) {
      throw new CloudHsmInvalidRequestException(
        `The cluster ${cluster.id} has no subnet in Availability Zone ${request.AvailabilityZone}. ` +
          `Its subnets are in: ${[...cluster.subnets.keys()].join(', ')}`,
      );
    }
    if (cluster.subnetDeleted) {
      throw new CloudHsmInvalidRequestException(`A subnet of cluster ${cluster.id} no longer exists.`);
    }
    if (cluster.freeAddresses === 0) {
      throw new CloudHsmInvalidRequestException(`The subnet in ${request.AvailabilityZone} has no free IP address.`);
    }
    if (request.IpAddress !== undefined && cluster.hsms.some((hsm) => hsm.eniIp === request.IpAddress)) {
      throw new CloudHsmInvalidRequestException(`The IP address ${request.IpAddress} is already in use.`);
    }
    const hsm = cluster.addHsm(request.AvailabilityZone, 'CREATE_IN_PROGRESS', request.IpAddress);
    this.world.schedule(HSM_CREATE_SECONDS, () => {
      if (hsm.state === 'CREATE_IN_PROGRESS') hsm.state = 'ACTIVE';
    });
    return hsm;
  }

  /** Starts deleting the HSM named by exactly one of HsmId, EniId and EniIp. */
  deleteHsm(request: DeleteHsmRequest): Hsm {
    const cluster = this.#live(request.ClusterId);
    const hsm = cluster.hsms.find((hsm) => hsm.id === request.HsmId || hsm.eniId === request.EniId || hsm.eniIp === request.EniIp);
    if (hsm === undefined) {
      const named = request.HsmId ?? request.EniId ?? request.EniIp;
      throw new CloudHsmResourceNotFoundException(`No HSM matching ${named} in cluster ${cluster.id}.`);
    }
    if (hsm.state === 'DELETE_IN_PROGRESS') {
      throw new CloudHsmInvalidRequestException(`The HSM ${hsm.id} is already being deleted.`);
    }
    hsm.state = 'DELETE_IN_PROGRESS';
    this.world.schedule(HSM_DELETE_SECONDS, () => {
      cluster.hsms = cluster.hsms.filter((other) => other !== hsm);
    });
    return hsm;
  }

  #live(clusterId: string): Cluster {
    const cluster = this.#byId.get(clusterId);
    if (cluster === undefined || cluster.deleted) {
      throw new CloudHsmResourceNotFoundException(`The cluster ${clusterId} was not found.`);
    }
    return cluster;
  }
}
