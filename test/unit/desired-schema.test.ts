import { describe, expect, it } from 'vitest';
import { desiredSpecSchema, type FieldError, parseDesiredItem, parseDesiredSpec } from '../../shared/domain/desired-schema.js';

const ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser';
const XKS_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:partner-xks';
const VPCE = 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0';

const cloudHsm = {
  name: 'payments-hsm',
  desiredState: 'CONNECTED',
  cloudHsmClusterId: 'cluster-abcdefghijk',
  keyStorePasswordSecretArn: ARN,
  mode: 'enforce',
};

const xks = {
  name: 'partner-xks',
  type: 'EXTERNAL_KEY_STORE',
  desiredState: 'CONNECTED',
  xksProxy: {
    uriEndpoint: 'https://xks.example.com',
    uriPath: '/kms/xks/v1',
    connectivity: 'PUBLIC_ENDPOINT',
    credentialSecretArn: XKS_ARN,
  },
  mode: 'plan',
};

function errorsOf(raw: unknown): FieldError[] {
  const result = parseDesiredSpec(raw);
  if (result.ok) throw new Error('expected the spec to be invalid');
  return result.errors;
}

describe('parseDesiredSpec: valid specs', () => {
  it('accepts the CloudHSM store of the stores file and fills the defaults', () => {
    expect(parseDesiredSpec(cloudHsm)).toEqual({
      ok: true,
      spec: { ...cloudHsm, type: 'AWS_CLOUDHSM', maxAttempts: 3, allowCreateHsm: false, onManualDisconnect: 'hold', loginBudget: 2 },
    });
  });

  it('accepts the external key store of the stores file', () => {
    const result = parseDesiredSpec(xks);
    expect(result.ok).toBe(true);
  });

  it('defaults mode to observe: nothing is acted on until an operator opts in', () => {
    const { mode: _mode, ...rest } = cloudHsm;
    const result = parseDesiredSpec(rest);
    expect(result.ok && result.spec.mode).toBe('observe');
  });

  it('accepts a DISCONNECTED CloudHSM store without a cluster id', () => {
    expect(parseDesiredSpec({ name: 'old-hsm', desiredState: 'DISCONNECTED' }).ok).toBe(true);
  });

  it.each(['/kms/xks/v1', '/kms/xks/v12', '/tenant-1/kms/xks/v2', '/a/b_c/kms/xks/v1'])('accepts the XKS URI path %s', (uriPath) => {
    expect(parseDesiredSpec({ ...xks, xksProxy: { ...xks.xksProxy, uriPath } }).ok).toBe(true);
  });

  it.each([VPCE, 'eu.amazonaws.vpce.eusc-de-east-1.vpce-svc-0123456789abcdef0'])(
    'accepts VPC endpoint service connectivity with the service name %s (the model allows com. and eu.)',
    (vpcEndpointServiceName) => {
      const spec = { ...xks, xksProxy: { ...xks.xksProxy, connectivity: 'VPC_ENDPOINT_SERVICE', vpcEndpointServiceName } };
      expect(parseDesiredSpec(spec).ok).toBe(true);
    },
  );

  it('exports the zod schema for composition', () => {
    expect(desiredSpecSchema.safeParse(cloudHsm).success).toBe(true);
  });
});

