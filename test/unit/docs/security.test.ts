// SECURITY.md's threat tables name the tests that show each guard works: every
// file they name exists, and every test name they quote is in one of the files
// named with it, so a renamed or removed test cannot leave a row pointing at nothing.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');

interface Ref {
  readonly at: string;
  /** Repository paths the segment names (a `*` glob expanded). */
  readonly files: string[];
  readonly missing: string[];
  readonly quotes: string[];
}

/** `unit/x.test.ts` is under test/; `bench/storm.ts`, `docs/x.md` are repository paths. */
function expand(path: string): string[] {
  const p = /^(unit|integration|e2e|reliability)\//.test(path) ? `test/${path}` : path;
  if (!p.includes('*')) return existsSync(join(ROOT, p)) ? [p] : [];
  const dir = dirname(p);
  const re = new RegExp(
    `^${p
      .slice(dir.length + 1)
      .replace(/\./g, '\\.')
      .replace(/\*/g, '[^/]*')}$`,
  );
  return existsSync(join(ROOT, dir))
    ? readdirSync(join(ROOT, dir))
        .filter((f) => re.test(f))
        .map((f) => `${dir}/${f}`)
    : [];
}

/** A cell split at each `;` outside parentheses. */
function segments(cell: string): string[] {
  const out = [''];
  let depth = 0;
  for (const c of cell) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ';' && depth === 0) out.push('');
    else out[out.length - 1] += c;
  }
  return out;
}

/** The Test cell of every threat row, split at `;` into segments: paths, then the test names quoted for them. */
function refs(markdown: string): Ref[] {
  const out: Ref[] = [];
  markdown.split('\n').forEach((line, i) => {
    const cells = line.split(' | ');
    if (!line.startsWith('| ') || cells.length < 3 || /^\|\s*Threat\s*$/.test(cells[0] ?? '')) return;
    const test = (cells[cells.length - 1] as string).replace(/\s*\|\s*$/, '');
    for (const segment of segments(test)) {
      const paths = [
        ...segment.matchAll(
          /(?<![\w/])((?:unit|integration|e2e|reliability|bench|docs)\/[\w./*-]+\.(?:ts|md))/g,
        ),
      ].map((m) => m[1] as string);
      const files = paths.flatMap(expand);
      out.push({
        at: `SECURITY.md:${i + 1}`,
        files,
        missing: paths.filter((p) => expand(p).length === 0),
        quotes: [...segment.matchAll(/"([^"]+)"/g)].map((m) => (m[1] as string).replace(/\s*\.\.\.$/, '')),
      });
    }
  });
  return out;
}

const REFS = refs(readFileSync(join(ROOT, 'SECURITY.md'), 'utf8'));

describe('SECURITY.md test references', () => {
  it('reads the rows (a file and a quoted name among them)', () => {
    expect(REFS.filter((r) => r.files.length > 0).length).toBeGreaterThan(20);
    expect(REFS.some((r) => r.quotes.includes('no Allow grants anything but reads'))).toBe(true);
  });

  it('every file named exists', () => {
    expect(REFS.flatMap((r) => r.missing.map((m) => `${r.at}: no file ${m}`))).toEqual([]);
  });

  it('every quoted test name is in a file named with it', () => {
    const text = new Map<string, string>();
    const read = (f: string) => text.get(f) ?? text.set(f, readFileSync(join(ROOT, f), 'utf8')).get(f) ?? '';
    const wrong = REFS.flatMap((r) =>
      r.quotes
        .filter((q) => !r.files.some((f) => read(f).includes(q)))
        .map((q) => `${r.at}: "${q}" is in none of ${r.files.join(', ') || '(no file named before it)'}`),
    );
    expect(wrong).toEqual([]);
  });
});
