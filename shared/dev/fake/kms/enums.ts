/**
 * The KMS API's enumerations for custom key stores, as the fake's own lists (the fake depends on
 * nothing of the product it plays AWS for; a unit test checks they match the product's lists).
 */

export const CONNECTION_STATES = ['CONNECTED', 'CONNECTING', 'FAILED', 'DISCONNECTED', 'DISCONNECTING'] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

export const STORE_TYPES = ['AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const;
export type StoreType = (typeof STORE_TYPES)[number];

/** Every value of `ConnectionErrorCode`. */
export const CONNECTION_ERROR_CODES = [
  'INTERNAL_ERROR',
  'NETWORK_ERRORS',
  'INVALID_CREDENTIALS',
  'CLUSTER_NOT_FOUND',
  'INSUFFICIENT_CLOUDHSM_HSMS',
  'INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET',
  'SUBNET_NOT_FOUND',
  'USER_LOCKED_OUT',
  'USER_LOGGED_IN',
  'USER_NOT_FOUND',
  'XKS_PROXY_ACCESS_DENIED',
  'XKS_PROXY_NOT_REACHABLE',
  'XKS_PROXY_INVALID_RESPONSE',
  'XKS_PROXY_INVALID_CONFIGURATION',
  'XKS_PROXY_TIMED_OUT',
  'XKS_PROXY_INVALID_TLS_CONFIGURATION',
  'XKS_VPC_ENDPOINT_SERVICE_NOT_FOUND',
  'XKS_VPC_ENDPOINT_SERVICE_INVALID_CONFIGURATION',
] as const;
export type ConnectionErrorCode = (typeof CONNECTION_ERROR_CODES)[number];

export const XKS_CONNECTIVITY = ['PUBLIC_ENDPOINT', 'VPC_ENDPOINT_SERVICE'] as const;
export type XksConnectivity = (typeof XKS_CONNECTIVITY)[number];
