/** `npm run docs:pages`: writes the rendered on-call pages into README.md, between their markers. */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCallPagesMarkdown, withSection } from '../helpers/on-call-readme.js';

const readmePath = join(dirname(fileURLToPath(import.meta.url)), '../../README.md');
const readme = readFileSync(readmePath, 'utf8');
const updated = withSection(readme, onCallPagesMarkdown());
writeFileSync(readmePath, updated);
console.log(updated === readme ? 'README.md: on-call pages already up to date' : 'README.md: on-call pages rewritten');
