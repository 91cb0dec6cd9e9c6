// Every relative link of README.md and docs/*.md leads to a file that exists,
// and every #anchor to a heading of that file.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const FILES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f)),
];

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');
}

/** Anchors of a page's headings; `# lines` inside fenced code blocks are not headings, inline code is part of one. */
function headingAnchors(markdown: string): Set<string> {
  const md = markdown.replace(/```[\s\S]*?```/g, '');
  return new Set(
    [...md.matchAll(/^#{1,6} (.*)$/gm)].map((m) => anchorOf((m[1] as string).replace(/`/g, ''))),
  );
}

const headings = (file: string) => headingAnchors(readFileSync(join(ROOT, file), 'utf8'));

describe('links in README.md and docs/*.md', () => {
  it.each([
    ['Shortest path to a working deploy', 'shortest-path-to-a-working-deploy'],
    ['Key prefix: 403, not 404', 'key-prefix-403-not-404'],
    ['Host agent: `iam-authorized-keys`', 'host-agent-iam-authorized-keys'],
    ['Login storms: single flight', 'login-storms-single-flight'],
  ])('anchor of %s', (heading, anchor) => {
    expect(anchorOf(heading.replace(/`/g, ''))).toBe(anchor);
  });

  it('reads headings with inline code, and no comment of a code block as a heading', () => {
    expect(headingAnchors('## Operator CLI: `publish --event FILE`\n```sh\n# not a heading\n```\n')).toEqual(
      new Set(['operator-cli-publish---event-file']),
    );
  });

  it('every relative link resolves, anchors included', () => {
    const problems: string[] = [];
    for (const file of FILES) {
      const md = readFileSync(join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of md.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1] as string;
        if (/^[a-z]+:/.test(link)) continue; // http:, https:, mailto:
        const [path, anchor] = link.split('#') as [string, string | undefined];
        const target = path === '' ? file : normalize(join(dirname(file), path));
        if (!existsSync(join(ROOT, target))) {
          problems.push(`${file}: ${link}: no such file`);
          continue;
        }
        if (anchor && target.endsWith('.md') && !headings(target).has(anchor)) {
          problems.push(`${file}: ${link}: no heading with that anchor in ${target}`);
        }
      }
    }
    expect(problems.join('\n')).toBe('');
  });
});
