/**
 * KMS custom key store requests: validation against the KMS API model's constraints,
 * then the checks across members that need no state (which members go with which store type).
 */
import { z } from 'zod';
import { ValidationException } from '../errors.js';
import { parseInput } from '../wire.js';
import { STORE_TYPES, type StoreType, XKS_CONNECTIVITY, type XksConnectivity } from './enums.js';

/** The CloudHSM settings of a store, as a request gives them and the store keeps them. */
export interface CloudHsmSettings {
  clusterId: string;
  trustAnchorCertificate: string;
  /** What KMS believes the kmsuser password is. */
  password: string;
}

/** The external key store proxy settings of a store, as a request gives them and the store keeps them. */
export interface XksSettings {
  connectivity: XksConnectivity;
  uriEndpoint: string;
  uriPath: string;
  vpcEndpointServiceName?: string;
  vpcEndpointServiceOwner?: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** A valid CreateCustomKeyStore request: exactly one of `cloudHsm` and `xks`, as `type` says. */
export interface NewCustomKeyStore {
  name: string;
  type: StoreType;
  cloudHsm?: CloudHsmSettings;
  xks?: XksSettings;
}

const StoreId = z.string().min(1).max(64);
const StoreName = z.string().min(1).max(256);
const ClusterId = z
  .string()
  .min(19)
  .max(24)
  .regex(/^cluster-[2-7a-zA-Z]{11,16}$/);
const KeyStorePassword = z.string().min(7).max(32);
const Xks = {
  XksProxyUriEndpoint: z
    .string()
    .min(10)
    .max(128)
    .regex(/^https:\/\/[a-zA-Z0-9.-]+$/)
    .optional(),
  XksProxyUriPath: z
    .string()
    .min(10)
    .max(128)
    .regex(/^(\/[a-zA-Z0-9/_-]+\/kms\/xks\/v\d{1,2})$|^(\/kms\/xks\/v\d{1,2})$/)
    .optional(),
  XksProxyVpcEndpointServiceName: z
    .string()
    .min(20)
    .max(64)
    .regex(/^(com|eu)\.amazonaws\.vpce\.([a-z]+-){2,3}\d+\.vpce-svc-[0-9a-z]+$/)
    .optional(),
  XksProxyVpcEndpointServiceOwner: z
    .string()
    .regex(/^\d{12}$/)
    .optional(),
  XksProxyAuthenticationCredential: z
    .object({
      AccessKeyId: z
        .string()
        .min(20)
        .max(30)
        .regex(/^[A-Z2-7]+$/),
      RawSecretAccessKey: z
        .string()
        .min(43)
        .max(64)
        .regex(/^[a-zA-Z0-9/+=]+$/),
    })
    .optional(),
  XksProxyConnectivity: z.enum(XKS_CONNECTIVITY).optional(),
};

const CreateInput = z.object({
  CustomKeyStoreName: StoreName,
  CustomKeyStoreType: z.enum(STORE_TYPES).optional(),
  CloudHsmClusterId: ClusterId.optional(),
  TrustAnchorCertificate: z.string().min(1).max(5000).optional(),
  KeyStorePassword: KeyStorePassword.optional(),
  ...Xks,
});
type CreateInput = z.output<typeof CreateInput>;

const DescribeInput = z.object({
  CustomKeyStoreId: StoreId.optional(),
  CustomKeyStoreName: StoreName.optional(),
  Limit: z.number().int().min(1).max(1000).optional(),
  Marker: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[\u0020-\u00FF]*$/)
    .optional(),
});
export type DescribeRequest = z.output<typeof DescribeInput>;

const StoreIdInput = z.object({ CustomKeyStoreId: StoreId });

const UpdateInput = z.object({
  CustomKeyStoreId: StoreId,
  NewCustomKeyStoreName: StoreName.optional(),
  CloudHsmClusterId: ClusterId.optional(),
  KeyStorePassword: KeyStorePassword.optional(),
  ...Xks,
});
export type UpdateRequest = z.output<typeof UpdateInput>;

const GenerateRandomInput = z.object({
  NumberOfBytes: z.number().int().min(1).max(1024),
  CustomKeyStoreId: StoreId.optional(),
});
export type GenerateRandomRequest = z.output<typeof GenerateRandomInput>;

const KeyRef = z.string().min(1).max(2048);

const CreateKeyInput = z.object({
  Description: z.string().max(8192).optional(),
  KeyUsage: z.enum(['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT']).optional(),
  KeySpec: z.string().min(1).optional(),
  Origin: z.enum(['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE']).optional(),
  CustomKeyStoreId: StoreId.optional(),
  XksKeyId: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[a-zA-Z0-9-_.]+$/)
    .optional(),
});
export type CreateKeyRequest = z.output<typeof CreateKeyInput>;

const EncryptInput = z.object({
  KeyId: KeyRef,
  // A blob arrives base64-encoded: 1 to 4096 bytes.
  Plaintext: z.string().min(1).max(5464),
  EncryptionAlgorithm: z.literal('SYMMETRIC_DEFAULT').optional(),
});
export type EncryptRequest = z.output<typeof EncryptInput>;

