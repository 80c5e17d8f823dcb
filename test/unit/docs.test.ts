/**
 * The docs cannot drift from the code they render, and every relative link in them resolves: the
 * generated regions equal what `npm run docs` would write, and each link names an existing file and,
 * with an `#anchor`, one of its headings as GitHub slugs it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GENERATED_REGIONS, regionContent, withRegion } from '../docs/generated.js';
import { anchors, brokenLink, markdownFiles, relativeLinks, slug } from '../docs/links.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(`${ROOT}${file}`, 'utf8');

describe('generated regions (run `npm run docs` after changing a playbook, a page or an example)', () => {
  it.each(GENERATED_REGIONS.map((region) => ({ ...region, label: `${region.file} ${region.name}` })))(
    '$label holds exactly what it renders',
    (region) => {
      expect(regionContent(read(region.file), region.name)).toBe(region.render());
    },
  );

  it('rewrites only the content between the markers', () => {
    const page = 'before\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nafter\n';
    expect(withRegion(page, 'x', 'new')).toBe('before\n<!-- generated:x -->\nnew\n<!-- /generated:x -->\nafter\n');
  });

  it('refuses a page without the region, naming its markers', () => {
    expect(() => regionContent('no markers here', 'runbook')).toThrow('no "<!-- generated:runbook -->" … "<!-- /generated:runbook -->" region');
  });
});

describe('links', () => {
  it('slugs a heading as GitHub does: code spans and punctuation dropped, spaces hyphens, underscores kept', () => {
    expect(slug('What `npm start` shows')).toBe('what-npm-start-shows');
    expect(slug('Runbook: what happens for each ConnectionErrorCode')).toBe('runbook-what-happens-for-each-connectionerrorcode');
    expect(slug('`CKS_TABLE` and the [stage](x.md)')).toBe('cks_table-and-the-stage');
    expect([...anchors('# A\n## A\n```\n# not a heading\n```\n')]).toEqual(['a', 'a-1']);
  });

  it('finds links outside code and reports a missing file or heading', () => {
    const links = relativeLinks('[a](docs/glossary.md#scope) `[b](c.md)` [web](https://example.com)\n```\n[d](e.md)\n```\n');
    expect(links).toEqual([{ line: 1, target: 'docs/glossary.md#scope' }]);
    expect(brokenLink(ROOT, 'README.md', 'docs/nowhere.md')).toBe('docs/nowhere.md does not exist');
    expect(brokenLink(ROOT, 'README.md', '#no-such-heading')).toBe('README.md has no heading #no-such-heading');
  });

  it.each(markdownFiles(ROOT))('%s: every relative link and anchor resolves', (file) => {
    const broken = relativeLinks(read(file)).flatMap(({ line, target }) => {
      const problem = brokenLink(ROOT, file, target);
      return problem === null ? [] : [`${file}:${line} ${target}: ${problem}`];
    });
    expect(broken).toEqual([]);
  });
});
