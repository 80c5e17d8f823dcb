/**
 * The StackSet commands of cloudformation/stackset-commands.sh, which the docs include verbatim, as
 * pasted: each `aws` command passes the AWS CLI's own parameter validation and fails only when it
 * tries to connect, to an endpoint that does not answer. The parameters file they read gives every
 * parameter of member-role.yml that has no default.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// The real AWS CLI v2 (Debian's 2.9.19). The `aws` on PATH may be a v1: always call /usr/bin/aws.
const AWS = '/usr/bin/aws';
const CLOUDFORMATION = new URL('../../cloudformation', import.meta.url).pathname;
const SILENT_ENDPOINT = 'http://127.0.0.1:1';

/** The snippet's commands: comments dropped, continued lines joined. */
const commands = readFileSync(join(CLOUDFORMATION, 'stackset-commands.sh'), 'utf8')
  .replace(/\\\n\s*/g, '')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.startsWith('#'));

/** A directory laid out as the repository's root (`cloudformation/`), where the snippet is run. */
const root = mkdtempSync(join(tmpdir(), 'cks-stackset-'));
symlinkSync(CLOUDFORMATION, join(root, 'cloudformation'), 'dir');
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs a command of the snippet with bash in `root`, the AWS CLI pointed at an endpoint that does not answer. */
function run(command: string): { status: number | null; output: string } {
  const env = {
    PATH: process.env.PATH,
    HOME: root,
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    AWS_REGION: 'us-east-1',
    AWS_MAX_ATTEMPTS: '1',
    AWS_CONFIG_FILE: join(root, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(root, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const line = command.startsWith('aws ') ? `${AWS} ${command.slice('aws '.length)} --endpoint-url ${SILENT_ENDPOINT}` : command;
  const result = spawnSync('bash', ['-c', line], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('the StackSet commands', () => {
  it('are a copy of the example parameters, then create-stack-set and create-stack-instances', () => {
    expect(commands.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual([
      'cp cloudformation/member-role-params.example.json member-role-params.json',
      'aws cloudformation create-stack-set',
      'aws cloudformation create-stack-instances',
    ]);
  });

  it('pass the AWS CLI’s parameter validation as pasted, and fail only at the connection', () => {
    for (const command of commands) {
      const { status, output } = run(command);
      if (!command.startsWith('aws ')) {
        expect(status, `${command}: ${output}`).toBe(0);
        continue;
      }
      expect(output, command).not.toMatch(/Parameter validation failed|Invalid type for parameter|Error parsing parameter/);
      expect(output, command).toContain(`Could not connect to the endpoint URL: "${SILENT_ENDPOINT}/"`);
      expect(status, command).not.toBe(0);
    }
  });

  it('would be refused before anything is sent with a comma list given inline, as the docs once did', () => {
    const { output } = run(
      "aws cloudformation create-stack-set --stack-set-name cks-reconciler-member --template-body file://cloudformation/member-role.yml --parameters ParameterKey=FleetRegions,ParameterValue='us-east-1,eu-west-1'",
    );
    expect(output).toMatch(/Invalid type for parameter Parameters\[0\]\.ParameterValue, value: \['us-east-1', 'eu-west-1'\], type: <class 'list'>/);
    expect(output).not.toContain('Could not connect');
  });

  it('read a parameters file that gives every parameter of member-role.yml without a default, and only its parameters', () => {
    const template = parse(readFileSync(join(CLOUDFORMATION, 'member-role.yml'), 'utf8'), { logLevel: 'silent' }) as {
      Parameters: Record<string, { Default?: unknown }>;
    };
    const given = (JSON.parse(readFileSync(join(CLOUDFORMATION, 'member-role-params.example.json'), 'utf8')) as Array<{ ParameterKey: string }>).map(
      (p) => p.ParameterKey,
    );
    const required = Object.entries(template.Parameters)
      .filter(([, p]) => p.Default === undefined)
      .map(([name]) => name);
    expect(given.filter((name) => !(name in template.Parameters))).toEqual([]);
    expect(required.filter((name) => !given.includes(name))).toEqual([]);
  });
});
