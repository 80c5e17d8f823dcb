import { describe, expect, it } from 'vitest';
import { parseStoresFile } from '../../shared/cli/stores-file.js';

// The example stores file of the design, with one change: its cluster id `cluster-1a23b4cdefg` contains a `1`,
// which the CloudHSM id pattern cluster-[2-7a-zA-Z]{11,16} does not allow.
const DESIGN_EXAMPLE = `stores:
  - name: payments-hsm
    desiredState: CONNECTED
    cloudHsmClusterId: cluster-2a23b4cdefg
    keyStorePasswordSecretArn: arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser
    mode: enforce
  - name: partner-xks
    type: EXTERNAL_KEY_STORE
    desiredState: CONNECTED
    xksProxy:
      uriEndpoint: https://xks.example.com
      uriPath: /kms/xks/v1
      connectivity: PUBLIC_ENDPOINT
      credentialSecretArn: arn:aws:secretsmanager:us-east-1:111122223333:secret:partner-xks
    mode: plan
`;

const HSM = `    cloudHsmClusterId: cluster-2a23b4cdefg
    keyStorePasswordSecretArn: arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser`;

describe('parseStoresFile', () => {
  it('reads the design example into specs with defaults filled in', () => {
    // Act
    const result = parseStoresFile(DESIGN_EXAMPLE, 'stores.yaml');

    // Assess
    expect(result).toEqual({
      ok: true,
      specs: [
        {
          name: 'payments-hsm',
          type: 'AWS_CLOUDHSM',
          desiredState: 'CONNECTED',
          cloudHsmClusterId: 'cluster-2a23b4cdefg',
          keyStorePasswordSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:payments-kmsuser',
          mode: 'enforce',
          maxAttempts: 3,
          allowCreateHsm: false,
          onManualDisconnect: 'hold',
          loginBudget: 2,
        },
        {
          name: 'partner-xks',
          type: 'EXTERNAL_KEY_STORE',
          desiredState: 'CONNECTED',
          xksProxy: {
            uriEndpoint: 'https://xks.example.com',
            uriPath: '/kms/xks/v1',
            connectivity: 'PUBLIC_ENDPOINT',
            credentialSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:partner-xks',
          },
          mode: 'plan',
          maxAttempts: 3,
          allowCreateHsm: false,
          onManualDisconnect: 'hold',
          loginBudget: 2,
        },
      ],
    });
  });

  it.each([
    {
      problem: 'a missing desiredState (points at the store)',
      file: `stores:\n  - name: payments-hsm\n${HSM}\n`,
      errors: ['stores.yaml:2: store "payments-hsm" field desiredState: is required'],
    },
    {
      problem: 'a cluster id that does not match the CloudHSM pattern',
      file: `stores:\n  - name: payments-hsm\n    desiredState: CONNECTED\n    cloudHsmClusterId: cluster-1a23b4cdefg\n`,
      errors: ['stores.yaml:4: store "payments-hsm" field cloudHsmClusterId: must match cluster-[2-7a-zA-Z]{11,16}'],
    },
    {
      problem: 'a misspelt field, with a hint',
      file: `stores:\n  - name: payments-hsm\n    desiredstate: CONNECTED\n${HSM}\n`,
      errors: [
        'stores.yaml:2: store "payments-hsm" field desiredState: is required',
        'stores.yaml:3: store "payments-hsm" field desiredstate: unknown field (did you mean desiredState?)',
      ],
    },
    {
      problem: 'an external key store without xksProxy, in a store without a name',
      file: `stores:\n  - name: ok\n    desiredState: DISCONNECTED\n  - type: EXTERNAL_KEY_STORE\n    desiredState: CONNECTED\n`,
      errors: [
        'stores.yaml:4: store #2 field name: is required',
        'stores.yaml:4: store #2 field xksProxy: is required when type is EXTERNAL_KEY_STORE',
      ],
    },
    {
      problem: 'a nested field of xksProxy',
      file: `stores:\n  - name: partner-xks\n    type: EXTERNAL_KEY_STORE\n    desiredState: CONNECTED\n    xksProxy:\n      uriEndpoint: https://xks.example.com\n      uriPath: /xks\n      connectivity: PUBLIC_ENDPOINT\n      credentialSecretArn: arn:aws:secretsmanager:us-east-1:111122223333:secret:partner-xks\n`,
      errors: [
        'stores.yaml:7: store "partner-xks" field xksProxy.uriPath: must be 10-128 characters',
        'stores.yaml:7: store "partner-xks" field xksProxy.uriPath: must be /kms/xks/v<1-2 digits> or /<prefix>/kms/xks/v<1-2 digits>',
      ],
    },
    {
      problem: 'a name declared twice',
      file: `stores:\n  - name: a\n    desiredState: DISCONNECTED\n  - name: a\n    desiredState: DISCONNECTED\n`,
      errors: ['stores.yaml:4: store "a": duplicate name (first declared on line 2)'],
    },
    {
      problem: '"stores" that is not a list',
      file: `stores:\n  name: a\n  desiredState: CONNECTED\n`,
      errors: ['stores.yaml:2: "stores" must be a list (each store starts with "- ")'],
    },
    {
      problem: 'an empty list',
      file: `stores: []\n`,
      errors: ['stores.yaml:1: "stores" is empty: declare at least one store'],
    },
    {
      problem: 'a misspelt top-level key',
      file: `store:\n  - name: a\n    desiredState: DISCONNECTED\n`,
      errors: ['stores.yaml:1: unknown top-level field "store" (expected only "stores")', 'stores.yaml:1: missing "stores:": the list of stores'],
    },
    {
      problem: 'a YAML syntax error, with line and column',
      file: `stores:\n  - name: a\n    desiredState: CONNECTED: yes\n`,
      errors: ['stores.yaml:3:19: YAML syntax error: Nested mappings are not allowed in compact mappings'],
    },
    {
      problem: 'an empty file',
      file: `# nothing declared yet\n`,
      errors: ['stores.yaml:1: the file is empty: expected a "stores:" list'],
    },
  ])('rejects $problem', ({ file, errors }) => {
    // Act
    const result = parseStoresFile(file, 'stores.yaml');

    // Assess
    expect(result).toEqual({ ok: false, errors });
  });

  it('reports every error of every store in file order', () => {
    // Prepare
    const file = `stores:\n  - name: b\n    desiredState: SOMETIMES\n  - name: a\n    desiredState: CONNECTED\n    cloudHsmClusterId: nope\n`;

    // Act
    const result = parseStoresFile(file, 'dir/stores.yaml');

    // Assess
    expect(result).toEqual({
      ok: false,
      errors: [
        'dir/stores.yaml:3: store "b" field desiredState: must be one of CONNECTED | DISCONNECTED',
        'dir/stores.yaml:6: store "a" field cloudHsmClusterId: must match cluster-[2-7a-zA-Z]{11,16}',
      ],
    });
  });
});
