/**
 * The AWS Control Tower proactive controls, as cfn-guard rules, run over CloudFormation templates
 * with the cfn-guard binary that @cdklabs/cdk-validator-cfnguard ships beside the rules (nothing is
 * downloaded). A finding is one rule a template fails, for each resource it fails on.
 */
import { spawnSync } from 'node:child_process';
import { arch, platform } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), '../../node_modules/@cdklabs/cdk-validator-cfnguard');
const RULES = join(PACKAGE, 'rules/control-tower/cfn-guard');
const BINARY = join(PACKAGE, 'bin', platform() === 'darwin' ? 'macos' : 'ubuntu', arch() === 'arm64' ? 'aarch64' : 'x86_64', 'cfn-guard');
/** cfn-guard's exit codes: every rule passed, or some rule failed (its report then says which). */
const PASSED = 0;
const FAILED = 19;

export interface GuardFinding {
  /** The template's file name. */
  template: string;
  /** The rule's name, e.g. `kms_create_grant_aws_service_check`. */
  rule: string;
  /** The Control Tower control, e.g. `CT.KMS.PR.3`. */
  control: string;
  /** The logical id of the resource that fails it. */
  resource: string;
}

interface FileReport {
  name: string;
  not_compliant: Array<{ Rule: { name: string } }>;
}

/** Runs every Control Tower rule over the templates (JSON or YAML, short forms included). */
export function guardFindings(templates: readonly string[]): GuardFinding[] {
  const run = spawnSync(
    BINARY,
    ['validate', '--rules', RULES, ...templates.flatMap((t) => ['--data', t]), '--output-format', 'json', '--show-summary', 'none', '--structured'],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (run.status !== PASSED && run.status !== FAILED) throw new Error(`cfn-guard exited with ${run.status ?? run.signal}: ${run.stderr}`);
  const reports = JSON.parse(run.stdout) as FileReport[];
  if (reports.length !== templates.length) throw new Error(`cfn-guard reported on ${reports.length} of ${templates.length} templates`);
  return reports.flatMap((report) =>
    report.not_compliant.flatMap((failed) => {
      const text = JSON.stringify(failed);
      const control = /\[(CT\.[A-Z0-9]+\.PR\.\d+)\]/.exec(text)?.[1] ?? 'unknown';
      const resources = new Set([...text.matchAll(/"path":"\/Resources\/([^/"]+)/g)].map((m) => m[1]!));
      return [...resources].sort().map((resource) => ({ template: basename(report.name), rule: failed.Rule.name, control, resource }));
    }),
  );
}
