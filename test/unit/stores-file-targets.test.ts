import { describe, expect, it } from 'vitest';
import { parseStoresFile } from '../../shared/cli/stores-file.js';

const store = (name: string, target: string) =>
  `  - name: ${name}\n${target}    desiredState: CONNECTED\n    cloudHsmClusterId: cluster-2a23b4cdefg\n    mode: enforce\n`;

describe('stores-file targets', () => {
  it('reads the account and Region a store names, and lets two scopes have a store of the same name', () => {
    const result = parseStoresFile(
      `stores:\n${store('payments', '')}${store('payments', "    accountId: '444455556666'\n    region: eu-west-1\n")}`,
      'stores.yaml',
    );
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.specs.map((s) => [s.name, s.accountId, s.region])).toEqual([
        ['payments', undefined, undefined],
        ['payments', '444455556666', 'eu-west-1'],
      ]);
    }
  });

  it('rejects an account id that is not 12 digits in quotes and a malformed Region, with their lines', () => {
    const result = parseStoresFile(`stores:\n${store('payments', '    accountId: 444455556666\n    region: Ireland\n')}`, 'stores.yaml');
    expect(result).toEqual({
      ok: false,
      errors: [
        'stores.yaml:3: store "payments" field accountId: must be a 12-digit AWS account id in quotes',
        'stores.yaml:4: store "payments" field region: must be an AWS Region name such as eu-west-1',
      ],
    });
  });

  it('still rejects the same name twice in one scope', () => {
    const target = "    accountId: '444455556666'\n    region: eu-west-1\n";
    const result = parseStoresFile(`stores:\n${store('payments', target)}${store('payments', target)}`, 'stores.yaml');
    expect(result).toEqual({ ok: false, errors: ['stores.yaml:8: store "payments": duplicate name (first declared on line 2)'] });
  });
});
