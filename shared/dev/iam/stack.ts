/**
 * The stack's own IAM policies, for running every local path as deployed: the sweep, worker,
 * on-event and on-change roles and the `OperatorPolicy` read from the stack's resources as `serverless print`
 * resolves them from serverless.yml (and whatever files it includes), and the member role of
 * cloudformation/member-role.yml. The CloudFormation intrinsics those policies use (Ref, Fn::GetAtt,
 * Fn::Sub, Fn::Join, Fn::If on the template's conditions) are resolved here, mapping logical ids to
 * the names and ARNs of the fake world.
 *
 * `serverless print` takes tens of seconds, so its resources are cached under
 * node_modules/.cache/cks-stack/, by content hash of everything that makes them.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Pair, parse, Scalar, type Tags, YAMLMap } from 'yaml';
import type { PolicyDocument } from '../fake/iam/model.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CACHE = join(ROOT, 'node_modules/.cache/cks-stack');

/** The execution roles of the stack's functions, by logical id. */
export const FUNCTION_ROLES = ['SweepRole', 'WorkerRole', 'OnEventRole', 'OnChangeRole'] as const;
export type FunctionRole = (typeof FUNCTION_ROLES)[number];

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation template JSON, walked by the resolver
type Json = any;

/** The stack's resources and conditions, as `serverless print` resolves them. */
export interface StackTemplate {
  Resources: Record<string, { Type: string; Condition?: string; Properties?: Json }>;
  Conditions?: Record<string, Json>;
}

/** Where the stack is deployed in the fake world, and the fake's names of its resources. */
export interface StackWorld {
  accountId: string;
  region: string;
  /** Physical names by logical id (e.g. `StoresTable` → the table the fake holds); else the template's. */
  names?: Record<string, string>;
}

/** What the stack grants: each function role's policies, and the operators' policy. */
export interface StackPolicies {
  roles: Record<FunctionRole, PolicyDocument[]>;
  operator: PolicyDocument;
}

/** Files whose content makes the stack's resources. */
function sourceFiles(): string[] {
  const cloudformation = join(ROOT, 'cloudformation');
  // Files at any depth (serverless.yml includes cloudformation/stack/*.yml), never a directory.
  const included = existsSync(cloudformation)
    ? readdirSync(cloudformation, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name))
    : [];
  return [join(ROOT, 'serverless.yml'), join(ROOT, 'shared/on-call/serverless.cjs'), ...included.sort()];
}

/**
 * `serverless print` runs in flight in this process, by cache file: callers that ask while one runs
 * (the global setups of several test projects, loaded as separate module instances) share it.
 */
const PRINTING = Symbol.for('cks-stack-print');
const shared = globalThis as { [PRINTING]?: Map<string, Promise<StackTemplate>> };
shared[PRINTING] ??= new Map();
const printing = shared[PRINTING];

/**
 * The stack's resources, from the cache or a fresh `serverless print` (offline, no AWS credentials),
 * with the stack's parameters `params` (`--param="name=value"`; none: the defaults).
 */
export async function stackTemplate(params: Record<string, string> = {}): Promise<StackTemplate> {
  const hash = createHash('sha256').update(JSON.stringify(params));
  for (const file of sourceFiles()) hash.update(file).update(readFileSync(file));
  const cached = join(CACHE, `${hash.digest('hex').slice(0, 24)}.json`);
  if (existsSync(cached)) return JSON.parse(readFileSync(cached, 'utf8')) as StackTemplate;
  let print = printing.get(cached);
  if (!print) {
    print = printStack(cached, params).finally(() => printing.delete(cached));
    printing.set(cached, print);
  }
  return print;
}

