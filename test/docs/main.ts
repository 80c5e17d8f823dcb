/** `npm run docs`: rewrites every generated region of the docs from the code it describes. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATED_REGIONS, withRegion } from './generated.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
for (const region of GENERATED_REGIONS) {
  const path = join(root, region.file);
  const before = readFileSync(path, 'utf8');
  const after = withRegion(before, region.name, region.render());
  if (after !== before) writeFileSync(path, after);
  console.log(`${region.file} (${region.name}): ${after === before ? 'up to date' : 'rewritten'}`);
}
