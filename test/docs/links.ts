/**
 * The relative links of the docs, checked as GitHub would follow them: the file exists and an
 * `#anchor` names a heading of the target file (the slug GitHub gives that heading).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** The Markdown outside fenced code blocks, fences blanked so that line numbers stay. */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line;
  });
}

/** GitHub's anchor for a heading's text: lower case, punctuation dropped, each space a hyphen. */
export function slug(heading: string): string {
  const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').trim();
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a file's headings; a repeated heading gets `-1`, `-2`, … as on GitHub. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const line of prose(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

export interface Link {
  line: number;
  target: string;
}

/** The links of a file that stay inside the repository (no scheme), with their line numbers; inline code is not a link. */
export function relativeLinks(markdown: string): Link[] {
  return prose(markdown).flatMap((text, index) =>
    [...text.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
      .map((match) => match[1]!)
      .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
      .map((target) => ({ line: index + 1, target })),
  );
}

/** What is wrong with a link from `from` (a path relative to `root`), or null when it resolves. */
export function brokenLink(root: string, from: string, target: string): string | null {
  const [path = '', anchor] = target.split('#', 2);
  const file = path === '' ? join(root, from) : join(root, dirname(from), decodeURIComponent(path));
  if (!existsSync(file)) return `${relative(root, file)} does not exist`;
  if (anchor === undefined) return null;
  if (statSync(file).isDirectory() || !file.endsWith('.md')) return `#${anchor} points into ${relative(root, file)}, which has no headings`;
  return anchors(readFileSync(file, 'utf8')).has(anchor) ? null : `${relative(root, file)} has no heading #${anchor}`;
}

/** README.md and every Markdown file under docs/, relative to `root`. */
export function markdownFiles(root: string): string[] {
  const under = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? under(join(dir, entry.name)) : entry.name.endsWith('.md') ? [join(dir, entry.name)] : [],
    );
  return ['README.md', ...under('docs')];
}
