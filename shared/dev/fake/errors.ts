/**
 * AWS exceptions the fake raises, one class per exception name (moto style). The HTTP layer turns
 * an {@link AwsError} into `{"__type": name, "message"|"Message": ...}` with its status code.
 */

/** An error the fake returns to the caller exactly as AWS would. */
export class AwsError extends Error {
  constructor(
    /** The exception name, sent as `__type` and `x-amzn-errortype`. */
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = type;
  }
}

/**
 * An error of a service that speaks JSON 1.0 and the query protocol (CloudWatch): `type` is the
 * JSON protocol's shape name (`InvalidParameterValueException`), `queryCode` the query protocol's
 * error code (`InvalidParameterValue`), also sent in JSON as `x-amzn-query-error`.
 */
export class QueryCompatibleError extends AwsError {
  constructor(
    type: string,
    readonly queryCode: string,
    message: string,
    status = 400,
  ) {
    super(type, message, status);
  }
}

/** The error code a query-protocol reply carries. */
export function queryCodeOf(error: AwsError): string {
  return error instanceof QueryCompatibleError ? error.queryCode : error.type;
}

type AwsErrorClass = new (message: string) => AwsError;

function exception(type: string, status = 400): AwsErrorClass {
  return class extends AwsError {
    constructor(message: string) {
      super(type, message, status);
    }
  };
}

// Common (coral) errors, shared by every JSON service.
export const SerializationException = exception('SerializationException');
export const UnknownOperationException = exception('UnknownOperationException');
export const InvalidSignatureException = exception('InvalidSignatureException');
/** What any AWS front end answers when it fails unexpectedly. */
export const InternalFailure = exception('InternalFailure', 500);

// KMS
export const ValidationException = exception('ValidationException');
export const KMSInternalException = exception('KMSInternalException', 500);
/** KMS timed out waiting on what it depends on (a CloudHSM key store's HSMs). */
export const DependencyTimeoutException = exception('DependencyTimeoutException', 500);
export const CustomKeyStoreNotFoundException = exception('CustomKeyStoreNotFoundException');
export const NotFoundException = exception('NotFoundException');
/** A cryptographic operation with a KMS key whose key store cannot serve it (KMS gives this one exception for every such cause of an external key store). */
export const KMSInvalidStateException = exception('KMSInvalidStateException');
export const XksKeyAlreadyInUseException = exception('XksKeyAlreadyInUseException');
export const CustomKeyStoreHasCMKsException = exception('CustomKeyStoreHasCMKsException');
export const CustomKeyStoreInvalidStateException = exception('CustomKeyStoreInvalidStateException');
export const CustomKeyStoreNameInUseException = exception('CustomKeyStoreNameInUseException');
export const InvalidMarkerException = exception('InvalidMarkerException');
/** KMS's and DynamoDB's name for a quota reached; the fake also uses it for its own bounds. */
export const LimitExceededException = exception('LimitExceededException');
export const UnsupportedOperationException = exception('UnsupportedOperationException');
export const CloudHsmClusterInUseException = exception('CloudHsmClusterInUseException');
export const CloudHsmClusterNotFoundException = exception('CloudHsmClusterNotFoundException');
export const CloudHsmClusterNotActiveException = exception('CloudHsmClusterNotActiveException');
export const CloudHsmClusterInvalidConfigurationException = exception('CloudHsmClusterInvalidConfigurationException');
export const CloudHsmClusterNotRelatedException = exception('CloudHsmClusterNotRelatedException');
export const IncorrectTrustAnchorException = exception('IncorrectTrustAnchorException');
export const XksProxyUriInUseException = exception('XksProxyUriInUseException');
export const XksProxyUriEndpointInUseException = exception('XksProxyUriEndpointInUseException');
export const XksProxyUriUnreachableException = exception('XksProxyUriUnreachableException');
export const XksProxyIncorrectAuthenticationCredentialException = exception('XksProxyIncorrectAuthenticationCredentialException');
export const XksProxyVpcEndpointServiceInUseException = exception('XksProxyVpcEndpointServiceInUseException');
export const XksProxyVpcEndpointServiceNotFoundException = exception('XksProxyVpcEndpointServiceNotFoundException');
export const XksProxyVpcEndpointServiceInvalidConfigurationException = exception('XksProxyVpcEndpointServiceInvalidConfigurationException');

// CloudHSM v2 (serialised with `Message`)
export const CloudHsmInvalidRequestException = exception('CloudHsmInvalidRequestException');
export const CloudHsmResourceNotFoundException = exception('CloudHsmResourceNotFoundException');
export const CloudHsmInternalFailureException = exception('CloudHsmInternalFailureException', 500);

// Secrets Manager
export const InvalidParameterException = exception('InvalidParameterException');
export const InvalidRequestException = exception('InvalidRequestException');
export const ResourceExistsException = exception('ResourceExistsException');
export const ResourceNotFoundException = exception('ResourceNotFoundException');
export const InternalServiceError = exception('InternalServiceError', 500);

// EventBridge
export const InternalException = exception('InternalException', 500);

// DynamoDB (the emulator raises its own errors; this one is for the fake's failures around it)
export const InternalServerError = exception('InternalServerError', 500);

/**
 * HTTP status of an exception injected by name through `/_fake/faults`: 5xx for the internal and
 * availability errors of every service, 400 for the rest (throttling is a 400 in these services).
 */
export function injectedStatus(type: string): number {
  return /Internal|ServiceUnavailable|DependencyTimeout/.test(type) ? 500 : 400;
}
