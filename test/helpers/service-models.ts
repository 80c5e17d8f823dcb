/**
 * Checks a response against the official AWS service model of its service: the botocore JSON
 * models the AWS CLI bundles (`<models>/<service>/<version>/service-2.json`).
 *
 * A success body is checked against the operation's output shape: no member the model does not
 * know, every required member present, each value of its type (a JSON timestamp is epoch seconds
 * as a number, an XML one ISO 8601 text), enums, patterns and `min`/`max` (length of strings,
 * lists, maps and decoded blobs; range of numbers). An error must be one the model lists for the
 * operation, with its HTTP status (the shape's `httpStatusCode`, else 500 for a fault and 400 for a
 * client error), and its body holds only the members of its shape — or a common error every AWS
 * front end may answer with (see {@link COMMON_ERRORS}). The content type is the protocol's.
 *
 * ```ts
 * const problems = checkResponse({ service: 'KMS', operation: 'DescribeCustomKeyStores', status: 200, contentType, body });
 * // [] or ["KMS.DescribeCustomKeyStores: CustomKeyStores[0].ConnectionState: 'UP' is not in the enum [...]"]
 * ```
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';

/** Where the Debian `awscli` package keeps botocore's models (CI installs it with apt). */
export const MODELS_DIR = '/usr/lib/python3/dist-packages/awscli/botocore/data';

/** The fake's service names (as in `/_fake/calls`) and the model directory of each. */
const MODEL_OF: Readonly<Record<string, string>> = {
  KMS: 'kms',
  CloudHSMV2: 'cloudhsmv2',
  SecretsManager: 'secretsmanager',
  EventBridge: 'events',
  DynamoDB: 'dynamodb',
  STS: 'sts',
  CloudWatch: 'cloudwatch',
  SQS: 'sqs',
};

/**
 * Errors no model lists because any operation of any service may answer them, with the HTTP status
 * AWS documents for each: the common errors of every AWS API (authentication, validation, internal
 * failure, unavailability) and the throttling codes. botocore accepts any error code (each becomes
 * a `ClientError`) and its retry logic treats {@link THROTTLING_CODES} as throttling whatever the
 * operation; the models list none of these. The JSON protocols spell the common errors with
 * `Exception` where the query protocol (STS) does not.
 */
const THROTTLING_CODES = [
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'RequestThrottled',
] as const;

const throttling = Object.fromEntries(THROTTLING_CODES.map((code) => [code, 400]));

const COMMON_ERRORS: Readonly<Record<'json' | 'query', Readonly<Record<string, number>>>> = {
  json: {
    ...throttling,
    AccessDeniedException: 400,
    IncompleteSignatureException: 400,
    InvalidSignatureException: 400,
    MissingAuthenticationTokenException: 403,
    UnrecognizedClientException: 400,
    ExpiredTokenException: 400,
    RequestExpired: 400,
    ValidationException: 400,
    // The common query error InvalidParameterValue as a query-compatible JSON service (CloudWatch, SQS) spells it.
    InvalidParameterValueException: 400,
    SerializationException: 400,
    UnknownOperationException: 400,
    InternalFailure: 500,
    ServiceUnavailable: 503,
  },
  query: {
    ...throttling,
    AccessDenied: 403,
    IncompleteSignature: 400,
    SignatureDoesNotMatch: 403,
    MissingAuthenticationToken: 403,
    InvalidClientTokenId: 403,
    ExpiredToken: 403,
    RequestExpired: 400,
    ValidationError: 400,
    InvalidParameterValue: 400,
    InvalidParameterCombination: 400,
    MissingParameter: 400,
    InvalidAction: 400,
    MalformedQueryString: 400,
    InternalFailure: 500,
    ServiceUnavailable: 503,
  },
};

/**
 * Where DynamoDB's answers — dynalite's, forwarded as they are — diverge from the DynamoDB model,
 * and why each is accepted rather than fixed: the fake adds nothing to them.
 */
