// The audit bucket of SshKeyAuditTrail: apart from the keys bucket (other
// writers, other retention, no reader may read it). Versioned, SSE-S3, TLS only,
// access-logged, retained; objects expire after auditRetentionDays. Its policy
// lets the reading accounts' instances put objects under their own segment.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { AUDIT_LOGINS_PREFIX } from '../../contract/audit.js';
import { auditDenyStatements, auditWriteStatement } from './access.js';

/** The S3 request metrics filter on logins/ (the dashboard's uploads per hour). */
export const LOGINS_METRICS_FILTER = 'Logins';

export interface AuditBucketProps {
  readonly retentionDays: number;
  readonly accessLogsBucket: s3.IBucket;
  readonly bucketName?: string | undefined;
}

export function auditBucket(scope: Construct, props: AuditBucketProps): s3.Bucket {
  return new s3.Bucket(scope, 'Bucket', {
    bucketName: props.bucketName,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    // SSE-S3: writers in other accounts need no KMS grant.
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    versioned: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    removalPolicy: RemovalPolicy.RETAIN,
    serverAccessLogsBucket: props.accessLogsBucket,
    serverAccessLogsPrefix: 'audit-bucket/',
    metrics: [{ id: LOGINS_METRICS_FILTER, prefix: AUDIT_LOGINS_PREFIX }],
    lifecycleRules: [
      {
        id: 'ExpireLoginRecords',
        expiration: Duration.days(props.retentionDays),
        // Versions only become noncurrent by this expiry (overwrites and deletes are denied).
        noncurrentVersionExpiration: Duration.days(30),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      },
      // S3 refuses ExpiredObjectDeleteMarker beside Days in one rule.
      { id: 'RemoveExpiredDeleteMarkers', expiredObjectDeleteMarker: true },
    ],
  });
}

export interface AuditBucketPolicyProps {
  readonly readerAccountIds: readonly string[];
  readonly readerOrgId?: string | undefined;
  /** StringLike aws:PrincipalArn patterns narrowing both grants, as for the keys. */
  readonly readerPatterns: readonly string[];
}

/**
 * The same accounts and organization that may read the keys may write login
 * records (their instances do both); this account's instances need only their
 * identity policy (SshKeyReaderPolicy with auditBucketName). The denies hold for all.
 */
export function addAuditBucketPolicy(bucket: s3.IBucket, p: AuditBucketPolicyProps): void {
  const patterns: Record<string, Record<string, string[]>> = p.readerPatterns.length === 0
    ? {}
    : { StringLike: { 'aws:PrincipalArn': [...p.readerPatterns] } };
  if (p.readerAccountIds.length > 0) {
    bucket.addToResourcePolicy(
      auditWriteStatement({
        bucketArn: bucket.bucketArn,
        sid: 'ReaderAccountsWriteOwnLogins',
        principals: p.readerAccountIds.map((a) => new iam.AccountPrincipal(a)),
        conditions: patterns,
      }),
    );
  }
  if (p.readerOrgId) {
    bucket.addToResourcePolicy(
      auditWriteStatement({
        bucketArn: bucket.bucketArn,
        sid: 'ReaderOrganizationWriteOwnLogins',
        principals: [new iam.AnyPrincipal()],
        conditions: { StringEquals: { 'aws:PrincipalOrgID': p.readerOrgId }, ...patterns },
      }),
    );
  }
  for (const s of auditDenyStatements(bucket.bucketArn)) bucket.addToResourcePolicy(s);
}
