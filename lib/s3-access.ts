// The S3 read grant shared by the bucket policy (cross-account) and the reader
// managed policy (instance roles): GetObject under the prefix, ListBucket only
// for listings of the prefix.
import { Aws, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { InvalidConfigError } from './config.js';

export function bucketArnOf(bucketName: string): string {
  return `arn:${Aws.PARTITION}:s3:::${bucketName}`;
}

/** ARN pattern of every object under the prefix ('' = the whole bucket). */
export function objectsArn(bucketArn: string, prefix: string): string {
  return `${bucketArn}/${prefix}*`;
}

/**
 * Condition limiting ListBucket to the prefix. With no prefix there is nothing
 * to limit, and a condition on an absent s3:prefix key would deny plain listings.
 */
export function listPrefixCondition(prefix: string): Record<string, Record<string, string>> | undefined {
  return prefix === '' ? undefined : { StringLike: { 's3:prefix': `${prefix}*` } };
}

export interface ReadStatementsOptions {
  readonly bucketArn: string;
  readonly prefix: string;
  /** For resource policies; omit for identity policies. */
  readonly principals?: iam.IPrincipal[];
  /** Extra conditions (e.g. aws:PrincipalOrgID) on both statements. */
  readonly conditions?: Record<string, Record<string, string | string[]>>;
  /** Statement id stem: sids are `${sid}Get` and `${sid}List`. */
  readonly sid: string;
}

export function readStatements(o: ReadStatementsOptions): iam.PolicyStatement[] {
  if (Token.isUnresolved(o.prefix))
    throw new InvalidConfigError('keyPrefix must be a plain string, not a token');
  const get = new iam.PolicyStatement({
    sid: `${o.sid}Get`,
    actions: ['s3:GetObject'],
    resources: [objectsArn(o.bucketArn, o.prefix)],
    principals: o.principals,
    conditions: o.conditions,
  });
  const list = new iam.PolicyStatement({
    sid: `${o.sid}List`,
    actions: ['s3:ListBucket'],
    resources: [o.bucketArn],
    principals: o.principals,
    conditions: mergeConditions(o.conditions, listPrefixCondition(o.prefix)),
  });
  return [get, list];
}

type Conditions = Record<string, Record<string, string | string[]>>;

/**
 * Merges per operator: a shallow spread would let the prefix's StringLike
 * replace a caller's StringLike (aws:PrincipalArn) and silently widen the grant.
 */
export function mergeConditions(
  a: Conditions | undefined,
  b: Conditions | undefined,
): Conditions | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  // Maps: an operator or key never meets Object.prototype (`constructor` would read as set).
  const out = new Map<string, Map<string, string | string[]>>();
  for (const src of [a, b]) {
    for (const [op, keys] of Object.entries(src)) {
      const merged = out.get(op) ?? new Map<string, string | string[]>();
      for (const [key, value] of Object.entries(keys)) {
        if (merged.has(key)) throw new InvalidConfigError(`condition ${op} ${key} set twice`);
        merged.set(key, value);
      }
      out.set(op, merged);
    }
  }
  return Object.fromEntries([...out].map(([op, keys]) => [op, Object.fromEntries(keys)]));
}