export const EMULATOR_DIVERGENCES: readonly { readonly rule: RegExp; readonly why: string }[] = [
  {
    rule: /^DynamoDB\.\w+: (\w+\.)*TableId: '[0-9a-f-]+' does not match the pattern /,
    why: 'dynalite makes table ids of 8-4-4-4-8 hex digits, not a UUID (8-4-4-4-12)',
  },
  {
    rule: /^DynamoDB\.\w+: (\w+\.)*TableThroughputModeSummary: is not a member of the model$/,
    why: 'dynalite adds a TableThroughputModeSummary member no DynamoDB model has',
  },
  {
    rule: /^DynamoDB\.\w+: (\w+(\[\d+\])?\.)*ProvisionedThroughput\.NumberOfDecreasesToday: value 0 is below the minimum 1$/,
    why: 'the model gives NumberOfDecreasesToday a minimum of 1, yet DynamoDB itself answers 0 for a new table (and each of its indexes), as dynalite does',
  },
  {
    rule: /^DynamoDB\.BatchWriteItem: UnprocessedItems: size 0 is below the minimum 1$/,
    why: 'the output reuses the request map shape (at least one table), yet DynamoDB itself answers an empty UnprocessedItems when every item was written, as dynalite does',
  },
];

/** Whether a divergence is one of {@link EMULATOR_DIVERGENCES}. */
export function isEmulatorDivergence(divergence: string): boolean {
  return EMULATOR_DIVERGENCES.some(({ rule }) => rule.test(divergence));
}

/** One response as the fake sent it. */
export interface ObservedResponse {
  /** The fake's service name: `KMS`, `CloudHSMV2`, `SecretsManager`, `EventBridge`, `DynamoDB`, `STS`. */
  service: string;
  operation: string;
  status: number;
  contentType: string;
  body: Buffer;
}

interface ShapeRef {
  shape: string;
  resultWrapper?: string;
  timestampFormat?: string;
  /** XML list members named otherwise than `member`. */
  locationName?: string;
}

interface Shape {
  type: 'structure' | 'list' | 'map' | 'string' | 'integer' | 'long' | 'double' | 'float' | 'boolean' | 'timestamp' | 'blob';
  members?: Record<string, ShapeRef>;
  required?: string[];
  member?: ShapeRef;
  key?: ShapeRef;
  value?: ShapeRef;
  enum?: string[];
  pattern?: string;
  min?: number;
  max?: number;
  union?: boolean;
  timestampFormat?: string;
  flattened?: boolean;
  exception?: boolean;
  fault?: boolean;
  error?: { code?: string; httpStatusCode?: number };
}

interface Model {
  metadata: { protocol: 'json' | 'query'; jsonVersion?: string; timestampFormat?: string };
  operations: Record<string, { output?: ShapeRef; errors?: ShapeRef[] }>;
  shapes: Record<string, Shape>;
}

/**
 * What AWS has changed in a model since the one the AWS CLI here bundles (awscli 2.9.19, early
 * 2023), as the KMS API reference now documents it; each applies only where the bundled model
 * lacks it, so a newer CLI's model wins.
 */
const REVISIONS: Readonly<Record<string, (model: Model) => void>> = {
  kms: (model) => {
    // VPC endpoint services of the European Sovereign Cloud are named `eu.amazonaws.vpce.…`.
    const name = model.shapes.XksProxyVpcEndpointServiceNameType;
    if (name?.pattern?.startsWith('^com\\.')) name.pattern = `^(com|eu)${name.pattern.slice(4)}`;
    // A VPC endpoint service may belong to another account: XksProxyVpcEndpointServiceOwner.
    const proxy = model.shapes.XksProxyConfigurationType;
    if (proxy?.members !== undefined && proxy.members.VpcEndpointServiceOwner === undefined) {
      model.shapes.AccountIdType ??= { type: 'string', min: 12, max: 12, pattern: '^[0-9]{12}$' };
      proxy.members.VpcEndpointServiceOwner = { shape: 'AccountIdType' };
    }
  },
};

/**
 * Services whose bundled model speaks the query protocol while today's SDK calls them in JSON 1.0
 * (`awsQueryCompatible`): a JSON answer of theirs is checked as JSON against the same shapes.
 */
const QUERY_COMPATIBLE_JSON: ReadonlySet<string> = new Set(['cloudwatch', 'sqs']);

const models = new Map<string, Model>();