describe('parseDesiredSpec: each invalid field gives a specific error at its path', () => {
  it.each([
    { case: 'a missing name', spec: { ...cloudHsm, name: undefined }, path: 'name', message: 'is required' },
    { case: 'an empty name', spec: { ...cloudHsm, name: '' }, path: 'name', message: 'must be 1-256 characters' },
    { case: 'a name over 256 characters', spec: { ...cloudHsm, name: 'n'.repeat(257) }, path: 'name', message: 'must be 1-256 characters' },
    { case: 'a non-string name', spec: { ...cloudHsm, name: 42 }, path: 'name', message: 'must be a string' },
    { case: 'a bad store id', spec: { ...cloudHsm, id: 'store-1' }, path: 'id', message: 'must be a custom key store id like cks-1234567890abcdef0' },
    {
      case: 'a store id over 64 characters',
      spec: { ...cloudHsm, id: `cks-${'a'.repeat(61)}` },
      path: 'id',
      message: 'must be at most 64 characters',
    },
    { case: 'an unknown type', spec: { ...cloudHsm, type: 'HSM' }, path: 'type', message: 'must be one of AWS_CLOUDHSM | EXTERNAL_KEY_STORE' },
    { case: 'a missing desiredState', spec: { ...cloudHsm, desiredState: undefined }, path: 'desiredState', message: 'is required' },
    {
      case: 'a lower-case desiredState',
      spec: { ...cloudHsm, desiredState: 'connected' },
      path: 'desiredState',
      message: 'must be one of CONNECTED | DISCONNECTED',
    },
    {
      case: 'a malformed cluster id',
      spec: { ...cloudHsm, cloudHsmClusterId: 'cluster-1a23b4cdefg' },
      path: 'cloudHsmClusterId',
      message: 'must match cluster-[2-7a-zA-Z]{11,16}',
    },
    {
      case: 'a password secret that is not a secret ARN',
      spec: { ...cloudHsm, keyStorePasswordSecretArn: 'payments-kmsuser' },
      path: 'keyStorePasswordSecretArn',
      message: 'must be a Secrets Manager secret ARN: arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>',
    },
    {
      case: 'a password secret ARN of another service',
      spec: { ...cloudHsm, keyStorePasswordSecretArn: 'arn:aws:ssm:us-east-1:111122223333:parameter/x' },
      path: 'keyStorePasswordSecretArn',
      message: expect.stringContaining('must be a Secrets Manager secret ARN'),
    },
    { case: 'an unknown mode', spec: { ...cloudHsm, mode: 'auto' }, path: 'mode', message: 'must be one of observe | plan | enforce' },
    { case: 'maxAttempts 0', spec: { ...cloudHsm, maxAttempts: 0 }, path: 'maxAttempts', message: 'must be 1-20' },
    { case: 'maxAttempts 21', spec: { ...cloudHsm, maxAttempts: 21 }, path: 'maxAttempts', message: 'must be 1-20' },
    { case: 'a fractional maxAttempts', spec: { ...cloudHsm, maxAttempts: 2.5 }, path: 'maxAttempts', message: 'must be an integer' },
    { case: 'maxAttempts as a string', spec: { ...cloudHsm, maxAttempts: '3' }, path: 'maxAttempts', message: 'must be an integer' },
    { case: 'allowCreateHsm as a string', spec: { ...cloudHsm, allowCreateHsm: 'yes' }, path: 'allowCreateHsm', message: 'must be true or false' },
    {
      case: 'a CONNECTED CloudHSM store without cluster',
      spec: { ...cloudHsm, cloudHsmClusterId: undefined },
      path: 'cloudHsmClusterId',
      message: 'is required when type is AWS_CLOUDHSM and desiredState is CONNECTED',
    },
    {
      case: 'xksProxy on a CloudHSM store',
      spec: { ...cloudHsm, xksProxy: xks.xksProxy },
      path: 'xksProxy',
      message: 'is not allowed when type is AWS_CLOUDHSM',
    },
    {
      case: 'an XKS store without xksProxy',
      spec: { ...xks, xksProxy: undefined },
      path: 'xksProxy',
      message: 'is required when type is EXTERNAL_KEY_STORE',
    },
    {
      case: 'a cluster id on an XKS store',
      spec: { ...xks, cloudHsmClusterId: 'cluster-abcdefghijk' },
      path: 'cloudHsmClusterId',
      message: 'is not allowed when type is EXTERNAL_KEY_STORE',
    },
    {
      case: 'a password secret on an XKS store',
      spec: { ...xks, keyStorePasswordSecretArn: ARN },
      path: 'keyStorePasswordSecretArn',
      message: 'is not allowed when type is EXTERNAL_KEY_STORE',
    },
    {
      case: 'allowCreateHsm on an XKS store',
      spec: { ...xks, allowCreateHsm: true },
      path: 'allowCreateHsm',
      message: 'is not allowed when type is EXTERNAL_KEY_STORE',
    },
    {
      case: 'an http endpoint',
      spec: { ...xks, xksProxy: { ...xks.xksProxy, uriEndpoint: 'http://xks.example.com' } },
      path: 'xksProxy.uriEndpoint',
      message: 'must match ^https://[a-zA-Z0-9.-]+$ (https, a host name, no path or port)',
    },
    {
      case: 'an endpoint with a path',
      spec: { ...xks, xksProxy: { ...xks.xksProxy, uriEndpoint: 'https://xks.example.com/kms' } },
      path: 'xksProxy.uriEndpoint',
      message: expect.stringContaining('must match'),
    },
    {
      case: 'a URI path without /kms/xks/v<n>',
      spec: { ...xks, xksProxy: { ...xks.xksProxy, uriPath: '/kms/xks/version1' } },
      path: 'xksProxy.uriPath',
      message: 'must be /kms/xks/v<1-2 digits> or /<prefix>/kms/xks/v<1-2 digits>',
    },
    {
      case: 'an unknown connectivity',
      spec: { ...xks, xksProxy: { ...xks.xksProxy, connectivity: 'PRIVATE' } },
      path: 'xksProxy.connectivity',
      message: 'must be one of PUBLIC_ENDPOINT | VPC_ENDPOINT_SERVICE',
    },
    {
      case: 'VPC connectivity without service name',
      spec: { ...xks, xksProxy: { ...xks.xksProxy, connectivity: 'VPC_ENDPOINT_SERVICE' } },
      path: 'xksProxy.vpcEndpointServiceName',
      message: 'is required when connectivity is VPC_ENDPOINT_SERVICE',
    },
    {
      case: 'a service name with public connectivity',
      spec: { ...xks, xksProxy: { ...xks.xksProxy, vpcEndpointServiceName: VPCE } },
      path: 'xksProxy.vpcEndpointServiceName',
      message: 'is not allowed when connectivity is PUBLIC_ENDPOINT',
    },
    {
      case: 'a malformed service name',
      spec: { ...xks, xksProxy: { ...xks.xksProxy, connectivity: 'VPC_ENDPOINT_SERVICE', vpcEndpointServiceName: 'com.amazonaws.vpce.svc-123' } },
      path: 'xksProxy.vpcEndpointServiceName',
      message: expect.stringContaining('com.amazonaws.vpce'),
    },
    {
      case: 'a missing credential secret',
      spec: { ...xks, xksProxy: { ...xks.xksProxy, credentialSecretArn: undefined } },
      path: 'xksProxy.credentialSecretArn',
      message: 'is required',
    },
    {
      case: 'a typo in a field name',
      spec: { ...cloudHsm, desiredState: undefined, desiredstate: 'CONNECTED' },
      path: 'desiredstate',
      message: 'unknown field (did you mean desiredState?)',
    },
    { case: 'an unknown field', spec: { ...cloudHsm, owner: 'team-a' }, path: 'owner', message: 'unknown field' },
    {
      case: 'an unknown field in xksProxy',
      spec: { ...xks, xksProxy: { ...xks.xksProxy, accessKeyId: 'AKIA' } },
      path: 'xksProxy.accessKeyId',
      message: 'unknown field',
    },
    {
      case: 'generation in a stores file (the table manages it)',
      spec: { ...cloudHsm, generation: 3 },
      path: 'generation',
      message: 'unknown field',
    },
    { case: 'a spec that is not an object', spec: ['payments-hsm'], path: '', message: 'must be an object' },
  ])('rejects $case', ({ spec, path, message }) => {
    expect(errorsOf(JSON.parse(JSON.stringify(spec)))).toContainEqual({ path, message });
  });

  it('reports every problem of a spec in one pass', () => {
    const errors = errorsOf({ ...xks, cloudHsmClusterId: 'bad', maxAttempts: 0, xksProxy: { ...xks.xksProxy, uriPath: '/x' } });
    expect(errors.map((e) => e.path)).toEqual(expect.arrayContaining(['cloudHsmClusterId', 'maxAttempts', 'xksProxy.uriPath']));
    expect(errors).toContainEqual({ path: 'cloudHsmClusterId', message: 'is not allowed when type is EXTERNAL_KEY_STORE' });
  });

  it('never puts a value into a message, even a password typed where it does not belong', () => {
    const secret = 'correct-horse-battery-staple';
    const errors = errorsOf({
      ...cloudHsm,
      keyStorePassword: secret,
      keyStorePasswordSecretArn: secret,
      name: { password: secret },
      xksProxy: { credentialSecretArn: secret, secretAccessKey: secret },
    });
    expect(JSON.stringify(errors)).not.toContain(secret);
    expect(errors).toContainEqual({ path: 'keyStorePassword', message: 'unknown field' });
  });
});

