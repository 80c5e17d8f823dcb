/**
 * The desired state of a store as operators declare it (a table item, or a stores-file entry), validated with
 * zod. Strict: an unknown field is an error, so a typo such as `desiredstate` never silently falls
 * back to a default. Error messages name the field and the rule, never the value: these fields hold
 * only ARNs and ids, but a misplaced password must not end up in a log line or event either.
 */
import * as z from 'zod/mini';
import './zod-messages.js';
import {
  type DesiredStore,
  LOGIN_BUDGET_DEFAULT,
  LOGIN_BUDGET_MAX,
  MANUAL_DISCONNECT_POLICIES,
  MODES,
  STORE_TYPES,
  XKS_CONNECTIVITY,
} from './types.js';
import { closest } from './words.js';

/** One validation problem: `path` is dotted from the item root (e.g. `xksProxy.uriPath`; `''` is the item itself). */
export interface FieldError {
  path: string;
  message: string;
}

/** `path: message; path: message` (a whole-item error has no path). Values never appear. */
export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => (e.path === '' ? e.message : `${e.path}: ${e.message}`)).join('; ');
}

/** A desired store as written in a stores file: everything but the fields the table manages. */
export type DesiredStoreSpec = Omit<DesiredStore, 'generation' | 'paused' | 'retryRequestedAt' | 'changedBy'>;

/** zod error option: "is required" when the field is absent, else what it must be. */
function must(what: string): { error: (issue: { input?: unknown }) => string } {
  return { error: (issue) => (issue.input === undefined ? 'is required' : `must be ${what}`) };
}

function oneOf(values: readonly string[]): { error: (issue: { input?: unknown }) => string } {
  return must(`one of ${values.join(' | ')}`);
}

/** A string length rule: "must be <min>-<max> characters" either way. */
function length(min: number, max: number): [z.core.$ZodCheck<string>, z.core.$ZodCheck<string>] {
  const message = `must be ${min}-${max} characters`;
  return [z.minLength(min, message), z.maxLength(max, message)];
}

const CLUSTER_ID = /^cluster-[2-7a-zA-Z]{11,16}$/;
/** A KMS key id (a UUID) or key ARN. */
const KEY_ID =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:key\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const STORE_ID = /^cks-[a-zA-Z0-9]+$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const URI_ENDPOINT = /^https:\/\/[a-zA-Z0-9.-]+$/;
// Verbatim from the KMS API model (XksProxyUriPath).
const URI_PATH = /^(\/[a-zA-Z0-9/_-]+\/kms\/xks\/v\d{1,2})$|^(\/kms\/xks\/v\d{1,2})$/;
// Verbatim from the KMS API model (XksProxyVpcEndpointServiceName): `com.` and, in the European Sovereign Cloud, `eu.`.
const VPC_ENDPOINT_SERVICE = /^(com|eu)\.amazonaws\.vpce\.([a-z]+-){2,3}\d+\.vpce-svc-[0-9a-z]+$/;

/** C0 and C1 control characters and DEL: a name holding one could rewrite the terminal that prints it. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the rule this expresses is "no control character"
const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f-\u009f]*$/;
/** The longest ARN IAM accepts: every field has a bound, so no item nears DynamoDB's 400 KB. */
const MAX_ARN = 2048;

const secretArn = z
  .string(must('a string'))
  .check(
    z.maxLength(MAX_ARN, `must be at most ${MAX_ARN} characters`),
    z.regex(SECRET_ARN, 'must be a Secrets Manager secret ARN: arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>'),
  );

const xksProxyShape = {
  uriEndpoint: z
    .string(must('a string'))
    .check(...length(10, 128), z.regex(URI_ENDPOINT, 'must match ^https://[a-zA-Z0-9.-]+$ (https, a host name, no path or port)')),
  uriPath: z
    .string(must('a string'))
    .check(...length(10, 128), z.regex(URI_PATH, 'must be /kms/xks/v<1-2 digits> or /<prefix>/kms/xks/v<1-2 digits>')),
  connectivity: z.enum(XKS_CONNECTIVITY, oneOf(XKS_CONNECTIVITY)),
  vpcEndpointServiceName: z.optional(
    z.string(must('a string')).check(...length(20, 64), z.regex(VPC_ENDPOINT_SERVICE, 'must match com.amazonaws.vpce.<region>.vpce-svc-<id>')),
  ),
  credentialSecretArn: secretArn,
};

// Cross-field checks run even when a field failed (`when`), so one pass reports every problem.
const whenObject = { when: (payload: { value: unknown }) => isRecord(payload.value) };

