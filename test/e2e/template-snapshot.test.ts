/**
 * The packaged template, compared with a committed snapshot (template-snapshot.json beside this
 * file): a change to the stack's resources, policies, conditions or outputs, wherever it is made
 * (serverless.yml, cloudformation/stack/, the on-call pages), shows here as a diff. Regenerate the
 * snapshot deliberately with `npm run template:snapshot`, and say in the commit what changed and why.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_TIMEOUT_MS, packagedService, templateFile } from '../helpers/package.js';
import { normalizeTemplate } from '../helpers/template.js';

let template: { Resources: Record<string, { Type: string; Properties?: { Code?: { S3Key?: string } } }> };

beforeAll(async () => {
  template = JSON.parse(readFileSync(templateFile(await packagedService()), 'utf8'));
}, PACKAGE_TIMEOUT_MS);

describe('the packaged template', () => {
  it('differs from one package to the next only in the artifacts’ S3 folder, which the comparison ignores', () => {
    const keys = Object.values(template.Resources).flatMap((resource) => (resource.Properties?.Code?.S3Key ? [resource.Properties.Code.S3Key] : []));
    expect(keys.sort()).toEqual([
      expect.stringMatching(/^serverless\/cks-reconciler\/ci\/[^/]+\/onChange\.zip$/),
      expect.stringMatching(/^serverless\/cks-reconciler\/ci\/[^/]+\/onEvent\.zip$/),
      expect.stringMatching(/^serverless\/cks-reconciler\/ci\/[^/]+\/sweep\.zip$/),
      expect.stringMatching(/^serverless\/cks-reconciler\/ci\/[^/]+\/worker\.zip$/),
    ]);
  });

  it('equals the committed snapshot in resources, policies, conditions and outputs', async () => {
    await expect(`${JSON.stringify(normalizeTemplate(template), null, 2)}\n`).toMatchFileSnapshot('template-snapshot.json');
  });
});