/** The newest model of a service directory with its {@link REVISIONS}, read once. */
function modelOf(dir: string): Model {
  let model = models.get(dir);
  if (model === undefined) {
    let versions: string[];
    try {
      versions = readdirSync(path.join(MODELS_DIR, dir)).sort();
    } catch {
      throw new Error(`no botocore model under ${path.join(MODELS_DIR, dir)}: install the AWS CLI (apt-get install awscli)`);
    }
    model = JSON.parse(readFileSync(path.join(MODELS_DIR, dir, versions.at(-1)!, 'service-2.json'), 'utf8')) as Model;
    REVISIONS[dir]?.(model);
    models.set(dir, model);
  }
  return model;
}

const patterns = new Map<string, RegExp | null>();

/** A model pattern (a Java regex, not anchored unless it says so) as a JS RegExp; `null` when JS cannot read it. */
function regexOf(pattern: string): RegExp | null {
  if (!patterns.has(pattern)) {
    let compiled: RegExp | null;
    try {
      compiled = new RegExp(pattern, 'u');
    } catch {
      try {
        compiled = new RegExp(pattern);
      } catch {
        compiled = null;
      }
    }
    patterns.set(pattern, compiled);
  }
  return patterns.get(pattern)!;
}

type Wire = 'json' | 'xml';

/** Checks one response; returns its divergences, each naming the operation, the member path and the rule. */
export function checkResponse(response: ObservedResponse): string[] {
  const dir = MODEL_OF[response.service];
  if (dir === undefined) return [];
  const model = modelOf(dir);
  const where = `${response.service}.${response.operation}`;
  const problems: string[] = [];
  const note = (member: string, rule: string): void => {
    problems.push(`${where}: ${member === '' ? '(body)' : member}: ${rule}`);
  };
  const json10 = QUERY_COMPATIBLE_JSON.has(dir) && response.contentType.startsWith('application/x-amz-json-1.0');
  const protocol = json10 ? 'json' : model.metadata.protocol;
  const contentType = protocol === 'json' ? `application/x-amz-json-${model.metadata.jsonVersion ?? '1.0'}` : 'text/xml';
  if (response.contentType.split(';')[0]!.trim() !== contentType) {
    note('Content-Type', `is '${response.contentType}', the ${protocol} protocol answers '${contentType}'`);
  }
  const operation = model.operations[response.operation];
  if (response.status < 300 && operation === undefined) {
    note('', `status ${response.status} for an operation the model does not have`);
    return problems;
  }
  const text = response.body.toString('utf8');
  if (protocol === 'json')
    checkJson(json10 ? { ...model, metadata: { ...model.metadata, protocol } } : model, operation, response.status, text, note, json10);
  else checkQuery(model, response.operation, operation, response.status, text, note);
  return problems;
}

type Note = (member: string, rule: string) => void;

function checkJson(
  model: Model,
  operation: Model['operations'][string] | undefined,
  status: number,
  text: string,
  note: Note,
  queryCompatible: boolean,
): void {
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    note('', 'is not JSON');
    return;
  }
  if (status < 300) {
    if (operation?.output !== undefined) checkValue(model, operation.output, body, '', 'json', note);
    else if (Object.keys(body as object).length > 0) note('', 'the operation has no output, yet the body has members');
    return;
  }
  const { __type: type, ...members } = body as { __type?: unknown };
  if (typeof type !== 'string') {
    note('__type', 'an error body must name its exception');
    return;
  }
  const shapeName = checkErrorCode(model, operation, type.slice(type.indexOf('#') + 1), status, note);
  // A query model's error shape leaves out the message, which the query protocol carries beside it.
  const { message: _message, ...shaped } = members as Record<string, unknown>;
  if (shapeName !== undefined) checkValue(model, { shape: shapeName }, queryCompatible ? shaped : members, '', 'json', note);
}

/**
 * Checks an error's code and HTTP status: one the model lists for the operation, by its shape name or
 * its code (whose shape is returned) at the shape's status, else a common error at its status.
 */
