// A small IAM policy evaluator for the condition tables of test/unit/lib: explicit Deny
// wins over Allow, no Allow is an implicit deny. It knows only the operators our policies
// use and throws on any other, so a policy that starts using a new one fails its test
// instead of being misread. StringLike as IAM: `*` any run of characters, `?` exactly one,
// with case. Not a replacement for IAM: the rules it encodes are the documented ones.

type Json = Record<string, unknown>;

export interface Request {
  readonly action: string;
  /** The resource ARN, e.g. arn:aws:iam::123456789012:user/alice. */
  readonly resource: string;
  /** Request context keys: single values as strings, multivalued keys (aws:TagKeys) as arrays. */
  readonly context: Readonly<Record<string, string | readonly string[]>>;
}

export type Decision = 'allow' | 'deny' | 'implicit-deny';

const PARTITION = 'aws';
export const ACCOUNT = '123456789012';

/** Resolves the CloudFormation forms our policies use (Join with Partition and AccountId refs). */
function resolve(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(resolve);
  if (typeof v === 'object' && v !== null) {
    const o = v as Json;
    if (o.Ref === 'AWS::Partition') return PARTITION;
    if (o.Ref === 'AWS::AccountId') return ACCOUNT;
    const join = o['Fn::Join'];
    if (Array.isArray(join)) return (resolve(join[1]) as string[]).join(join[0] as string);
    if (o.Ref !== undefined || Object.keys(o).some((k) => k.startsWith('Fn::')))
      throw new Error(`cannot resolve ${JSON.stringify(o)}`);
  }
  return v;
}

/** IAM's StringLike: `*` and `?` wildcards, everything else literal, with case. */
export function stringLike(value: string, pattern: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`));
  return new RegExp(`^${re}$`, 's').test(value);
}

const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : [v as string]);

function substitute(pattern: string, r: Request): string {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable
  return pattern.replaceAll('${aws:username}', String(r.context['aws:username'] ?? '\u0000'));
}

function conditionHolds(op: string, key: string, expected: string[], r: Request): boolean {
  const actual = Object.hasOwn(r.context, key) ? r.context[key] : undefined;
  const values = actual === undefined ? [] : list(actual);
  const like = (v: string) => expected.some((p) => stringLike(v, p));
  switch (op) {
    case 'Bool':
      return actual !== undefined && expected.includes(String(actual));
    case 'StringLike':
      return typeof actual === 'string' && like(actual);
    case 'ForAllValues:StringLike':
      return values.every(like);
    case 'ForAnyValue:StringLike':
      return values.some(like);
    case 'Null':
      return expected.includes(values.length === 0 ? 'true' : 'false');
    default:
      throw new Error(`the evaluator does not know the condition operator ${op}`);
  }
}

function matches(statement: Json, r: Request): boolean {
  const actions = list(statement.Action).map((a) => a.toLowerCase());
  if (!actions.some((a) => stringLike(r.action.toLowerCase(), a))) return false;
  const resources = list(resolve(statement.Resource));
  if (!resources.some((p) => stringLike(r.resource, substitute(p, r)))) return false;
  const conditions = (statement.Condition ?? {}) as Record<string, Record<string, unknown>>;
  return Object.entries(conditions).every(([op, byKey]) =>
    Object.entries(byKey).every(([key, v]) => conditionHolds(op, key, list(resolve(v)), r)),
  );
}

/** The decision of a set of policy documents (their Statement lists) for one request. */
export function evaluate(documents: readonly { Statement: unknown }[], r: Request): Decision {
  const statements = documents.flatMap((d) => list(d.Statement) as unknown as Json[]);
  for (const s of statements) {
    if (s.NotAction !== undefined || s.NotResource !== undefined)
      throw new Error('the evaluator does not know NotAction or NotResource');
  }
  const hit = statements.filter((s) => matches(s, r));
  if (hit.some((s) => s.Effect === 'Deny')) return 'deny';
  return hit.some((s) => s.Effect === 'Allow') ? 'allow' : 'implicit-deny';
}