const xksProxySchema = z.strictObject(xksProxyShape).check(
  z.superRefine((xks, ctx) => {
    if (xks.connectivity === 'VPC_ENDPOINT_SERVICE' && xks.vpcEndpointServiceName === undefined) {
      ctx.addIssue({ code: 'custom', path: ['vpcEndpointServiceName'], message: 'is required when connectivity is VPC_ENDPOINT_SERVICE' });
    }
    if (xks.connectivity === 'PUBLIC_ENDPOINT' && xks.vpcEndpointServiceName !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['vpcEndpointServiceName'], message: 'is not allowed when connectivity is PUBLIC_ENDPOINT' });
    }
  }, whenObject),
);

const specShape = {
  name: z.string(must('a string')).check(...length(1, 256), z.regex(NO_CONTROL_CHARACTERS, 'must not contain control characters')),
  /** Where the store lives (default: the deployment's own account and Region): the table partition its item goes to. */
  accountId: z.optional(z.string(must('a 12-digit AWS account id in quotes')).check(z.regex(/^\d{12}$/, 'must be a 12-digit AWS account id'))),
  region: z.optional(z.string(must('a string')).check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'must be an AWS Region name such as eu-west-1'))),
  id: z.optional(
    z
      .string(must('a string'))
      .check(z.maxLength(64, 'must be at most 64 characters'), z.regex(STORE_ID, 'must be a custom key store id like cks-1234567890abcdef0')),
  ),
  type: z._default(z.enum(STORE_TYPES, oneOf(STORE_TYPES)), 'AWS_CLOUDHSM'),
  desiredState: z.enum(['CONNECTED', 'DISCONNECTED'], oneOf(['CONNECTED', 'DISCONNECTED'])),
  cloudHsmClusterId: z.optional(z.string(must('a string')).check(z.regex(CLUSTER_ID, 'must match cluster-[2-7a-zA-Z]{11,16}'))),
  keyStorePasswordSecretArn: z.optional(secretArn),
  xksProxy: z.optional(xksProxySchema),
  /**
   * Default `observe`: a store added to the file (or adopted from an existing fleet) is reported, never
   * touched, until an operator opts in with `mode: enforce`. A wrong desired item (wrong cluster id,
   * DISCONNECTED by mistake) then shows up as a drift report instead of a disconnect of a production
   * store; forgetting `mode` costs a repair that does not happen, which `cks status` shows.
   */
  mode: z._default(z.enum(MODES, oneOf(MODES)), 'observe'),
  maxAttempts: z._default(
    z.number(must('an integer')).check(z.int('must be an integer'), z.minimum(1, 'must be 1-20'), z.maximum(20, 'must be 1-20')),
    3,
  ),
  allowCreateHsm: z._default(z.boolean(must('true or false')), false),
  onManualDisconnect: z._default(z.enum(MANUAL_DISCONNECT_POLICIES, oneOf(MANUAL_DISCONNECT_POLICIES)), 'hold'),
  /** The active probe (off when absent): one KMS call per full pass that exercises the CONNECTED store. */
  probe: z.optional(z.boolean(must('true or false'))),
  /** The KMS key in the store that an external key store's probe encrypts with. */
  probeKeyId: z.optional(z.string(must('a string')).check(z.regex(KEY_ID, 'must be a KMS key id (a UUID) or a key ARN'))),
  loginBudget: z._default(
    z
      .number(must('an integer'))
      .check(
        z.int('must be an integer'),
        z.minimum(1, `must be 1-${LOGIN_BUDGET_MAX}`),
        z.maximum(LOGIN_BUDGET_MAX, `must be 1-${LOGIN_BUDGET_MAX}`),
      ),
    LOGIN_BUDGET_DEFAULT,
  ),
};

type SpecLike = {
  type?: unknown;
  desiredState?: unknown;
  cloudHsmClusterId?: unknown;
  keyStorePasswordSecretArn?: unknown;
  xksProxy?: unknown;
  allowCreateHsm?: unknown;
  probe?: unknown;
  probeKeyId?: unknown;
};

