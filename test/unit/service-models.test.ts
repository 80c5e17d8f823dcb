import { describe, expect, it } from 'vitest';
import { checkResponse, EMULATOR_DIVERGENCES, isEmulatorDivergence, type ObservedResponse } from '../helpers/service-models.js';

const JSON_1_1 = 'application/x-amz-json-1.1';

function kms(operation: string, status: number, body: unknown, contentType = JSON_1_1): ObservedResponse {
  return { service: 'KMS', operation, status, contentType, body: Buffer.from(JSON.stringify(body)) };
}

function sts(operation: string, status: number, xml: string): ObservedResponse {
  return { service: 'STS', operation, status, contentType: 'text/xml', body: Buffer.from(xml) };
}

const STORE = {
  CustomKeyStoreId: 'cks-1234567890abcdef0',
  CustomKeyStoreName: 'payments',
  CustomKeyStoreType: 'AWS_CLOUDHSM',
  CloudHsmClusterId: 'cluster-234567abcde',
  ConnectionState: 'CONNECTED',
  CreationDate: 1_700_000_000.5,
};

const describeStores = (store: object) => kms('DescribeCustomKeyStores', 200, { CustomKeyStores: [store], Truncated: false });

describe('checkResponse against the botocore models the AWS CLI bundles', () => {
  it('passes a response that conforms', () => {
    expect(checkResponse(describeStores(STORE))).toEqual([]);
  });

  it.each([
    ['an unknown member', { ...STORE, Colour: 'blue' }, 'KMS.DescribeCustomKeyStores: CustomKeyStores[0].Colour: is not a member of the model'],
    ['a value outside the enum', { ...STORE, ConnectionState: 'UP' }, "CustomKeyStores[0].ConnectionState: 'UP' is not in the enum"],
    [
      'a string too long',
      { ...STORE, CustomKeyStoreName: 'n'.repeat(257) },
      'CustomKeyStores[0].CustomKeyStoreName: length 257 is above the maximum 256',
    ],
    ['a string too short', { ...STORE, CloudHsmClusterId: 'cluster-1' }, 'CustomKeyStores[0].CloudHsmClusterId: length 9 is below the minimum 19'],
    [
      'a timestamp in milliseconds',
      { ...STORE, CreationDate: 1_700_000_000_500 },
      'CustomKeyStores[0].CreationDate: 1700000000500 is epoch milliseconds',
    ],
    [
      'a timestamp as text',
      { ...STORE, CreationDate: '2026-01-01T00:00:00Z' },
      'CustomKeyStores[0].CreationDate: "2026-01-01T00:00:00Z" is not a timestamp',
    ],
    ['a string of the wrong type', { ...STORE, CustomKeyStoreName: 7 }, 'CustomKeyStores[0].CustomKeyStoreName: 7 is not a string'],
    [
      'a pattern mismatch',
      { ...STORE, XksProxyConfiguration: { VpcEndpointServiceName: 'org.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0' } },
      "CustomKeyStores[0].XksProxyConfiguration.VpcEndpointServiceName: 'org.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0' does not match the pattern",
    ],
  ])('names the member path and the rule for %s', (_case, store, divergence) => {
    expect(checkResponse(describeStores(store))).toEqual([expect.stringContaining(divergence)]);
  });

  it('accepts the model revisions the bundled KMS model predates: eu. service names and VpcEndpointServiceOwner', () => {
    const xks = { VpcEndpointServiceName: 'eu.amazonaws.vpce.eusc-de-east-1.vpce-svc-0123456789abcdef0', VpcEndpointServiceOwner: '111122223333' };
    expect(checkResponse(describeStores({ ...STORE, XksProxyConfiguration: xks }))).toEqual([]);
  });

  it('names a blob that is not base64 text', () => {
    expect(checkResponse(kms('GenerateRandom', 200, { Plaintext: 'not base64!' }))).toEqual([
      'KMS.GenerateRandom: Plaintext: "not base64!" is not base64 text',
    ]);
  });

  it('accepts an error the model lists for the operation at its status, and refuses it at another status', () => {
    expect(checkResponse(kms('ConnectCustomKeyStore', 400, { __type: 'CustomKeyStoreInvalidStateException', message: 'm' }))).toEqual([]);
    expect(checkResponse(kms('ConnectCustomKeyStore', 500, { __type: 'KMSInternalException', message: 'm' }))).toEqual([]);
    expect(checkResponse(kms('ConnectCustomKeyStore', 400, { __type: 'KMSInternalException', message: 'm' }))).toEqual([
      "KMS.ConnectCustomKeyStore: (body): KMSInternalException is answered with HTTP 400; the model's status for it is 500",
    ]);
  });

  it('refuses an error the model does not list for the operation, unless it is a common one at its status', () => {
    expect(checkResponse(kms('GenerateRandom', 400, { __type: 'CloudHsmClusterInvalidConfigurationException', message: 'm' }))).toEqual([
      'KMS.GenerateRandom: (body): CloudHsmClusterInvalidConfigurationException is neither an error the model lists for this operation nor a common error',
    ]);
    expect(checkResponse(kms('GenerateRandom', 400, { __type: 'ThrottlingException', message: 'm' }))).toEqual([]);
    expect(checkResponse(kms('GenerateRandom', 400, { __type: 'AccessDeniedException', message: 'm' }))).toEqual([]);
    expect(checkResponse(kms('GenerateRandom', 403, { __type: 'UnrecognizedClientException', message: 'm' }))).toEqual([
      'KMS.GenerateRandom: (body): common error UnrecognizedClientException is answered with HTTP 403; AWS answers it with 400',
    ]);
  });

  it('checks the members of an error body against its shape: Secrets Manager spells the message Message', () => {
    const error = (body: object): ObservedResponse => ({
      service: 'SecretsManager',
      operation: 'DescribeSecret',
      status: 400,
      contentType: JSON_1_1,
      body: Buffer.from(JSON.stringify(body)),
    });
    expect(checkResponse(error({ __type: 'ResourceNotFoundException', Message: 'm' }))).toEqual([]);
    expect(checkResponse(error({ __type: 'ResourceNotFoundException', message: 'm' }))).toEqual([
      'SecretsManager.DescribeSecret: message: is not a member of the model',
    ]);
  });

  it("refuses the wrong JSON version for the service's protocol", () => {
    const dynamo: ObservedResponse = {
      service: 'DynamoDB',
      operation: 'ListTables',
      status: 400,
      contentType: JSON_1_1,
      body: Buffer.from(JSON.stringify({ __type: 'ThrottlingException', message: 'm' })),
    };
    expect(checkResponse(dynamo)).toEqual([
      "DynamoDB.ListTables: Content-Type: is 'application/x-amz-json-1.1', the json protocol answers 'application/x-amz-json-1.0'",
    ]);
  });

  it('checks STS answers in XML: required and unknown members, lengths, timestamps, and the error code and status', () => {
    const identity = (account: string) =>
      sts(
        'GetCallerIdentity',
        200,
        `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::${account}:user/u</Arn><UserId>AIDA</UserId><Account>${account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
      );
    expect(checkResponse(identity('111122223333'))).toEqual([]);
    const expired = (status: number) =>
      sts(
        'GetCallerIdentity',
        status,
        `<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>`,
      );
    expect(checkResponse(expired(403))).toEqual([]);
    expect(checkResponse(expired(400))).toEqual([
      'STS.GetCallerIdentity: (body): common error ExpiredToken is answered with HTTP 400; AWS answers it with 403',
    ]);
    const credentials = sts(
      'AssumeRole',
      200,
      '<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA</AccessKeyId><SecretAccessKey>s</SecretAccessKey><Expiration>1700000000</Expiration></Credentials><Extra>x</Extra></AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>',
    );
    expect(checkResponse(credentials)).toEqual([
      'STS.AssumeRole: AssumeRoleResult.Credentials.AccessKeyId: length 4 is below the minimum 16',
      `STS.AssumeRole: AssumeRoleResult.Credentials.Expiration: "1700000000" is not an ISO 8601 timestamp (the model's iso8601 format for query)`,
      'STS.AssumeRole: AssumeRoleResult.Credentials.SessionToken: is required by the model and missing',
      'STS.AssumeRole: AssumeRoleResult.Extra: is not a member of the model',
    ]);
  });

  it.each(EMULATOR_DIVERGENCES)('knows the DynamoDB emulator divergence: $why', ({ rule }) => {
    // Answers as dynalite gives them: a new table, and a batch write with nothing left unprocessed.
    const answers = {
      CreateTable: {
        TableDescription: {
          TableName: 'cks-state',
          TableId: '2bd5209d-0ed8-4425-302d-58cfb5e7',
          TableThroughputModeSummary: {},
          ProvisionedThroughput: { NumberOfDecreasesToday: 0, ReadCapacityUnits: 0, WriteCapacityUnits: 0 },
        },
      },
      BatchWriteItem: { UnprocessedItems: {} },
    };
    const found = Object.entries(answers).flatMap(([operation, body]) =>
      checkResponse({
        service: 'DynamoDB',
        operation,
        status: 200,
        contentType: 'application/x-amz-json-1.0',
        body: Buffer.from(JSON.stringify(body)),
      }),
    );
    expect(found.filter((divergence) => rule.test(divergence))).toHaveLength(1);
    expect(found.filter((divergence) => !isEmulatorDivergence(divergence))).toEqual([]);
  });
});