function checkErrorCode(
  model: Model,
  operation: Model['operations'][string] | undefined,
  code: string,
  status: number,
  note: Note,
): string | undefined {
  // A query-compatible JSON service names the shape (`QueueDoesNotExist`), its query code aside (`AWS.SimpleQueueService.NonExistentQueue`).
  const shapeName = operation?.errors?.find((ref) => ref.shape === code || model.shapes[ref.shape]?.error?.code === code)?.shape;
  if (shapeName !== undefined) {
    const shape = model.shapes[shapeName]!;
    const expected = shape.error?.httpStatusCode ?? (shape.fault ? 500 : 400);
    if (status !== expected) note('', `${code} is answered with HTTP ${status}; the model's status for it is ${expected}`);
    return shapeName;
  }
  const expected = COMMON_ERRORS[model.metadata.protocol][code];
  if (expected === undefined) note('', `${code} is neither an error the model lists for this operation nor a common error`);
  else if (status !== expected) note('', `common error ${code} is answered with HTTP ${status}; AWS answers it with ${expected}`);
  return undefined;
}

const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false });

function checkQuery(model: Model, name: string, operation: Model['operations'][string] | undefined, status: number, text: string, note: Note): void {
  let document: Record<string, unknown>;
  try {
    document = xml.parse(text, true) as Record<string, unknown>;
  } catch {
    note('', 'is not XML');
    return;
  }
  if (status < 300) {
    const root = document[`${name}Response`] as Record<string, unknown> | undefined;
    if (root === undefined) {
      note('', `the root element must be ${name}Response`);
      return;
    }
    const { ResponseMetadata: metadata, ...rest } = root;
    if (typeof (metadata as { RequestId?: unknown } | undefined)?.RequestId !== 'string') note('ResponseMetadata.RequestId', 'is required');
    const wrapper = operation?.output?.resultWrapper;
    if (operation?.output === undefined || wrapper === undefined) return;
    const { [wrapper]: result, ...unknown } = rest;
    for (const member of Object.keys(unknown)) note(member, 'is not a member of the response');
    checkValue(model, operation.output, result ?? '', wrapper, 'xml', note);
    return;
  }
  const root = document.ErrorResponse as { Error?: { Type?: unknown; Code?: unknown; Message?: unknown }; RequestId?: unknown } | undefined;
  const error = root?.Error;
  if (root === undefined || error === undefined) {
    note('', 'an error must be an ErrorResponse holding an Error');
    return;
  }
  if (typeof root.RequestId !== 'string') note('ErrorResponse.RequestId', 'is required');
  const kind = status >= 500 ? 'Receiver' : 'Sender';
  if (error.Type !== kind) note('Error.Type', `is '${String(error.Type)}'; an HTTP ${status} error is of type ${kind}`);
  if (typeof error.Code !== 'string') note('Error.Code', 'is required');
  else checkErrorCode(model, operation, error.Code, status, note);
}

/** Checks a value (parsed JSON, or XML text and elements) against the shape `ref` names; `at` is its member path. */
function checkValue(model: Model, ref: ShapeRef, value: unknown, at: string, wire: Wire, note: Note): void {
  const shape = model.shapes[ref.shape];
  if (shape === undefined) {
    note(at, `the model has no shape ${ref.shape}`);
    return;
  }
  switch (shape.type) {
    case 'structure':
      checkStructure(model, shape, value, at, wire, note);
      return;
    case 'list': {
      const items = wire === 'xml' ? xmlList(value, shape.member?.locationName ?? 'member') : value;
      if (!Array.isArray(items)) {
        note(at, `${describe(value)} is not a list`);
        return;
      }
      checkSize(shape, items.length, at, 'length', note);
      items.forEach((item, index) => {
        checkValue(model, shape.member!, item, `${at}[${index}]`, wire, note);
      });
      return;
    }
    case 'map': {
      if (!isObject(value)) {
        note(at, `${describe(value)} is not a map`);
        return;
      }
      const entries = Object.entries(value);
      checkSize(shape, entries.length, at, 'size', note);
      for (const [key, item] of entries) {
        checkValue(model, shape.key!, key, `${at}{${key}}`, wire, note);
        checkValue(model, shape.value!, item, `${at}.${key}`, wire, note);
      }
      return;
    }
    case 'string':
      if (typeof value !== 'string') {
        note(at, `${describe(value)} is not a string`);
        return;
      }
      checkString(shape, value, at, note);
      return;
    case 'blob': {
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
        note(at, `${describe(value)} is not base64 text`);
        return;
      }
      checkSize(shape, Buffer.from(value, 'base64').length, at, 'length', note);
      return;
    }
    case 'boolean':
      if (typeof value !== (wire === 'json' ? 'boolean' : 'string') || (wire === 'xml' && !/^(true|false)$/.test(value as string))) {
        note(at, `${describe(value)} is not a boolean`);
      }
      return;
    case 'integer':
    case 'long':
    case 'double':
    case 'float': {
      const number = wire === 'xml' && typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof number !== 'number' || !Number.isFinite(number)) {
        note(at, `${describe(value)} is not a number`);
        return;
      }
      if ((shape.type === 'integer' || shape.type === 'long') && !Number.isInteger(number)) {
        note(at, `${number} is not an integer`);
        return;
      }
      checkSize(shape, number, at, 'value', note);
      return;
    }
    case 'timestamp':
      checkTimestamp(model, ref, shape, value, at, wire, note);
      return;
  }
}