describe('parseDesiredSpec: the active probe', () => {
  const KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  it('is off unless turned on, and takes no key in a CloudHSM key store', () => {
    const off = parseDesiredSpec(cloudHsm);
    const on = parseDesiredSpec({ ...cloudHsm, probe: true });
    expect(off.ok && off.spec.probe).toBe(undefined);
    expect(on.ok && on.spec.probe).toBe(true);
  });

  it.each([KEY_ARN, '1234abcd-12ab-34cd-56ef-1234567890ab'])('probes an external key store with its key %s', (probeKeyId) => {
    const parsed = parseDesiredSpec({ ...xks, probe: true, probeKeyId });
    expect(parsed.ok && parsed.spec).toMatchObject({ probe: true, probeKeyId });
  });

  it.each([
    [
      'an external key store probed without a key',
      { ...xks, probe: true },
      'probeKeyId',
      'is required when probe is true and type is EXTERNAL_KEY_STORE',
    ],
    ['a key with the probe off', { ...xks, probeKeyId: KEY_ARN }, 'probeKeyId', 'is allowed only when probe is true'],
    [
      'a key for a CloudHSM key store',
      { ...cloudHsm, probe: true, probeKeyId: KEY_ARN },
      'probeKeyId',
      'is not allowed when type is AWS_CLOUDHSM (its probe is GenerateRandom in the store, with no key)',
    ],
    ['a key that is an alias', { ...xks, probe: true, probeKeyId: 'alias/probe' }, 'probeKeyId', 'must be a KMS key id (a UUID) or a key ARN'],
    ['a probe that is not a boolean', { ...cloudHsm, probe: 'yes' }, 'probe', 'must be true or false'],
  ])('refuses %s', (_case, raw, path, message) => {
    expect(errorsOf(raw)).toEqual([{ path, message }]);
  });
});