/** Runs `serverless print` and caches its resources in `cached`. */
async function printStack(cached: string, params: Record<string, string>): Promise<StackTemplate> {
  const home = join(tmpdir(), 'cks-stack-print-home');
  mkdirSync(home, { recursive: true });
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(AWS_|SLS_|SERVERLESS_)/.test(name)));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      join(ROOT, 'node_modules/serverless/bin/serverless.js'),
      'print',
      '--format',
      'json',
      ...Object.entries(params).map(([name, value]) => `--param=${name}=${value}`),
    ],
    {
      cwd: ROOT,
      env: { ...env, HOME: home, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', AWS_EC2_METADATA_DISABLED: 'true' },
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const template = (JSON.parse(stdout) as { resources: StackTemplate }).resources;
  mkdirSync(CACHE, { recursive: true });
  // Written whole, then renamed: a concurrent reader never sees half a file.
  const partial = `${cached}.${process.pid}.tmp`;
  writeFileSync(partial, JSON.stringify(template));
  renameSync(partial, cached);
  return template;
}

/** Resolves the intrinsics of a template's values for one fake world. */
class Resolver {
  constructor(
    private readonly template: StackTemplate,
    private readonly world: StackWorld,
    private readonly parameters: Record<string, string | string[]> = {},
  ) {}

  /** The value with every intrinsic resolved; `AWS::NoValue` entries dropped. */
  value(node: Json): Json {
    if (Array.isArray(node)) return node.map((item) => this.value(item)).filter((item) => item !== NO_VALUE);
    if (typeof node !== 'object' || node === null) return node;
    const keys = Object.keys(node);
    if (keys.length === 1) {
      const [key] = keys as [string];
      const argument = node[key];
      switch (key) {
        case 'Ref':
          return this.ref(argument);
        case 'Fn::GetAtt':
          return this.attribute(...((typeof argument === 'string' ? argument.split('.') : argument) as [string, string]));
        case 'Fn::Sub':
          return this.sub(argument);
        case 'Fn::Join':
          return (this.value(argument[1]) as string[]).join(argument[0]);
        case 'Fn::If':
          return this.value(this.condition({ Condition: argument[0] }) ? argument[1] : argument[2]);
      }
    }
    const out: Record<string, Json> = {};
    for (const [key, child] of Object.entries(node)) {
      const resolved = this.value(child);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  }

  condition(node: Json): boolean {
    if (typeof node !== 'object' || node === null) return Boolean(node);
    if ('Condition' in node) return this.condition(this.template.Conditions?.[node.Condition]);
    if ('Fn::Not' in node) return !this.condition(node['Fn::Not'][0]);
    if ('Fn::And' in node) return (node['Fn::And'] as Json[]).every((c) => this.condition(c));
    if ('Fn::Or' in node) return (node['Fn::Or'] as Json[]).some((c) => this.condition(c));
    if ('Fn::Equals' in node) {
      const [a, b] = (node['Fn::Equals'] as Json[]).map((side) => JSON.stringify(this.value(side)));
      return a === b;
    }
    throw new Error(`Unsupported condition ${JSON.stringify(node)}`);
  }

  ref(name: string): Json {
    const { accountId, region } = this.world;
    const pseudo: Record<string, Json> = { 'AWS::AccountId': accountId, 'AWS::Region': region, 'AWS::Partition': 'aws', 'AWS::NoValue': NO_VALUE };
    if (name in pseudo) return pseudo[name];
    if (name in this.parameters) return this.parameters[name];
    const resource = this.template.Resources[name];
    if (!resource) throw new Error(`Ref to unknown ${name}`);
    if (resource.Type === 'AWS::IAM::ManagedPolicy') return `arn:aws:iam::${accountId}:policy/${name}`;
    if (resource.Type === 'AWS::SNS::Topic' || resource.Type === 'AWS::KMS::Key') return this.attribute(name, 'Arn');
    return this.physicalName(name);
  }

  physicalName(logicalId: string): string {
    const properties = this.template.Resources[logicalId]?.Properties ?? {};
    const given = properties.TableName ?? properties.Name ?? properties.QueueName ?? properties.RoleName;
    return this.world.names?.[logicalId] ?? (typeof given === 'string' ? given : logicalId);
  }

  attribute(logicalId: string, attribute: string): string {
    const { accountId, region } = this.world;
    const resource = this.template.Resources[logicalId];
    if (!resource) throw new Error(`Fn::GetAtt of unknown ${logicalId}`);
    const name = this.physicalName(logicalId);
    const arns: Record<string, string> = {
      'AWS::DynamoDB::Table': `arn:aws:dynamodb:${region}:${accountId}:table/${name}`,
      'AWS::Events::EventBus': `arn:aws:events:${region}:${accountId}:event-bus/${name}`,
      'AWS::SQS::Queue': `arn:aws:sqs:${region}:${accountId}:${name}`,
      'AWS::IAM::Role': `arn:aws:iam::${accountId}:role/${name}`,
      'AWS::KMS::Key': `arn:aws:kms:${region}:${accountId}:key/${name}`,
      'AWS::SNS::Topic': `arn:aws:sns:${region}:${accountId}:${name}`,
    };
    const arn = arns[resource.Type] ?? `arn:aws:${resource.Type.split('::')[1]?.toLowerCase()}:${region}:${accountId}:${name}`;
    if (attribute === 'Arn') return arn;
    if (attribute === 'StreamArn') return `${arn}/stream/fake`;
    throw new Error(`Fn::GetAtt ${logicalId}.${attribute} is not resolved by the fake`);
  }

  sub(argument: Json): string {
    const [text, variables] = typeof argument === 'string' ? [argument, {}] : (argument as [string, Record<string, Json>]);
    return text.replace(/\$\{([^}]+)\}/g, (_whole, name: string) => {
      if (name in variables) return String(this.value(variables[name]));
      const [id, attribute] = name.split('.') as [string, string | undefined];
      return String(attribute === undefined ? this.ref(id) : this.attribute(id, attribute));
    });
  }
}

const NO_VALUE = Symbol('AWS::NoValue');

/** The policies of the stack's function roles and its OperatorPolicy, resolved for the fake world. */
export function stackPolicies(template: StackTemplate, world: StackWorld): StackPolicies {
  const resolver = new Resolver(template, world);
  const policyOf = (logicalId: string): PolicyDocument => resolver.value(template.Resources[logicalId]?.Properties.PolicyDocument);
  const roleOf = (logicalId: FunctionRole): PolicyDocument[] => {
    const properties = template.Resources[logicalId]?.Properties ?? {};
    const managed = (properties.ManagedPolicyArns ?? []).map((arn: Json) => policyOf(arn.Ref));
    const inline = (properties.Policies ?? []).map((policy: Json) => resolver.value(policy.PolicyDocument));
    return [...managed, ...inline];
  };
  return {
    roles: {
      SweepRole: roleOf('SweepRole'),
      WorkerRole: roleOf('WorkerRole'),
      OnEventRole: roleOf('OnEventRole'),
      OnChangeRole: roleOf('OnChangeRole'),
    },
    operator: policyOf('OperatorPolicy'),
  };
}

/** CloudFormation's short forms, read as their long forms (`!Ref X` → `{ Ref: X }`). */
const CFN_TAGS: Tags = ['Ref', 'Sub', 'GetAtt', 'Equals', 'And', 'Not', 'If', 'Join'].flatMap((name) => {
  const key = name === 'Ref' ? 'Ref' : `Fn::${name}`;
  return (['scalar', 'seq', 'map'] as const).map((kind) => ({
    tag: `!${name}`,
    ...(kind === 'scalar' ? {} : { collection: kind }),
    resolve: (value: unknown) => {
      if (kind === 'scalar') return { [key]: value };
      const map = new YAMLMap();
      map.items.push(new Pair(new Scalar(key), value));
      return map;
    },
  }));
}) as Tags;

/** The member role's parameters (cloudformation/member-role.yml), as a StackSet deployment gives them. */
export interface MemberRoleParameters {
  CentralAccountId: string;
  CentralRegion: string;
  ReconcilerRoleArns: string[];
  ReadOnlyPrincipals: string[];
  OrganizationId: string;
  FleetRegions: string[];
  MemberRoleName?: string;
  ReadOnlyRoleName?: string;
  SecretPrefix?: string;
}

/** A role of the member template: its name, trust policy and permission policies. */
export interface MemberTemplateRole {
  roleName: string;
  trustPolicy: PolicyDocument;
  policies: PolicyDocument[];
}

/** The roles of one member account: the reconciler's member role, and the read-only role for people. */
export function memberRoles(accountId: string, parameters: MemberRoleParameters): { member: MemberTemplateRole; readOnly: MemberTemplateRole } {
  const template = parse(readFileSync(join(ROOT, 'cloudformation/member-role.yml'), 'utf8'), { customTags: CFN_TAGS }) as Json;
  const resolved = { MemberRoleName: 'cks-reconciler-member', ReadOnlyRoleName: 'cks-reconciler-member-read', SecretPrefix: 'cks/', ...parameters };
  const resolver = new Resolver(template, { accountId, region: parameters.CentralRegion }, { ...resolved, RoleRegion: parameters.CentralRegion });
  const role = (logicalId: string): MemberTemplateRole => {
    const properties = resolver.value(template.Resources[logicalId].Properties);
    return {
      roleName: properties.RoleName,
      trustPolicy: properties.AssumeRolePolicyDocument,
      policies: (properties.Policies as Json[]).map((policy) => policy.PolicyDocument),
    };
  };
  return { member: role('MemberRole'), readOnly: role('ReadOnlyRole') };
}

/** The organization the fake's accounts of a deployment belong to (the member role's trust requires one). */
export const FAKE_ORGANIZATION_ID = 'o-cksfakeorg01';

/** The admin calls that set the stack up in the fake. */
export interface StackAdmin {
  createRole(input: {
    accountId: string;
    roleName: string;
    trustedAccounts?: string[];
    trustPolicy?: PolicyDocument;
    policies?: PolicyDocument[];
  }): Promise<void>;
  createPrincipal(input: {
    accountId: string;
    userName: string;
    policies: PolicyDocument[];
  }): Promise<{ accessKeyId: string; secretAccessKey: string }>;
  setOrganization(accountId: string, organizationId: string): Promise<void>;
}

/** Credentials of a principal the fake made. */
export interface PrincipalKeys {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Deploys the stack's IAM into the fake: each function's role (named by its logical id, which the
 * reconciler's clients name in their session token) with the stack's policies, an operator holding
 * the OperatorPolicy (what `cks` runs as), and the home account in the organization. Returns the
 * operator's keys.
 */
export async function deployStackIam(admin: StackAdmin, template: StackTemplate, world: StackWorld): Promise<PrincipalKeys> {
  const policies = stackPolicies(template, world);
  for (const roleName of FUNCTION_ROLES) {
    await admin.createRole({ accountId: world.accountId, roleName, trustedAccounts: [world.accountId], policies: policies.roles[roleName] });
  }
  await admin.setOrganization(world.accountId, FAKE_ORGANIZATION_ID);
  return admin.createPrincipal({ accountId: world.accountId, userName: 'cks-operator', policies: [policies.operator] });
}

/**
 * Deploys the member template's roles (cloudformation/member-role.yml) into a member account of the
 * fleet: the member role trusted by the function roles that act there, the read-only role by the
 * home account (where the OperatorPolicy lets people assume it).
 */
export async function deployMemberRole(
  admin: StackAdmin,
  home: { accountId: string; region: string },
  accountId: string,
  regions: string[],
): Promise<void> {
  const { member, readOnly } = memberRoles(accountId, {
    CentralAccountId: home.accountId,
    CentralRegion: home.region,
    ReconcilerRoleArns: MEMBER_ACTING_ROLES.map((name) => `arn:aws:iam::${home.accountId}:role/${name}`),
    ReadOnlyPrincipals: [home.accountId],
    OrganizationId: FAKE_ORGANIZATION_ID,
    FleetRegions: regions,
  });
  await admin.setOrganization(accountId, FAKE_ORGANIZATION_ID);
  await admin.createRole({ accountId, ...member });
  await admin.createRole({ accountId, ...readOnly });
}

/** The function roles that act in member accounts, which the member role trusts (the sweep's does not). */
export const MEMBER_ACTING_ROLES = ['WorkerRole', 'OnEventRole', 'OnChangeRole'] as const satisfies readonly FunctionRole[];