function checkStructure(model: Model, shape: Shape, value: unknown, at: string, wire: Wire, note: Note): void {
  // An XML structure with no member present is an empty element.
  const fields = wire === 'xml' && value === '' ? {} : value;
  if (!isObject(fields)) {
    note(at, `${describe(value)} is not a structure`);
    return;
  }
  const members = shape.members ?? {};
  const present = Object.keys(fields).filter((name) => fields[name] !== null);
  for (const name of present) {
    const member = members[name];
    if (member === undefined) note(join(at, name), 'is not a member of the model');
    else checkValue(model, member, fields[name], join(at, name), wire, note);
  }
  for (const name of shape.required ?? []) {
    if (!present.includes(name)) note(join(at, name), 'is required by the model and missing');
  }
  if (shape.union && present.length !== 1) note(at, `a union holds exactly one member, not ${present.length}`);
}

function checkString(shape: Shape, value: string, at: string, note: Note): void {
  if (shape.enum !== undefined && !shape.enum.includes(value)) note(at, `'${value}' is not in the enum [${shape.enum.join(', ')}]`);
  checkSize(shape, [...value].length, at, 'length', note);
  if (shape.pattern !== undefined) {
    const regex = regexOf(shape.pattern);
    if (regex === null) note(at, `the model's pattern ${shape.pattern} cannot be checked`);
    else if (!regex.test(value)) note(at, `'${value}' does not match the pattern ${shape.pattern}`);
  }
}

function checkSize(shape: Shape, size: number, at: string, what: 'length' | 'size' | 'value', note: Note): void {
  if (shape.min !== undefined && size < shape.min) note(at, `${what} ${size} is below the minimum ${shape.min}`);
  if (shape.max !== undefined && size > shape.max) note(at, `${what} ${size} is above the maximum ${shape.max}`);
}

/** A JSON timestamp is epoch seconds as a number unless the model names another format; an XML one is ISO 8601 text. */
function checkTimestamp(model: Model, ref: ShapeRef, shape: Shape, value: unknown, at: string, wire: Wire, note: Note): void {
  const format = ref.timestampFormat ?? shape.timestampFormat ?? (wire === 'json' ? 'unixTimestamp' : 'iso8601');
  if (format === 'unixTimestamp') {
    if (typeof value !== 'number' || !Number.isFinite(value)) note(at, `${describe(value)} is not a timestamp in epoch seconds (a number)`);
    else if (value > 1e11) note(at, `${value} is epoch milliseconds, not seconds`);
    return;
  }
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
  if (typeof value !== 'string' || !iso.test(value) || Number.isNaN(Date.parse(value))) {
    note(at, `${describe(value)} is not an ISO 8601 timestamp (the model's ${format} format for ${model.metadata.protocol})`);
  }
}

/** An XML list: the repeated `member` elements of its element (none when the element is empty). */
function xmlList(value: unknown, memberName: string): unknown {
  if (value === '') return [];
  if (!isObject(value)) return value;
  const items = value[memberName];
  return Array.isArray(items) ? items : items === undefined ? value : [items];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function join(at: string, name: string): string {
  return at === '' ? name : `${at}.${name}`;
}

function describe(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