describe('parseDesiredItem', () => {
  const item = { ...cloudHsm, generation: 4, paused: true };

  it('accepts a table item with generation and paused, ignoring table attributes', () => {
    const result = parseDesiredItem({
      ...item,
      pk: 'DESIRED#1#us-east-1',
      sk: 'STORE#payments-hsm#DESIRED',
      updatedAt: '2025-03-01T00:00:00Z',
      _ttl: 1,
    });
    expect(result).toEqual({
      ok: true,
      desired: {
        ...cloudHsm,
        type: 'AWS_CLOUDHSM',
        maxAttempts: 3,
        allowCreateHsm: false,
        onManualDisconnect: 'hold',
        loginBudget: 2,
        generation: 4,
        paused: true,
        retryRequestedAt: null,
        changedBy: null,
      },
    });
  });

  it('defaults paused to false', () => {
    const { paused: _paused, ...rest } = item;
    const result = parseDesiredItem(rest);
    expect(result.ok && result.desired.paused).toBe(false);
  });

  it.each([
    { case: 'a missing generation', raw: { ...item, generation: undefined }, path: 'generation', message: 'is required' },
    { case: 'a negative generation', raw: { ...item, generation: -1 }, path: 'generation', message: 'must be 0 or more' },
    { case: 'a fractional generation', raw: { ...item, generation: 1.5 }, path: 'generation', message: 'must be an integer' },
    { case: 'paused as a string', raw: { ...item, paused: 'no' }, path: 'paused', message: 'must be true or false' },
    {
      case: 'an unknown attribute',
      raw: { ...item, desiredstate: 'CONNECTED' },
      path: 'desiredstate',
      message: 'unknown field (did you mean desiredState?)',
    },
  ])('rejects $case', ({ raw, path, message }) => {
    const result = parseDesiredItem(JSON.parse(JSON.stringify(raw)));
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.errors).toContainEqual({ path, message });
  });

  it('rejects an item that is not an object', () => {
    expect(parseDesiredItem(null)).toEqual({ ok: false, errors: [{ path: '', message: 'must be an object' }] });
  });
});