/** Rules across fields: what each store type requires and forbids. An invalid type is reported on its own field. */
function typeRules(spec: SpecLike, ctx: z.core.$RefinementCtx): void {
  const add = (path: string, message: string): void => ctx.addIssue({ code: 'custom', path: [path], message });
  if (spec.type === 'AWS_CLOUDHSM') {
    if (spec.desiredState === 'CONNECTED' && spec.cloudHsmClusterId === undefined) {
      add('cloudHsmClusterId', 'is required when type is AWS_CLOUDHSM and desiredState is CONNECTED');
    }
    if (spec.xksProxy !== undefined) add('xksProxy', 'is not allowed when type is AWS_CLOUDHSM');
  }
  if (spec.type === 'EXTERNAL_KEY_STORE') {
    if (spec.xksProxy === undefined) add('xksProxy', 'is required when type is EXTERNAL_KEY_STORE');
    if (spec.cloudHsmClusterId !== undefined) add('cloudHsmClusterId', 'is not allowed when type is EXTERNAL_KEY_STORE');
    if (spec.keyStorePasswordSecretArn !== undefined) add('keyStorePasswordSecretArn', 'is not allowed when type is EXTERNAL_KEY_STORE');
    if (spec.allowCreateHsm === true) add('allowCreateHsm', 'is not allowed when type is EXTERNAL_KEY_STORE');
    if (spec.probe === true && spec.probeKeyId === undefined) add('probeKeyId', 'is required when probe is true and type is EXTERNAL_KEY_STORE');
  }
  if (spec.type === 'AWS_CLOUDHSM' && spec.probeKeyId !== undefined) {
    add('probeKeyId', 'is not allowed when type is AWS_CLOUDHSM (its probe is GenerateRandom in the store, with no key)');
  } else if (spec.probeKeyId !== undefined && spec.probe !== true) add('probeKeyId', 'is allowed only when probe is true');
}

const crossFieldRules = z.superRefine<SpecLike>(typeRules, whenObject);

/**
 * The operator-facing spec (a stores-file entry): no `generation` or `paused`, which the table manages.
 * Use {@link parseDesiredSpec} for field errors with clear messages.
 */
export const desiredSpecSchema = z.strictObject(specShape).check(crossFieldRules);

/** A DESIRED table item: the spec plus `generation` and the operator's `paused` flag. */
export const desiredItemSchema = z
  .strictObject({
    ...specShape,
    generation: z.number(must('an integer')).check(z.int('must be an integer'), z.minimum(0, 'must be 0 or more')),
    paused: z._default(z.boolean(must('true or false')), false),
    retryRequestedAt: z._default(z.nullable(z.number(must('a number'))), null),
    changedBy: z._default(z.nullable(z.string(must('a string')).check(z.maxLength(MAX_ARN, `must be at most ${MAX_ARN} characters`))), null),
  })
  .check(crossFieldRules);

/**
 * Attributes of a table item that belong to the table, not the spec: the key, bookkeeping written by
 * the state adapter, and anything prefixed `_` (reserved for such bookkeeping).
 */
const TABLE_ATTRIBUTES: ReadonlySet<string> = new Set(['pk', 'sk', 'updatedAt', 'leaseOwner', 'leaseUntil']);

/** Validates one stores-file entry. */
export function parseDesiredSpec(raw: unknown): { ok: true; spec: DesiredStoreSpec } | { ok: false; errors: FieldError[] } {
  const result = desiredSpecSchema.safeParse(raw);
  return result.success ? { ok: true, spec: result.data } : { ok: false, errors: fieldErrors(result.error, Object.keys(desiredSpecSchema.shape)) };
}

/** Validates a DESIRED table item, ignoring table attributes. An invalid item is reported and skipped by the caller. */
export function parseDesiredItem(raw: unknown): { ok: true; desired: DesiredStore } | { ok: false; errors: FieldError[] } {
  const item = isRecord(raw) ? Object.fromEntries(Object.entries(raw).filter(([key]) => !TABLE_ATTRIBUTES.has(key) && !key.startsWith('_'))) : raw;
  const result = desiredItemSchema.safeParse(item);
  return result.success ? { ok: true, desired: result.data } : { ok: false, errors: fieldErrors(result.error, Object.keys(desiredItemSchema.shape)) };
}

/** zod issues as field errors: one per unknown key (with a hint for a near miss), sorted by path. */
function fieldErrors(error: z.core.$ZodError, topLevelKeys: readonly string[]): FieldError[] {
  const errors: FieldError[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      const known = path[0] === 'xksProxy' ? Object.keys(xksProxyShape) : topLevelKeys;
      for (const key of issue.keys) {
        const suggestion = closest(key, known);
        errors.push({
          path: [...path, key].join('.'),
          message: suggestion ? `unknown field (did you mean ${suggestion}?)` : 'unknown field',
        });
      }
    } else {
      errors.push({ path: path.join('.'), message: path.length === 0 && issue.code === 'invalid_type' ? 'must be an object' : issue.message });
    }
  }
  return errors.sort((a, b) => a.path.localeCompare(b.path));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
