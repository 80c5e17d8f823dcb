/**
 * The CLI's pure parts: what a table prints, durations, "did you mean", the apply diff, a part-way
 * write, the checks a stores file gets once the deployment is known, and the stack naming rule.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { write } from '../../shared/cli/apply.js';
import { parseDuration } from '../../shared/cli/context.js';
import { diffStores, renderDiff, summarise } from '../../shared/cli/diff.js';
import { DEFAULT_SECRET_PREFIX, stackNames } from '../../shared/cli/stack.js';
import { parseStoresFile } from '../../shared/cli/stores-file.js';
import { printable, renderTable } from '../../shared/cli/table.js';
import { InMemoryState } from '../../shared/dev/state/in-memory-state.js';
import type { DesiredStoreSpec } from '../../shared/domain/desired-schema.js';
import { closest, count } from '../../shared/domain/words.js';

const SCOPE = { accountId: '111122223333', region: 'us-east-1' };
const ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:cks/payments-kmsuser-AbCdEf';

function spec(overrides: Partial<DesiredStoreSpec> = {}): DesiredStoreSpec {
  return {
    name: 'payments-hsm',
    type: 'AWS_CLOUDHSM',
    desiredState: 'DISCONNECTED',
    mode: 'observe',
    maxAttempts: 3,
    allowCreateHsm: false,
    onManualDisconnect: 'hold',
    loginBudget: 2,
    ...overrides,
  };
}

describe('tables and words', () => {
  it('escapes every control character of a cell, so that no value can drive the terminal', () => {
    // Act
    const table = renderTable(['NAME', 'REASON'], [['evil\u001b[2J', 'line\nbreak\u0007 and \u009b']]);

    // Assess
    expect(table).toBe('NAME           REASON\nevil\\u001b[2J  line\\nbreak\\u0007 and \\u009b');
    expect(printable('plain-name_1.2')).toBe('plain-name_1.2');
  });

  it('keeps fixed column widths when given, cutting a longer value with …', () => {
    expect(renderTable(['A', 'B', 'C'], [['abcdef', 'b', 'c']], [4, 3]).split('\n')).toEqual(['A     B    C', 'abc…  b    c']);
  });

  it('says 1 store and 2 stores', () => {
    expect([count(1, 'store'), count(2, 'store'), count(0, 'change')]).toEqual(['1 store', '2 stores', '0 changes']);
  });

  it('reads one duration syntax: seconds by default, or ms, s, m, h, d', () => {
    expect(['5', '5s', '500ms', '2m', '1.5h', '7d'].map((text) => parseDuration(text, '--x'))).toEqual([
      5_000, 5_000, 500, 120_000, 5_400_000, 604_800_000,
    ]);
    expect(() => parseDuration('0', '--interval')).toThrow('--interval must be a duration such as 5 (seconds), 500ms, 5s, 2m, 1h or 7d, got "0"');
  });

  it('suggests a near miss, in any case, and nothing for a word that is not close', () => {
    expect(closest('stauts', ['status', 'sweep'])).toBe('status');
    expect(closest('desiredstate', ['desiredState'])).toBe('desiredState');
    expect(closest('maxAtempts', ['maxAttempts', 'mode'])).toBe('maxAttempts');
    expect(closest('bogus', ['status', 'help'])).toBeUndefined();
    expect(closest('ab', ['abc'])).toBeUndefined();
  });
});

describe('the apply diff', () => {
  it('shows added, changed (old → new, a default named as such), removed and kept stores', () => {
    // Prepare
    const current = new Map<string, Record<string, unknown>>([
      ['payments-hsm', { ...spec({ mode: 'enforce' }), generation: 4, paused: false, changedBy: 'arn:aws:iam::111122223333:user/a' }],
      ['same', { ...spec({ name: 'same' }), generation: 1 }],
      ['old', { ...spec({ name: 'old' }), generation: 1 }],
    ]);

    // Act
    const changes = diffStores(current, [
      spec({ maxAttempts: 5 }),
      spec({ name: 'same' }),
      spec({ name: 'new', desiredState: 'CONNECTED', cloudHsmClusterId: 'cluster-2a23b4cdefg' }),
    ]);

    // Assess
    expect(changes.map((c) => `${c.kind} ${c.name}`)).toEqual(['changed payments-hsm', 'unchanged same', 'added new', 'removed old']);
    expect(renderDiff(changes, { file: 'stores.yaml', prune: false })).toEqual([
      '~ payments-hsm',
      '    mode: enforce → observe (default)',
      '    maxAttempts: 3 → 5',
      '+ new (new)',
      '    type: AWS_CLOUDHSM (default)',
      '    desiredState: CONNECTED',
      '    mode: observe (default)',
      '    maxAttempts: 3 (default)',
      '    allowCreateHsm: false (default)',
      '    onManualDisconnect: hold (default)',
      '    loginBudget: 2 (default)',
      '    cloudHsmClusterId: cluster-2a23b4cdefg',
      '  old is not in stores.yaml: kept (`--prune` removes it, or `cks delete old`)',
    ]);
    expect(renderDiff(changes, { file: 'stores.yaml', prune: true }).at(-1)).toBe(
      '- old (not in stores.yaml: removed from the desired state; its history is kept)',
    );
    expect(summarise(changes, false)).toBe('1 added, 1 changed, 1 unchanged; 1 store not in the file kept');
    expect(summarise(changes, true)).toBe('1 added, 1 changed, 1 removed, 1 unchanged');
  });

  it('names nested fields with dots, and a field the file no longer sets as (none)', () => {
    // Prepare
    const xks = {
      uriEndpoint: 'https://xks.example.com',
      uriPath: '/kms/xks/v1',
      connectivity: 'PUBLIC_ENDPOINT' as const,
      credentialSecretArn: ARN,
    };
    const current = new Map([
      ['x', { ...spec({ name: 'x', type: 'EXTERNAL_KEY_STORE', id: 'cks-1234567890abcdef0', xksProxy: xks }) } as Record<string, unknown>],
    ]);

    // Act
    const [change] = diffStores(current, [spec({ name: 'x', type: 'EXTERNAL_KEY_STORE', xksProxy: { ...xks, uriPath: '/t/kms/xks/v1' } })]);

    // Assess
    expect(renderDiff([change!], { file: 'f', prune: false })).toEqual([
      '~ x',
      '    xksProxy.uriPath: /kms/xks/v1 → /t/kms/xks/v1',
      '    id: cks-1234567890abcdef0 → (none)',
    ]);
  });
});

describe('write (cks apply)', () => {
  it('says which stores were written and which were not when a write fails part-way', async () => {
    // Prepare: the third write is refused.
    const state = new InMemoryState();
    await state.putDesired([spec({ name: 'gone' })], 0);
    state.faults.fail('putDesired', 'ThrottlingException', { after: 2, message: 'Rate exceeded' });

    // Act
    const other = new InMemoryState({ accountId: '444455556666', region: 'eu-west-1' });
    const written = write(
      'stores.yaml',
      [
        { state: other, where: ' (444455556666/eu-west-1)', specs: [spec({ name: 'a' })], removed: [] },
        { state, where: '', specs: ['a', 'b', 'c', 'd'].map((name) => spec({ name })), removed: ['gone'] },
      ],
      { now: 1, changedBy: 'arn:aws:iam::111122223333:user/a' },
    );

    // Assess
    await expect(written).rejects.toThrow(
      'stores.yaml was applied only in part: store "c" failed: DynamoDB.PutItem failed: ThrottlingException: Rate exceeded. ' +
        'Done (3 stores): "a" (444455556666/eu-west-1) written, "a" written, "b" written. Not done (3 stores): "c" not written, "d" not written, "gone" not removed. Apply the file again to finish.',
    );
    expect([...state.desired.keys()].sort()).toEqual(['a', 'b', 'gone']);
    expect([...other.desired.keys()]).toEqual(['a']);
  });
});

describe('the stores file, checked against the deployment', () => {
  const rules = { scope: SCOPE, secretPrefix: 'cks/', kmsStores: null };

  it('rejects two entries with one store id, naming both lines', () => {
    // Act
    const result = parseStoresFile(
      'stores:\n  - name: a\n    id: cks-1234567890abcdef0\n    desiredState: DISCONNECTED\n  - name: b\n    id: cks-1234567890abcdef0\n    desiredState: DISCONNECTED\n',
      'stores.yaml',
      rules,
    );

    // Assess
    expect(result).toEqual({
      ok: false,
      errors: ['stores.yaml:5: store "b" and store "a" (stores.yaml:2) are one KMS store (cks-1234567890abcdef0): one store, one entry'],
    });
  });

  it('takes one name or id in two accounts or Regions for two stores', () => {
    // Act
    const result = parseStoresFile(
      'stores:\n  - name: a\n    id: cks-1234567890abcdef0\n    desiredState: DISCONNECTED\n' +
        '  - name: a\n    id: cks-1234567890abcdef0\n    accountId: "444455556666"\n    desiredState: DISCONNECTED\n' +
        '  - name: a\n    region: eu-west-1\n    desiredState: DISCONNECTED\n',
      'stores.yaml',
      {
        ...rules,
        kmsStores: [{ id: 'cks-1234567890abcdef0', name: 'a', type: 'AWS_CLOUDHSM', connectionState: 'CONNECTED', connectionErrorCode: null }],
      },
    );

    // Assess
    expect(result.ok).toBe(true);
  });

  it('accepts secrets of the account and Region under the prefix, and checks nothing of them without rules', () => {
    // Prepare
    const file = `stores:\n  - name: a\n    desiredState: DISCONNECTED\n    keyStorePasswordSecretArn: ${ARN.replace('cks/', 'other/')}\n`;

    // Act
    const checked = parseStoresFile(file.replace('other/', 'cks/'), 'stores.yaml', rules);
    const elsewhere = parseStoresFile(file, 'stores.yaml', { ...rules, scope: { ...SCOPE, region: 'eu-west-1' } });
    const unchecked = parseStoresFile(file, 'stores.yaml');

    // Assess
    expect(checked.ok).toBe(true);
    expect(elsewhere).toEqual({
      ok: false,
      errors: [
        'stores.yaml:4: store "a" field keyStorePasswordSecretArn: must be a secret of this deployment\'s account and Region (111122223333, eu-west-1), not of 111122223333 in us-east-1',
      ],
    });
    expect(unchecked.ok).toBe(true);
  });
});

describe('the deployed stack', () => {
  it('derives the table and the bus as serverless.yml names them, and its secret prefix default', () => {
    // Prepare
    const yml = readFileSync(new URL('../../serverless.yml', import.meta.url), 'utf8');
    const stage = (template: string): string => template.replace('${self:service}', 'cks-reconciler').replace('${sls:stage}', 'prod');

    // Act
    const names = stackNames('prod');

    // Assess
    expect(yml).toMatch(/^service: cks-reconciler$/m);
    expect(names.table).toBe(stage(/^ {4}CKS_TABLE: (\S+)$/m.exec(yml)![1]!));
    expect(names.eventBus).toBe(stage(/^ {4}CKS_EVENT_BUS: (\S+)$/m.exec(yml)![1]!));
    expect(yml).toContain(`secretPrefix: \${param:secretPrefix, '${DEFAULT_SECRET_PREFIX}'}`);
  });
});
