// Who may do what in the audit bucket, declared once for the bucket policy
// (lib/audit-trail/bucket.ts) and the reading accounts' identity policy
// (lib/reader-policy.ts): an instance puts new objects under its own
// `logins/dt=<date>/<aws:userid>/` segment and does nothing else there.
import * as iam from 'aws-cdk-lib/aws-iam';
import { AUDIT_LOGINS_PREFIX } from '../../contract/audit.js';

/** IAM policy variable: the caller's `aws:userid` (`AROA...:i-0123...` for an instance role). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, resolved by IAM
export const USERID_VARIABLE = '${aws:userid}';

/** The keys an uploader may create: `logins/dt=<date>/<its aws:userid>/<name>`. */
export const OWN_LOGINS_PATTERN = `${AUDIT_LOGINS_PREFIX}dt=*/${USERID_VARIABLE}/*`;

/**
 * Four or more segments under logins/. IAM's `*` also matches `/`, so the grant above
 * alone would let `logins/dt=X/<victim>/<own userid>/f` through: a key under another
 * uploader's segment. The contract's keys have exactly three segments; deeper ones are denied.
 */
export const DEEPER_LOGINS_PATTERN = `${AUDIT_LOGINS_PREFIX}*/*/*/*`;

/** Present in every request signed with EC2 instance role credentials, in any account. */
export const INSTANCE_CREDENTIALS_CONDITION = { Null: { 'ec2:SourceInstanceARN': 'false' } };

export interface AuditWriteOptions {
  readonly bucketArn: string;
  readonly sid: string;
  /** For resource policies; omit for identity policies. */
  readonly principals?: iam.IPrincipal[];
  readonly conditions?: Record<string, Record<string, string | string[]>>;
}

/** PutObject under the caller's own segment only (the bucket policy denies the rest). */
export function auditWriteStatement(o: AuditWriteOptions): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: o.sid,
    actions: ['s3:PutObject'],
    resources: [`${o.bucketArn}/${OWN_LOGINS_PATTERN}`],
    principals: o.principals,
    conditions: o.conditions,
  });
}

/**
 * The denies that hold for every principal (administrators included: they guard
 * against accidents and compromised instances, not against whoever may change the
 * bucket policy): no key deeper than the layout, no write without If-None-Match
 * (no overwrite), no delete; and instance credentials may do nothing but put an
 * object under their own segment (whatever else their role's policies allow).
 */
export function auditDenyStatements(bucketArn: string): iam.PolicyStatement[] {
  const objects = `${bucketArn}/*`;
  const any = [new iam.AnyPrincipal()];
  return [
    new iam.PolicyStatement({
      sid: 'DenyKeysBelowTheLayout',
      effect: iam.Effect.DENY,
      principals: any,
      actions: ['s3:PutObject'],
      resources: [`${bucketArn}/${DEEPER_LOGINS_PATTERN}`],
    }),
    new iam.PolicyStatement({
      sid: 'DenyOverwrites',
      effect: iam.Effect.DENY,
      principals: any,
      actions: ['s3:PutObject'],
      resources: [objects],
      // Conditional writes: without If-None-Match a PUT could replace an existing object.
      conditions: { Null: { 's3:if-none-match': 'true' } },
    }),
    new iam.PolicyStatement({
      sid: 'DenyDeletes',
      effect: iam.Effect.DENY,
      principals: any,
      actions: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
      resources: [objects],
    }),
    new iam.PolicyStatement({
      sid: 'DenyInstancesAllButPut',
      effect: iam.Effect.DENY,
      principals: any,
      notActions: ['s3:PutObject'],
      resources: [bucketArn, objects],
      conditions: INSTANCE_CREDENTIALS_CONDITION,
    }),
    new iam.PolicyStatement({
      sid: 'DenyInstancesOtherSegments',
      effect: iam.Effect.DENY,
      principals: any,
      actions: ['s3:PutObject'],
      notResources: [`${bucketArn}/${OWN_LOGINS_PATTERN}`],
      conditions: INSTANCE_CREDENTIALS_CONDITION,
    }),
  ];
}