/** CreateKey: the key store members go with their origin (a ValidationException names what is missing). */
export function parseCreateKey(input: unknown): CreateKeyRequest {
  const request = parseInput(CreateKeyInput, input, ValidationException);
  const origin = request.Origin ?? 'AWS_KMS';
  const inStore = origin === 'AWS_CLOUDHSM' || origin === 'EXTERNAL_KEY_STORE';
  if (inStore && request.CustomKeyStoreId === undefined) throw new ValidationException(`CustomKeyStoreId is required when Origin is ${origin}.`);
  if (!inStore && request.CustomKeyStoreId !== undefined) throw new ValidationException(`CustomKeyStoreId is not valid when Origin is ${origin}.`);
  if ((origin === 'EXTERNAL_KEY_STORE') !== (request.XksKeyId !== undefined)) {
    throw new ValidationException('XksKeyId is required when Origin is EXTERNAL_KEY_STORE, and valid only then.');
  }
  return request;
}

/** DescribeKey's `KeyId`. */
export function parseKeyId(input: unknown): string {
  return parseInput(z.object({ KeyId: KeyRef }), input, ValidationException).KeyId;
}

export function parseEncrypt(input: unknown): EncryptRequest {
  return parseInput(EncryptInput, input, ValidationException);
}

export function parseCreate(input: unknown): NewCustomKeyStore {
  const request = parseInput(CreateInput, input, ValidationException);
  const type = request.CustomKeyStoreType ?? 'AWS_CLOUDHSM';
  const name = request.CustomKeyStoreName;
  return type === 'AWS_CLOUDHSM' ? { name, type, cloudHsm: cloudHsmSettings(request) } : { name, type, xks: xksSettings(request) };
}

export function parseDescribe(input: unknown): DescribeRequest {
  const request = parseInput(DescribeInput, input, ValidationException);
  if (request.CustomKeyStoreId !== undefined && request.CustomKeyStoreName !== undefined) {
    throw new ValidationException('Specify either CustomKeyStoreId or CustomKeyStoreName, not both.');
  }
  return request;
}

/** The `CustomKeyStoreId` of Connect, Disconnect and Delete. */
export function parseStoreId(input: unknown): string {
  return parseInput(StoreIdInput, input, ValidationException).CustomKeyStoreId;
}

export function parseUpdate(input: unknown): UpdateRequest {
  return parseInput(UpdateInput, input, ValidationException);
}

export function parseGenerateRandom(input: unknown): GenerateRandomRequest {
  return parseInput(GenerateRandomInput, input, ValidationException);
}

const CLOUDHSM_PARAMETERS = ['CloudHsmClusterId', 'TrustAnchorCertificate', 'KeyStorePassword'] as const;
const XKS_PARAMETERS = [
  'XksProxyUriEndpoint',
  'XksProxyUriPath',
  'XksProxyVpcEndpointServiceName',
  'XksProxyVpcEndpointServiceOwner',
  'XksProxyAuthenticationCredential',
  'XksProxyConnectivity',
] as const;

function requireFor<K extends keyof CreateInput>(input: CreateInput, type: StoreType, key: K): NonNullable<CreateInput[K]> {
  const value = input[key];
  if (value === undefined) throw new ValidationException(`${key} is required for a custom key store of type ${type}.`);
  return value!;
}

function rejectFor(input: CreateInput, type: StoreType, keys: readonly (keyof CreateInput)[]): void {
  const given = keys.filter((key) => input[key] !== undefined);
  if (given.length > 0) {
    throw new ValidationException(`${given.join(', ')} cannot be used with a custom key store of type ${type}.`);
  }
}

function cloudHsmSettings(input: CreateInput): CloudHsmSettings {
  rejectFor(input, 'AWS_CLOUDHSM', XKS_PARAMETERS);
  return {
    clusterId: requireFor(input, 'AWS_CLOUDHSM', 'CloudHsmClusterId'),
    trustAnchorCertificate: requireFor(input, 'AWS_CLOUDHSM', 'TrustAnchorCertificate'),
    password: requireFor(input, 'AWS_CLOUDHSM', 'KeyStorePassword'),
  };
}

function xksSettings(input: CreateInput): XksSettings {
  const type = 'EXTERNAL_KEY_STORE';
  rejectFor(input, type, CLOUDHSM_PARAMETERS);
  const connectivity = requireFor(input, type, 'XksProxyConnectivity');
  const credential = requireFor(input, type, 'XksProxyAuthenticationCredential');
  const settings: XksSettings = {
    connectivity,
    uriEndpoint: requireFor(input, type, 'XksProxyUriEndpoint'),
    uriPath: requireFor(input, type, 'XksProxyUriPath'),
    accessKeyId: credential.AccessKeyId,
    secretAccessKey: credential.RawSecretAccessKey,
  };
  if (connectivity === 'VPC_ENDPOINT_SERVICE') {
    settings.vpcEndpointServiceName = requireFor(input, type, 'XksProxyVpcEndpointServiceName');
    if (input.XksProxyVpcEndpointServiceOwner !== undefined) {
      settings.vpcEndpointServiceOwner = input.XksProxyVpcEndpointServiceOwner;
    }
  } else {
    rejectFor(input, type, ['XksProxyVpcEndpointServiceName', 'XksProxyVpcEndpointServiceOwner']);
  }
  return settings;
}
