/**
 * The stack checked as AWS would check it: the AWS Control Tower proactive controls (cfn-guard) over
 * the packaged template and cloudformation/member-role.yml. Every finding is fixed or waived, with its
 * reason, in cloudformation/guard-waivers.yml.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type GuardFinding, guardFindings } from '../helpers/cfn-guard.js';
import { PACKAGE_TIMEOUT_MS, packagedService, templateFile } from '../helpers/package.js';

const MEMBER_ROLE = new URL('../../cloudformation/member-role.yml', import.meta.url).pathname;
const WAIVERS = new URL('../../cloudformation/guard-waivers.yml', import.meta.url).pathname;

interface Waiver {
  rule: string;
  control: string;
  resources: string[];
  reason: string;
}
const waivers = (parse(readFileSync(WAIVERS, 'utf8')) as { waivers: Waiver[] }).waivers;
const waived = (finding: GuardFinding): boolean => waivers.some((w) => w.rule === finding.rule && w.resources.includes(finding.resource));

/** The packaged template as CloudFormation JSON. */
// biome-ignore lint/suspicious/noExplicitAny: the packaged template, changed below as CloudFormation JSON
type Template = any;

/** Copies of the packaged template with one fix undone, scanned beside it to show that the scan finds what each fix prevents. */
const UNDONE: Record<string, (copy: Template) => void> = {
  'grants-for-anything.json': (copy) => {
    const policy = copy.Resources.OnCallTopicKey.Properties.KeyPolicy;
    policy.Statement = policy.Statement.filter((s: { Sid: string }) => s.Sid !== 'GrantsOnlyForAwsResources');
  },
  'logs-for-30-days.json': (copy) => {
    for (const id of logGroupIds(copy)) copy.Resources[id].Properties.RetentionInDays = 30;
  },
};

const logGroupIds = (from: Template): string[] =>
  Object.keys(from.Resources)
    .filter((id) => from.Resources[id].Type === 'AWS::Logs::LogGroup')
    .sort();

let template: Template;
/** Every finding of one cfn-guard run over the packaged template, member-role.yml and the copies in `UNDONE`. */
let all: GuardFinding[];
const scratch = mkdtempSync(join(tmpdir(), 'cks-guard-'));
const of = (name: string): GuardFinding[] => all.filter((f) => f.template === name);

beforeAll(async () => {
  const file = templateFile(await packagedService());
  template = JSON.parse(readFileSync(file, 'utf8'));
  const copies = Object.entries(UNDONE).map(([name, undo]) => {
    const copy = structuredClone(template);
    undo(copy);
    writeFileSync(join(scratch, name), JSON.stringify(copy));
    return join(scratch, name);
  });
  all = guardFindings([file, MEMBER_ROLE, ...copies]);
}, PACKAGE_TIMEOUT_MS);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the Control Tower proactive controls', () => {
  const PACKAGED = 'cloudformation-template-update-stack.json';

  it('find nothing in the packaged template or member-role.yml that is not waived', () => {
    expect([...of(PACKAGED), ...of('member-role.yml')].filter((f) => !waived(f))).toEqual([]);
  });

  it('find member-role.yml compliant with every control', () => {
    expect(of('member-role.yml')).toEqual([]);
  });

  it('waive only what they find, each waiver with its control, resources and a reason', () => {
    for (const waiver of waivers) {
      expect(waiver.reason.length, waiver.rule).toBeGreaterThan(40);
      for (const resource of waiver.resources) {
        expect(of(PACKAGED), `${waiver.rule} on ${resource}`).toContainEqual(
          expect.objectContaining({ rule: waiver.rule, control: waiver.control, resource }),
        );
      }
    }
  });

  it('would find the on-call key letting its principals create grants that are not for AWS resources (CT.KMS.PR.3)', () => {
    expect(of(PACKAGED)).not.toContainEqual(expect.objectContaining({ control: 'CT.KMS.PR.3' }));
    expect(of('grants-for-anything.json')).toContainEqual(expect.objectContaining({ control: 'CT.KMS.PR.3', resource: 'OnCallTopicKey' }));
  });

  it('would find log groups kept less than a year (CT.CLOUDWATCH.PR.2); the default keeps them 365 days', () => {
    const ids = logGroupIds(template);
    expect(ids.map((id) => template.Resources[id].Properties.RetentionInDays)).toEqual([365, 365, 365, 365]);
    expect(of(PACKAGED)).not.toContainEqual(expect.objectContaining({ control: 'CT.CLOUDWATCH.PR.2' }));
    expect(
      of('logs-for-30-days.json')
        .filter((f) => f.control === 'CT.CLOUDWATCH.PR.2')
        .map((f) => f.resource),
    ).toEqual(ids);
  });
});
