// What the folders promise (docs/architecture.md, "Dependency rules"): each part
// imports only the parts it may; host-agent/ is the login path and reaches
// host-agent/admin/ only through main.ts's one lazy import; no import circle
// anywhere in the sources; no source file over 500 lines. The dev-only parts
// (dev/, bench/, scripts/) build on the sources, and test/ on all of them.
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SOURCE_DIRS = ['contract', 'lambda', 'lib', 'host-agent', 'cli'];
const ADMIN = 'host-agent/admin/';
/** The one way from the login path into admin/ (scripts/build.mjs embeds admin/ there as a string). */
const LAZY_ADMIN = { importer: 'host-agent/main.ts', specifier: './admin/main.js' };
const MAX_LINES = 500;
const MAX_FUNCTION_LINES = 80;
/**
 * Functions allowed over MAX_FUNCTION_LINES, each with the length it may not
 * exceed. Empty since issue 18 split the last ones into named phases; an entry
 * needs a reason beside it.
 */
const LONG_FUNCTIONS: ReadonlyMap<string, number> = new Map<string, number>([]);

/** Every function (declarations, methods, constructors, arrows, expressions) longer than MAX_FUNCTION_LINES. */
function longFunctions(file: string): { id: string; lines: number }[] {
  const sf = ts.createSourceFile(file, read(file), ts.ScriptTarget.Latest, true);
  const out: { id: string; lines: number }[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body) {
      const lines =
        sf.getLineAndCharacterOfPosition(n.getEnd()).line -
        sf.getLineAndCharacterOfPosition(n.getStart()).line +
        1;
      if (lines > MAX_FUNCTION_LINES) out.push({ id: `${file} ${functionName(n)}`, lines });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

function functionName(n: ts.SignatureDeclaration): string {
  if (ts.isConstructorDeclaration(n)) return 'constructor';
  if (n.name) return n.name.getText();
  const p = n.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p))
    return p.name.getText();
  return '<anonymous>';
}

/** The files under the folders whose names end as `ending` says. */
function filesUnder(dirs: readonly string[], ending = /\.ts$/): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const p = posix.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (ending.test(p)) out.push(p);
    }
  };
  for (const d of dirs) walk(d);
  return out.sort();
}

const sourceFiles = () => filesUnder(SOURCE_DIRS);

const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** Relative imports of a file (static, type-only, re-exports and dynamic import()), as repo paths of .ts files. */
function relativeImports(file: string): { specifier: string; target: string }[] {
  return ts
    .preProcessFile(read(file), true, true)
    .importedFiles.map((i) => i.fileName)
    .filter((s) => s.startsWith('.'))
    .map((specifier) => ({
      specifier,
      target: posix.normalize(posix.join(posix.dirname(file), specifier.replace(/\.js$/, '.ts'))),
    }));
}

