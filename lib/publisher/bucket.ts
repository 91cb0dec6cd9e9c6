// The keys bucket of SshKeyPublisher (versioned, SSE-S3, access-logged,
// retained) and its policy: reads for the reader accounts and organization,
// object writes denied to every principal but the publisher.
import { Annotations, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { readStatements } from '../s3-access.js';

/** Warning id, to acknowledge with Annotations.of(scope).acknowledgeWarning(id, reason). */
export const EXISTING_BUCKET_WARNING = 'iam-ssh-keys:existingBucketPolicy';

/** Object writes denied to every principal but the publisher. */
export const DENIED_OBJECT_WRITES = [
  's3:PutObject',
  's3:PutObjectTagging',
  's3:PutObjectVersionTagging',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:DeleteObjectTagging',
  's3:DeleteObjectVersionTagging',
  's3:ReplicateObject',
  's3:ReplicateDelete',
  's3:RestoreObject',
] as const;

export interface KeysBucketProps {
  readonly bucket?: s3.IBucket;
  readonly bucketName?: string;
  readonly noncurrentVersionExpiration?: Duration;
  readonly accessLogsBucket?: s3.IBucket;
}

/** A retained bucket for server access logs (kept 365 days). */
export function accessLogsBucket(scope: Construct, id: string): s3.Bucket {
  return new s3.Bucket(scope, id, {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    // Server access logging delivers only to SSE-S3 buckets.
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    removalPolicy: RemovalPolicy.RETAIN,
    lifecycleRules: [
      {
        id: 'ExpireAccessLogs',
        expiration: Duration.days(365),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      },
    ],
  });
}

/**
 * The given bucket (its owner is warned to write the policy), or a new keys
 * bucket with the bucket its access logs go to (given, or new and retained).
 */
export function keysBucket(
  scope: Construct,
  props: KeysBucketProps,
): { bucket: s3.IBucket; accessLogsBucket: s3.IBucket | undefined } {
  if (props.bucket) {
    Annotations.of(scope).addWarningV2(
      EXISTING_BUCKET_WARNING,
      'Publishing to an existing bucket: its owner must add the read, deny-writes and TLS statements to its bucket policy (see docs/deploy.md).',
    );
    return { bucket: props.bucket, accessLogsBucket: undefined };
  }
  const accessLogs = props.accessLogsBucket ?? accessLogsBucket(scope, 'AccessLogsBucket');
  const bucket = new s3.Bucket(scope, 'Bucket', {
    bucketName: props.bucketName,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    // SSE-S3, not KMS: cross-account readers then need no key grant.
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    versioned: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    // Keys and UID allocations outlive the stack.
    removalPolicy: RemovalPolicy.RETAIN,
    serverAccessLogsBucket: accessLogs,
    serverAccessLogsPrefix: 'keys-bucket/',
    lifecycleRules: [
      {
        id: 'ExpireOldVersions',
        noncurrentVersionExpiration: props.noncurrentVersionExpiration ?? Duration.days(30),
        expiredObjectDeleteMarker: true,
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      },
    ],
  });
  return { bucket, accessLogsBucket: accessLogs };
}

export interface KeysBucketPolicyProps {
  readonly keyPrefix: string;
  readonly readerAccountIds: readonly string[];
  readonly readerOrgId?: string | undefined;
  readonly readerPatterns: readonly string[];
  /** The publisher's role: the one writer, with the break-glass principals. */
  readonly publisherRoleArn: string;
  readonly breakGlass: readonly string[];
}

/** The statements of a bucket the construct owns (an existing bucket's owner writes them). */
export function addKeysBucketPolicy(bucket: s3.IBucket, p: KeysBucketPolicyProps): void {
  const bucketArn = bucket.bucketArn;
  if (p.readerAccountIds.length > 0) {
    for (const s of readStatements({
      bucketArn,
      prefix: p.keyPrefix,
      sid: 'ReaderAccounts',
      principals: p.readerAccountIds.map((a) => new iam.AccountPrincipal(a)),
      conditions: principalPatternCondition(p.readerPatterns),
    })) {
      bucket.addToResourcePolicy(s);
    }
  }
  if (p.readerOrgId) {
    for (const s of readStatements({
      bucketArn,
      prefix: p.keyPrefix,
      sid: 'ReaderOrganization',
      principals: [new iam.AnyPrincipal()],
      conditions: {
        StringEquals: { 'aws:PrincipalOrgID': p.readerOrgId },
        ...principalPatternCondition(p.readerPatterns),
      },
    })) {
      bucket.addToResourcePolicy(s);
    }
  }
  // Only the publisher (and named break-glass principals) write keys. This
  // guards against accidents, not admins: anyone allowed s3:PutBucketPolicy,
  // or the root user, can remove it.
  const writers = [p.publisherRoleArn, ...p.breakGlass];
  bucket.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'DenyWritesExceptPublisher',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: [...DENIED_OBJECT_WRITES],
      resources: [bucket.arnForObjects('*')],
      conditions: {
        ArnNotEquals: { 'aws:PrincipalArn': writers.length === 1 ? p.publisherRoleArn : writers },
      },
    }),
  );
}

function principalPatternCondition(
  patterns: readonly string[],
): { StringLike: Record<string, string[]> } | undefined {
  return patterns.length === 0 ? undefined : { StringLike: { 'aws:PrincipalArn': [...patterns] } };
}
