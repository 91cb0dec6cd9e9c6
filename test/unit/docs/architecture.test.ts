// Source comments name sections of docs/architecture.md in quotes: each named
// section must exist there, so a newcomer following a comment finds it. The
// same for the source files comments name.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const DIRS = ['contract', 'lambda', 'lib', 'host-agent', 'cli', 'dev', 'test', 'bench', 'scripts'];

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = posix.join(dir, e.name);
    if (e.isDirectory()) return files(p);
    return /\.(ts|mjs|sh)$/.test(p) ? [p] : [];
  });
}

const headings = new Set(
  [...readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8').matchAll(/^#{2,4} (.*)$/gm)].map((m) =>
    (m[1] as string).replace(/`/g, ''),
  ),
);

describe('docs/architecture.md', () => {
  it('has every section a source comment names', () => {
    const refs = DIRS.flatMap(files).flatMap((f) =>
      [...readFileSync(join(ROOT, f), 'utf8').matchAll(/docs\/architecture\.md,? "([^"]+)"/g)].map((m) => ({
        f,
        section: m[1] as string,
      })),
    );
    expect(refs.length).toBeGreaterThan(5);
    expect(refs.filter((r) => !headings.has(r.section)).map((r) => `${r.f}: "${r.section}"`)).toEqual([]);
  });

  it('is the one design reference: nothing points outside the repository', () => {
    const outside = DIRS.flatMap(files).filter((f) =>
      /\bDESIGN(\.md)?\b/.test(readFileSync(join(ROOT, f), 'utf8')),
    );
    expect(outside).toEqual([]);
  });
});

/** The .ts/.mjs files a comment line names (`status.ts`, `bench/agent.ts`). */
function fileRefs(line: string): string[] {
  const comment = /(?:\/\/|^\s*\*|^\s*#)(.*)$/.exec(line)?.[1];
  return comment === undefined
    ? []
    : [...comment.matchAll(/(?<![\w./-])([\w./-]+\.(?:ts|mjs))\b/g)].map((m) => m[1] as string);
}

describe('files named in source comments', () => {
  it.each([
    ['// Fetching is in status.ts.', ['status.ts']],
    [' * see bench/agent.ts and ../lib/x.mjs', ['bench/agent.ts', '../lib/x.mjs']],
    ["const x = 'a.ts'; // none here", []],
    ["const x = 'a.ts';", []],
  ])('%s', (line, expected) => {
    expect(fileRefs(line)).toEqual(expected);
  });

  it('exist: next to the file, from the repository root, or (a bare name) somewhere in it', () => {
    const all = DIRS.flatMap(files);
    const names = new Set(all.map((f) => basename(f)));
    const missing = all.flatMap((f) =>
      readFileSync(join(ROOT, f), 'utf8')
        .split('\n')
        .flatMap((l, i) =>
          fileRefs(l)
            .filter(
              (r) =>
                !existsSync(join(ROOT, posix.dirname(f), r)) &&
                !existsSync(join(ROOT, r)) &&
                !(r === basename(r) && names.has(r)),
            )
            .map((r) => `${f}:${i + 1}: ${r}`),
        ),
    );
    expect(missing).toEqual([]);
  });
});
