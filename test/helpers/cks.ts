/**
 * Runs `cks` in-process through its entry point `run(argv, io)`, with an environment of its own (the
 * CLI reads nothing else: its AWS clients take their credentials from that environment too).
 *
 * ```ts
 * const cks = cksAgainst(fake, { CKS_TABLE: 'cks-e2e' });
 * const { code, stdout } = await cks(['status', '-o', 'json']);
 * ```
 */
import { run } from '../../shared/cli/main.js';
import type { TestFake } from './fake.js';

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
