/**
 * Runs `cks` in-process through its entry point `run(argv, io)`, with an environment of its own (the
 * CLI reads nothing else: its AWS clients take their credentials from that environment too).
 *
 * ```ts
 * const cks = cksAgainst(fake, { CKS_TABLE: 'cks-e2e' });
 * const { code, stdout } = await cks(['status', '-o', 'json']);
 * ```
 */
import { afterEach, beforeEach, expect } from 'vitest';
import { run } from '../../shared/cli/main.js';
import type { PrincipalKeys } from '../../shared/dev/iam/stack.js';
import type { TestFake } from './fake.js';
import { deployStack, operatorPrincipal, roleCredentials } from './stack.js';

export interface CksRun {
  code: number;
  stdout: string;
  stderr: string;
}

export type Cks = (args: string[], env?: Record<string, string | undefined>) => Promise<CksRun>;

/** `cks` against the local fake, keeping its clock (`CKS_FAKE_CLOCK=1`); `env` of a call adds to or overrides `base`. */
export function cksAgainst(fake: TestFake, base: Record<string, string>): Cks {
  return async (args, env = {}) => {
    let stdout = '';
    let stderr = '';
    const code = await run(args, {
      stdout: (text) => {
        stdout += text;
      },
      stderr: (text) => {
        stderr += text;
      },
      env: {
        AWS_ENDPOINT_URL: fake.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'operator-a',
        AWS_SECRET_ACCESS_KEY: 'test',
        CKS_FAKE_CLOCK: '1',
        ...base,
        ...env,
      },
    });
    return { code, stdout, stderr };
  };
}

/**
 * `cks` as deployed, for a file whose fake is reset before each test (`fakeForFile`): before each
 * test the stack's IAM is deployed into the fake (see `stack.ts`), and each command runs as whoever
 * runs it against a real account: `init` (it creates the table) as an administrator, `sweep` with
 * the reconciler's own permissions (as SweepRole), every other command as an operator holding the
 * OperatorPolicy. `as` on a call names the operator (each name its own IAM user with that policy),
 * for tests of two people; `keys` gives an operator's keys, for the product's code called in-process;
 * `credentials` the `AWS_*` variables of whoever runs `args`, for `cks` run as a child process. Call it after `fakeForFile`, before the file's own `beforeEach`. A test
 * fails when IAM refused any call during it.
 */
export function cksAsDeployed(
  fake: TestFake,
  base: Record<string, string>,
): Cks & {
  as(operator: string): Cks;
  keys(operator?: string): Promise<PrincipalKeys>;
  credentials(args: string[]): Promise<Record<string, string>>;
} {
  const cks = cksAgainst(fake, base);
  const table = base.CKS_TABLE ?? '';
  const operators = new Map<string, PrincipalKeys>();
  beforeEach(async () => {
    operators.clear();
    await deployStack(fake, { table, eventBus: base.CKS_EVENT_BUS ?? 'default' });
  });
  afterEach(async () => {
    const { calls } = (
      await fake.admin<{ calls: Array<{ denied?: true; principal: string; service: string; operation: string }> }>('GET', '/_fake/calls')
    ).body;
    const refused = calls.filter((call) => call.denied).map((call) => `${call.principal} ${call.service}.${call.operation}`);
    expect(refused, 'calls the stack’s policies refused').toEqual([]);
  });
  const operatorKeys = async (name: string): Promise<PrincipalKeys> => {
    let keys = operators.get(name);
    if (!keys) {
      keys = await operatorPrincipal(fake, { table, eventBus: base.CKS_EVENT_BUS ?? 'default' }, name);
      operators.set(name, keys);
    }
    return keys;
  };
  const as =
    (operator: string): Cks =>
    async (args, env = {}) =>
      cks(args, { ...(await principalEnv(args, () => operatorKeys(operator))), ...env });
  return Object.assign(as(OPERATOR), {
    as,
    keys: (operator = OPERATOR) => operatorKeys(operator),
    credentials: (args: string[]) => principalEnv(args, () => operatorKeys(OPERATOR)),
  });
}

/** The operator `cksAsDeployed` runs as unless told. */
const OPERATOR = 'operator-a';

/** The credentials of whoever runs the command `args` names. */
async function principalEnv(args: string[], operator: () => Promise<PrincipalKeys>): Promise<Record<string, string>> {
  const command = args.find((arg) => arg === 'init' || arg === 'sweep');
  // Creating the table is an administrator's act (the OperatorPolicy has no CreateTable).
  if (command === 'init') return { AWS_ACCESS_KEY_ID: 'administrator', AWS_SECRET_ACCESS_KEY: 'test', AWS_SESSION_TOKEN: '' };
  if (command === 'sweep') {
    const role = roleCredentials('SweepRole');
    return { AWS_ACCESS_KEY_ID: role.accessKeyId, AWS_SECRET_ACCESS_KEY: role.secretAccessKey, AWS_SESSION_TOKEN: role.sessionToken };
  }
  const keys = await operator();
  return { AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey, AWS_SESSION_TOKEN: '' };
}
