/**
 * `cks apply` as an operator runs it, against the local fake (in-process through `run(argv, io)`):
 * the diff first, `--dry-run`, `--prune`, `cks delete`, and the checks that reject a file before
 * anything is written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type Cks, cksAsDeployed } from '../helpers/cks.js';
import { fakeForFile } from '../helpers/fake.js';
import { cloudHsmEntry, cloudHsmStore, storesFiles, storesYaml } from '../helpers/world.js';

const TABLE = 'cks-e2e-apply';

const fake = await fakeForFile();
const dir = mkdtempSync(join(tmpdir(), 'cks-apply-'));
// `init` as an administrator, `sweep` as SweepRole, the rest as an operator holding the OperatorPolicy.
const cks: Cks = cksAsDeployed(fake, { CKS_TABLE: TABLE });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(async () => {
  expect((await cks(['init'])).code).toBe(0);
});

const storesFile = storesFiles(dir);

async function desiredItem(name: string): Promise<Record<string, { S?: string; N?: string }> | undefined> {
  const { Item } = await new DynamoDBClient(fake.config).send(
    new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'DESIRED#000000000000#us-east-1' }, sk: { S: `STORE#${name}#DESIRED` } } }),
  );
  return Item as Record<string, { S?: string; N?: string }> | undefined;
}

async function sortKeys(): Promise<string[]> {
  const { Items = [] } = await new DynamoDBClient(fake.config).send(new ScanCommand({ TableName: TABLE }));
  return Items.map((item) => String(item.sk?.S)).sort();
}

async function writes(): Promise<number> {
  const { counts } = (await fake.admin<{ counts: Record<string, number> }>('GET', '/_fake/calls')).body;
  return ['PutItem', 'UpdateItem', 'DeleteItem'].reduce((sum, op) => sum + (counts[`DynamoDB.${op}`] ?? 0), 0);
}

describe('cks apply', { timeout: 60_000 }, () => {
  it('shows the diff of each store before writing, and records who wrote each generation', async () => {
    // Prepare
    const store = await cloudHsmStore(fake, { name: 'payments-hsm', secret: true });
    const first = storesFile(storesYaml(cloudHsmEntry(store), { name: 'spare', desiredState: 'DISCONNECTED' }));

    // Act
    const added = await cks(['apply', '-f', first]);
    const second = storesFile(storesYaml(cloudHsmEntry(store, { maxAttempts: 5 }), { name: 'spare', desiredState: 'DISCONNECTED' }));
    const changed = await cks(['apply', '-f', second]);

    // Assess
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('+ payments-hsm (new)\n');
    expect(added.stdout).toContain('    mode: enforce\n');
    expect(added.stdout).toContain('+ spare (new)\n');
    expect(added.stdout).toContain('    mode: observe (default)\n');
    expect(added.stdout).toMatch(/applied .*stores\.yaml: 2 added, 0 changed, 0 unchanged\n$/);
    expect(changed.stdout.split('\n')).toEqual([
      '~ payments-hsm',
      '    maxAttempts: 3 → 5',
      `applied ${second}: 0 added, 1 changed, 1 unchanged`,
      '',
    ]);
    const item = await desiredItem('payments-hsm');
    expect(item?.generation).toEqual({ N: '2' });
    expect(item?.changedBy?.S).toMatch(/^arn:aws:(iam|sts)::000000000000:/);
  });

  it('--dry-run names the field a re-apply would change (an omitted mode falls back to observe) and writes nothing', async () => {
    // Prepare
    const store = await cloudHsmStore(fake, { name: 'payments-hsm', secret: true });
    expect((await cks(['apply', '-f', storesFile(storesYaml(cloudHsmEntry(store)))])).code).toBe(0);
    const before = { item: await desiredItem('payments-hsm'), writes: await writes() };

    // Act: the same store, without its mode line.
    const run = await cks(['apply', '-f', storesFile(storesYaml(cloudHsmEntry(store, { mode: undefined })), 'no-mode.yaml'), '--dry-run']);

    // Assess
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('~ payments-hsm\n    mode: enforce → observe (default)\n');
    expect(run.stdout).toMatch(/dry run of .*no-mode\.yaml: 0 added, 1 changed, 0 unchanged; nothing was written\n$/);
    expect(await writes()).toBe(before.writes);
    expect(await desiredItem('payments-hsm')).toEqual(before.item);
  });

  it('--prune removes the stores the file no longer names: gone from status and from later sweeps, history kept', async () => {
    // Prepare: two declared stores the reconciler has seen.
    const both = storesFile('stores:\n  - name: keep-hsm\n    desiredState: DISCONNECTED\n  - name: old-hsm\n    desiredState: DISCONNECTED\n');
    expect((await cks(['apply', '-f', both])).code).toBe(0);
    expect((await cks(['sweep'])).code).toBe(0);
    const one = storesFile('stores:\n  - name: keep-hsm\n    desiredState: DISCONNECTED\n', 'one.yaml');

    // Act
    const kept = await cks(['apply', '-f', one]);
    const pruned = await cks(['apply', '-f', one, '--prune']);
    const status = await cks(['status', '-o', 'json']);
    const sweep = await cks(['sweep']);
    const nextSweep = await cks(['sweep']);
    const gone = await cks(['status', 'old-hsm']);

    // Assess
    expect(kept.stdout).toContain(`  old-hsm is not in ${one}: kept (\`--prune\` removes it, or \`cks delete old-hsm\`)\n`);
    expect(kept.stdout).toMatch(/0 added, 0 changed, 1 unchanged; 1 store not in the file kept\n$/);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toContain(`- old-hsm (not in ${one}: removed from the desired state; its history is kept)\n`);
    expect(pruned.stdout).toMatch(/0 added, 0 changed, 1 removed, 1 unchanged\n$/);
    expect((JSON.parse(status.stdout) as Array<{ name: string }>).map((row) => row.name)).toEqual(['keep-hsm']);
    for (const run of [sweep, nextSweep]) {
      expect(run.stdout).toContain('keep-hsm');
      expect(run.stdout).not.toContain('old-hsm');
    }
    // Its status is closed by the first sweep after the removal; its history stays readable.
    expect(await sortKeys()).not.toContain('STORE#old-hsm#STATUS');
    expect(gone.code).toBe(0);
    expect(gone.stdout).toMatch(/^old-hsm is not declared \(removed from the desired state, or never applied\); its newest history:/);
    expect(gone.stdout).toMatch(/removed from the desired state: its status \(phase IDLE\) is closed and it is no longer reconciled/);
  });

  it('cks delete removes one store; deleting it again is one clear line and exit 1', async () => {
    // Prepare
    expect((await cks(['apply', '-f', storesFile('stores:\n  - name: a\n    desiredState: DISCONNECTED\n')])).code).toBe(0);

    // Act
    const deleted = await cks(['delete', 'a']);
    const again = await cks(['delete', 'a']);
    const status = await cks(['status']);
    const sweep = await cks(['sweep']);

    // Assess
    expect(deleted).toMatchObject({ code: 0, stdout: expect.stringMatching(/^a: removed from the desired state: no longer reported or reconciled/) });
    expect(again).toEqual({ code: 1, stdout: '', stderr: 'cks: no desired store named "a" in 000000000000/us-east-1\n' });
    expect(status.stdout).toBe('no stores declared: write a stores file and run `cks apply -f stores.yaml`\n');
    expect(sweep.stdout).toMatch(/^no stores declared/);
  });

  it('rejects two entries that name one KMS store, one by its name and one by its id, naming both lines', async () => {
    // Prepare
    const store = await cloudHsmStore(fake, { name: 'payments-hsm', secret: true });
    const file = storesFile(
      storesYaml(cloudHsmEntry(store, { mode: undefined }), { name: 'payments-renamed', id: store.storeId, desiredState: 'DISCONNECTED' }),
    );

    // Act
    const run = await cks(['apply', '-f', file]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')).toEqual([
      `${file}:6: store "payments-renamed" and store "payments-hsm" (${file}:2) are one KMS store (${store.storeId}): one store, one entry`,
      `cks: ${file} rejected (1 error); nothing was written`,
      '',
    ]);
    expect(await sortKeys()).toEqual([]);
  });

  it('rejects a secret outside the deployment: another account, or a name outside its secret prefix, naming the prefix', async () => {
    // Prepare
    const store = await cloudHsmStore(fake, { name: 'payments-hsm', secret: true });
    const foreign = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:cks/payments-kmsuser-AbCdEf';
    const unprefixed = store.secretArn.replace(':secret:cks/', ':secret:team/');
    const file = storesFile(
      storesYaml(
        cloudHsmEntry({ ...store, name: 'a', secretArn: foreign }, { mode: undefined }),
        cloudHsmEntry({ ...store, name: 'b', secretArn: unprefixed }, { mode: undefined }),
      ),
    );

    // Act
    const run = await cks(['apply', '-f', file], { CKS_SECRET_PREFIX: 'cks/' });

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `${file}:5: store "a" field keyStorePasswordSecretArn: must be a secret of this deployment's account and Region (000000000000, us-east-1), not of 111122223333 in us-east-1\n`,
    );
    expect(run.stderr).toContain(
      `${file}:9: store "b" field keyStorePasswordSecretArn: must name a secret under the deployment's secret prefix "cks/" (CKS_SECRET_PREFIX; the reconciler may read no other secret)\n`,
    );
    expect(run.stderr).toMatch(/rejected \(2 errors\); nothing was written\n$/);
    expect(await sortKeys()).toEqual([]);
  });

  it('refuses a store whose password secret does not exist, in one line naming the store, the field and the ARN, and writes nothing', async () => {
    // Prepare: a well-formed ARN under the deployment's prefix that names no secret.
    const store = await cloudHsmStore(fake, { name: 'payments-hsm', secret: true });
    const missing = store.secretArn.replace('payments-hsm-kmsuser', 'payments-hsm-kmsusr');
    const file = storesFile(storesYaml(cloudHsmEntry({ ...store, secretArn: missing })));

    // Act
    const run = await cks(['apply', '-f', file]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')).toEqual([
      `${file}: store "payments-hsm": keyStorePasswordSecretArn ${missing} names no secret: Secrets Manager has no such secret (or it holds no current version)`,
      `cks: ${file} rejected (1 error); nothing was written`,
      '',
    ]);
    expect(await sortKeys()).toEqual([]);
  });

  it('applies with a warning line when the secret cannot be looked up (AccessDenied is not "missing")', async () => {
    // Prepare
    const store = await cloudHsmStore(fake, { name: 'payments-hsm', secret: true });
    await fake.admin('POST', '/_fake/faults', { operation: 'DescribeSecret', error: 'AccessDeniedException', count: 1 });

    // Act
    const run = await cks(['apply', '-f', storesFile(storesYaml(cloudHsmEntry(store)))]);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(
      `cks: warning: ${dir}/stores.yaml: store "payments-hsm": keyStorePasswordSecretArn ${store.secretArn} could not be checked (SecretsManager.DescribeSecret failed: AccessDeniedException); applied without knowing whether the secret exists\n`,
    );
    expect(await desiredItem('payments-hsm')).toBeDefined();
  });

  it('rejects a 500 KB ARN at validation, before anything is written (it used to fail at write time, after earlier stores)', async () => {
    // Prepare: a valid store first, then one whose secret ARN is half a megabyte.
    const huge = `arn:aws:secretsmanager:us-east-1:000000000000:secret:cks/${'x'.repeat(500 * 1024)}`;
    const file = storesFile(
      `stores:\n  - name: first\n    desiredState: DISCONNECTED\n  - name: second\n    desiredState: DISCONNECTED\n    keyStorePasswordSecretArn: ${huge}\n`,
    );

    // Act
    const run = await cks(['apply', '-f', file]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')).toEqual([
      `${file}:6: store "second" field keyStorePasswordSecretArn: must be at most 2048 characters`,
      `cks: ${file} rejected (1 error); nothing was written`,
      '',
    ]);
    expect(await sortKeys()).toEqual([]);
  });

  it('rejects a store name holding a control character, and prints it escaped', async () => {
    // Act
    const run = await cks(['apply', '-f', storesFile('stores:\n  - name: "evil\\u001b[2Jhsm"\n    desiredState: DISCONNECTED\n')]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('store "evil\\u001b[2Jhsm" field name: must not contain control characters');
    expect(run.stderr).not.toContain('\u001b');
  });

  it('a write that fails part-way says which stores were written and which were not', async () => {
    // Prepare: the table refuses the first desired item's write, after the proposer's two signatures.
    await fake.admin('POST', '/_fake/faults', { operation: 'PutItem', error: 'AccessDeniedException', count: 1, after: 2 });

    // Act
    const run = await cks([
      'apply',
      '-f',
      storesFile('stores:\n  - name: a\n    desiredState: DISCONNECTED\n  - name: b\n    desiredState: DISCONNECTED\n'),
    ]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^cks: \S+ was applied only in part: store "a" failed: DynamoDB\.PutItem failed: AccessDeniedException: .*\. Done \(0 stores\): none\. Not done \(2 stores\): "a" not written, "b" not written\. Apply the file again to finish\.\n$/,
    );
  });
});
