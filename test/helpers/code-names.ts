// Names the code defines, read from the code itself so the doc checks
// (test/unit/docs/names.test.ts) compare the docs with the code and not with a
// copy: the environment variables a program reads (a static scan of what its
// entry file imports) and the metric names a file emits (`addMetric` calls).
// An expression the scan cannot reduce to names is an error naming the file and
// line, never a silent gap.
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';
import { parseAppConfig } from '../../lib/config.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface NameSite {
  readonly name: string;
  /** file:line where the code names it. */
  readonly at: string;
}

const parsed = new Map<string, ts.SourceFile>();
function source(file: string): ts.SourceFile {
  let sf = parsed.get(file);
  if (!sf) {
    sf = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.ES2022, true);
    parsed.set(file, sf);
  }
  return sf;
}

function at(node: ts.Node): string {
  const sf = node.getSourceFile();
  return `${sf.fileName}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
}

function walk(node: ts.Node, visit: (n: ts.Node) => void): void {
  visit(node);
  node.forEachChild((c) => walk(c, visit));
}

/** The repository file a relative module specifier of `from` names (`./x.js` is `./x.ts`). */
function resolveModule(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const p = posix.normalize(posix.join(posix.dirname(from), spec.replace(/\.js$/, '.ts')));
  return existsSync(join(ROOT, p)) ? p : undefined;
}

/** The files a file imports at run time (static, re-exports and dynamic `import()`; not `import type`). */
function importsOf(file: string): string[] {
  const out: string[] = [];
  walk(source(file), (n) => {
    let spec: string | undefined;
    if (ts.isImportDeclaration(n) && !n.importClause?.isTypeOnly)
      spec = (n.moduleSpecifier as ts.StringLiteral).text;
    else if (ts.isExportDeclaration(n) && n.moduleSpecifier && !n.isTypeOnly)
      spec = (n.moduleSpecifier as ts.StringLiteral).text;
    else if (
      ts.isCallExpression(n) &&
      n.expression.kind === ts.SyntaxKind.ImportKeyword &&
      n.arguments[0] &&
      ts.isStringLiteral(n.arguments[0])
    )
      spec = n.arguments[0].text;
    const target = spec === undefined ? undefined : resolveModule(file, spec);
    if (target) out.push(target);
  });
  return out;
}

/** Every repository file an entry file loads, itself included (paths relative to the repository). */
export function importClosure(entry: string): string[] {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const f = todo.pop() as string;
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...importsOf(f));
  }
  return [...seen].sort();
}

/** `export const NAME = 'text'` (or a plain const) in the file or in a file it imports. */
function constantString(file: string, name: string, depth = 0): string | undefined {
  let found: string | undefined;
  walk(source(file), (n) => {
    if (
      found === undefined &&
      ts.isVariableDeclaration(n) &&
      ts.isIdentifier(n.name) &&
      n.name.text === name &&
      n.initializer &&
      ts.isStringLiteralLike(n.initializer)
    )
      found = n.initializer.text;
  });
  if (found !== undefined || depth > 0) return found;
  for (const f of importsOf(file)) {
    const v = constantString(f, name, depth + 1);
    if (v !== undefined) return v;
  }
  return undefined;
}

type FunctionNode = ts.FunctionDeclaration | ts.ArrowFunction | ts.FunctionExpression | ts.MethodDeclaration;

function enclosingFunction(node: ts.Node): FunctionNode | undefined {
  for (let p = node.parent; p; p = p.parent) {
    if (
      ts.isFunctionDeclaration(p) ||
      ts.isArrowFunction(p) ||
      ts.isFunctionExpression(p) ||
      ts.isMethodDeclaration(p)
    )
      return p;
  }
  return undefined;
}

/**
 * The strings a parameter can hold: its string-literal (union) type, else the
 * arguments of every call of its function in the same file (literals, or what
 * `strings` reduces to literals: `cond ? 'A' : 'B'`); one it cannot reduce
 * leaves the parameter unknown.
 */
function parameterStrings(fn: FunctionNode, index: number): string[] | undefined {
  const type = fn.parameters[index]?.type;
  const literals = (t: ts.TypeNode): string[] | undefined => {
    if (ts.isLiteralTypeNode(t) && ts.isStringLiteral(t.literal)) return [t.literal.text];
    if (ts.isUnionTypeNode(t)) {
      const parts = t.types.map(literals);
      return parts.every((p) => p !== undefined) ? parts.flat() : undefined;
    }
    return undefined;
  };
  const typed = type ? literals(type) : undefined;
  if (typed) return typed;
  const fnName = ts.isFunctionDeclaration(fn) ? fn.name?.text : undefined;
  if (fnName === undefined) return undefined;
  const values: string[] = [];
  let unresolved = false;
  walk(fn.getSourceFile(), (n) => {
    if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === fnName) {
      const arg = n.arguments[index];
      const v = arg ? strings(arg) : undefined;
      if (v) values.push(...v);
      else unresolved = true;
    }
  });
  return values.length > 0 && !unresolved ? values : undefined;
}

/** The strings an expression can evaluate to, or undefined when the scan cannot tell. */
function strings(expr: ts.Expression): string[] | undefined {
  if (ts.isStringLiteralLike(expr)) return [expr.text];
  if (ts.isParenthesizedExpression(expr)) return strings(expr.expression);
  if (ts.isConditionalExpression(expr)) {
    const a = strings(expr.whenTrue);
    const b = strings(expr.whenFalse);
    return a && b ? [...a, ...b] : undefined;
  }
  if (
    ts.isCallExpression(expr) &&
    ts.isPropertyAccessExpression(expr.expression) &&
    expr.expression.name.text === 'toUpperCase'
  )
    return strings(expr.expression.expression)?.map((s) => s.toUpperCase());
  if (ts.isTemplateExpression(expr)) {
    let acc: string[] = [expr.head.text];
    for (const span of expr.templateSpans) {
      const parts = strings(span.expression);
      if (!parts) return undefined;
      acc = acc.flatMap((a) => parts.map((p) => a + p + span.literal.text));
    }
    return acc;
  }
  if (ts.isIdentifier(expr)) {
    const fn = enclosingFunction(expr);
    const index = fn?.parameters.findIndex((p) => ts.isIdentifier(p.name) && p.name.text === expr.text) ?? -1;
    if (fn && index >= 0) return parameterStrings(fn, index);
    const c = constantString(expr.getSourceFile().fileName, expr.text);
    return c === undefined ? undefined : [c];
  }
  return undefined;
}

/** `env`, `process.env`, `deps.env`, `opts.env`: an expression holding the environment. */
function isEnv(e: ts.Expression): boolean {
  return (
    (ts.isIdentifier(e) && e.text === 'env') || (ts.isPropertyAccessExpression(e) && e.name.text === 'env')
  );
}

function isAssignedTo(n: ts.Node): boolean {
  const p = n.parent;
  return (
    ts.isBinaryExpression(p) &&
    p.left === n &&
    p.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
    p.operatorToken.kind <= ts.SyntaxKind.LastAssignment
  );
}

/**
 * Environment variables the files read: `env.NAME`, `env[expr]` (a literal, a
 * constant, a parameter whose values the file shows, a template of those) and
 * `const { NAME } = env`. Assignments (`process.env.X ??= ...`) are writes, not reads.
 */
export function envReads(files: readonly string[]): NameSite[] {
  const out: NameSite[] = [];
  for (const file of files) {
    walk(source(file), (n) => {
      if (ts.isPropertyAccessExpression(n) && isEnv(n.expression) && !isAssignedTo(n)) {
        out.push({ name: n.name.text, at: at(n) });
      } else if (ts.isElementAccessExpression(n) && isEnv(n.expression) && !isAssignedTo(n)) {
        const names = strings(n.argumentExpression);
        if (!names) throw new Error(`${at(n)}: cannot tell which environment variable this reads`);
        for (const name of names) out.push({ name, at: at(n) });
      } else if (
        ts.isVariableDeclaration(n) &&
        ts.isObjectBindingPattern(n.name) &&
        n.initializer &&
        isEnv(n.initializer)
      ) {
        for (const el of n.name.elements) {
          const key = el.propertyName ?? el.name;
          if (!ts.isIdentifier(key))
            throw new Error(`${at(el)}: cannot tell which environment variable this reads`);
          out.push({ name: key.text, at: at(el) });
        }
      }
    });
  }
  return out;
}

/** The metric names `<x>.addMetric(name, ...)` calls of the file emit. */
export function emittedMetrics(file: string): NameSite[] {
  const out: NameSite[] = [];
  walk(source(file), (n) => {
    if (
      ts.isCallExpression(n) &&
      ts.isPropertyAccessExpression(n.expression) &&
      n.expression.name.text === 'addMetric'
    ) {
      const arg = n.arguments[0];
      const names = arg ? strings(arg) : undefined;
      if (!names) throw new Error(`${at(n)}: cannot tell which metric this emits`);
      for (const name of names) out.push({ name, at: at(n) });
    }
  });
  return out;
}

/** The context names lib/config.ts reads (with a reader bucket set, so the reader stack's names are read too). */
export function contextNamesRead(): Set<string> {
  const names = new Set<string>();
  parseAppConfig((name) => {
    names.add(name);
    return name === 'readerBucket' ? 'example-bucket' : undefined;
  });
  return names;
}