/** Every circle in the import graph, each as the path that closes it. */
function circles(files: readonly string[]): string[] {
  const edges = new Map(files.map((f) => [f, relativeImports(f).map((i) => i.target)]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const next of edges.get(f) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return found;
}

describe('host-agent/: the login path never reaches host-agent/admin/', () => {
  it('the bundle of host-agent/main.ts holds no admin module; the lazy admin import is its only way there', async () => {
    let lazyImports = 0;
    const r = await build({
      absWorkingDir: ROOT,
      entryPoints: ['host-agent/main.ts'],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      write: false,
      metafile: true,
      logLevel: 'silent',
      plugins: [
        {
          name: 'lazy-admin-external',
          setup(b) {
            b.onResolve({ filter: /.*/ }, (a) => {
              const importer = relative(ROOT, a.importer).split('\\').join('/');
              if (importer !== LAZY_ADMIN.importer || a.path !== LAZY_ADMIN.specifier) return undefined;
              lazyImports++;
              return { path: a.path, external: true };
            });
          },
        },
      ],
    });
    const inputs = Object.keys(r.metafile.inputs);
    expect(lazyImports).toBe(1);
    expect(inputs.filter((p) => p.startsWith(ADMIN))).toEqual([]);
    // The graph was walked through the lazy S3 fetcher too.
    expect(inputs).toEqual(expect.arrayContaining(['host-agent/store.ts', 'host-agent/s3-fetch.ts']));
  });

  it('a login loads no node builtin but node:fs and node:crypto (lazy in the build) before its first dynamic import', async () => {
    // Under Bun each builtin costs start-up time and memory at every login (node:path ~1 ms and 2.5 MiB,
    // docs/benchmarks.md): the rest (http, https, child_process) load only on a miss or for the audit.
    const r = await build({
      absWorkingDir: ROOT,
      entryPoints: ['host-agent/main.ts'],
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      external: ['./admin/main.js'],
    });
    const eager = new Set<string>();
    const seen = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const i of r.metafile.inputs[file]?.imports ?? []) {
        if (i.kind === 'dynamic-import') continue;
        if (i.external) eager.add(i.path);
        else walk(i.path);
      }
    };
    walk('host-agent/main.ts');
    expect([...eager].filter((b) => b.startsWith('node:')).sort()).toEqual(['node:crypto', 'node:fs']);
  });

  it('no file outside admin/ names admin/ (type-only imports included), but main.ts, lazily', () => {
    const loginFiles = sourceFiles().filter((f) => f.startsWith('host-agent/') && !f.startsWith(ADMIN));
    const intoAdmin = loginFiles.flatMap((f) =>
      relativeImports(f)
        .filter((i) => i.target.startsWith(ADMIN))
        .map((i) => `${f}: ${i.specifier}`),
    );
    expect(intoAdmin).toEqual([`${LAZY_ADMIN.importer}: ${LAZY_ADMIN.specifier}`]);
    // Only as import(): a static import would load admin code at every login.
    const main = read(LAZY_ADMIN.importer);
    expect(main).toContain(`await import('${LAZY_ADMIN.specifier}')`);
    expect(main).not.toMatch(/from '\.\/admin\//);
  });
});

/** Which parts each part may import (besides itself); everything may import contract/. */
const MAY_IMPORT: ReadonlyMap<string, readonly string[]> = new Map([
  ['contract', []],
  ['lambda', ['contract']],
  ['lib', ['contract']],
  ['host-agent', ['contract']],
  // `iam-ssh-keys publish` and `status` run the publisher's own code.
  ['cli', ['contract', 'lambda']],
]);

describe('sources (contract, lambda, lib, host-agent, cli)', () => {
  it('import only the parts they may (contract/ imports none)', () => {
    const crossings = sourceFiles().flatMap((f) => {
      const part = f.split('/')[0] as string;
      const allowed = [part, ...(MAY_IMPORT.get(part) ?? [])];
      return relativeImports(f)
        .filter((i) => !allowed.includes(i.target.split('/')[0] as string))
        .map((i) => `${f}: ${i.specifier}`);
    });
    expect(crossings).toEqual([]);
  });

  it('have no import circle (type-only and lazy imports count)', () => {
    expect(circles(sourceFiles())).toEqual([]);
  });

  it(`have no function over ${MAX_FUNCTION_LINES} lines, but the listed ones, none longer than listed`, () => {
    const found = sourceFiles().flatMap(longFunctions);
    const over = found
      .filter((f) => f.lines > (LONG_FUNCTIONS.get(f.id) ?? MAX_FUNCTION_LINES))
      .map((f) => `${f.id}: ${f.lines} lines`);
    expect(over).toEqual([]);
    // An entry whose function was split (or renamed) leaves the list.
    const ids = new Set(found.map((f) => f.id));
    expect([...LONG_FUNCTIONS.keys()].filter((id) => !ids.has(id))).toEqual([]);
  });

  it(`have no file over ${MAX_LINES} lines`, () => {
    const long = sourceFiles()
      .map((f) => ({ f, lines: read(f).split('\n').length - 1 }))
      .filter((x) => x.lines > MAX_LINES)
      .map((x) => `${x.f}: ${x.lines} lines`);
    expect(long).toEqual([]);
  });
});

/**
 * The dev-only parts, never shipped, and what each may import besides itself:
 * dev/ (what tests, benches and the demo share: moto, keys, the AWS proxy, sshd)
 * builds on the sources; bench/ and scripts/ on dev/ and the sources, never on
 * test/ (a suite's fixtures are not a bench's to change).
 */
const DEV_MAY_IMPORT: ReadonlyMap<string, readonly string[]> = new Map([
  ['dev', SOURCE_DIRS],
  // bench/agent.ts compiles its floor program with the build's own scripts (same runtime, same flags).
  ['bench', ['dev', 'scripts', ...SOURCE_DIRS]],
  ['scripts', ['dev', ...SOURCE_DIRS]],
]);

/** Each import of a file in `parts` that leaves the parts `allowed` gives it (itself included). */
function crossings(parts: readonly string[], allowed: (part: string) => readonly string[]): string[] {
  return filesUnder(parts, /\.(ts|mts|mjs)$/).flatMap((f) => {
    const part = f.split('/')[0] as string;
    return relativeImports(f)
      .filter((i) => ![part, ...allowed(part)].includes(i.target.split('/')[0] as string))
      .map((i) => `${f}: ${i.specifier}`);
  });
}

describe('dev-only parts (dev, bench, scripts)', () => {
  it('dev/ imports only the sources (contract included)', () => {
    expect(crossings(['dev'], (p) => DEV_MAY_IMPORT.get(p) ?? [])).toEqual([]);
  });

  it('bench/ and scripts/ import dev/ and the sources (bench also the build scripts), never test/', () => {
    expect(crossings(['bench', 'scripts'], (p) => DEV_MAY_IMPORT.get(p) ?? [])).toEqual([]);
  });

  it('no source imports dev/ or test/', () => {
    const intoDev = crossings(SOURCE_DIRS, () => SOURCE_DIRS).filter((c) =>
      /: (\.\.\/)+(dev|test)\//.test(c),
    );
    expect(intoDev).toEqual([]);
  });
});
