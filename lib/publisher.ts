// SshKeyPublisher: the keys bucket, the publisher function, its schedule and
// IAM event rule, and its alarms.
import { fileURLToPath } from 'node:url';
import { Annotations, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  InvalidConfigError,
  parseAccountIds,
  parseBreakGlassPrincipalArns,
  parseKeyPrefix,
  parseReaderPrincipalArnPatterns,
} from './config.js';
import { acknowledgeWildcardResource } from './nag.js';
import { listPrefixCondition, objectsArn, readStatements } from './s3-access.js';

export const PUBLISHER_SERVICE_NAME = 'iam-ssh-keys-publisher';
export const METRICS_NAMESPACE = 'IamSshKeys';
export const PUBLISH_SUCCEEDED_METRIC = 'PublishSucceeded';
/** Warning ids, to acknowledge with Annotations.of(scope).acknowledgeWarning(id, reason). */
export const EVENT_REGION_WARNING = 'iam-ssh-keys:eventDrivenRegion';
export const EXISTING_BUCKET_WARNING = 'iam-ssh-keys:existingBucketPolicy';

/** IAM reads the publisher makes, and nothing else. */
export const PUBLISHER_IAM_ACTIONS = {
  account: ['iam:GetAccountAuthorizationDetails'],
  users: ['iam:GetSSHPublicKey', 'iam:ListSSHPublicKeys'],
} as const;

/** IAM API calls that change what the bucket should hold (CloudTrail event names). */
export const IAM_CHANGE_EVENTS = [
  'UploadSSHPublicKey',
  'UpdateSSHPublicKey',
  'DeleteSSHPublicKey',
  'CreateUser',
  'DeleteUser',
  'UpdateUser',
  'AddUserToGroup',
  'RemoveUserFromGroup',
  'CreateGroup',
  'DeleteGroup',
  'UpdateGroup',
] as const;

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

const DEFAULT_ENTRY = fileURLToPath(new URL('../lambda/handler.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface SshKeyPublisherProps {
  /**
   * Accounts whose principals may read the keys (GetObject under the prefix,
   * ListBucket of the prefix). Their own IAM policies must allow it too
   * (see SshKeyReaderPolicy).
   * @default - no other account
   */
  readonly readerAccountIds?: readonly string[];
  /**
   * An AWS Organizations id (o-...) whose principals may read the keys.
   * @default - no organization-wide read
   */
  readonly readerOrgId?: string;
  /**
   * Only principals whose ARN matches one of these patterns (StringLike
   * aws:PrincipalArn, e.g. `arn:aws:iam::*:role/*-instance`) get the
   * readerAccountIds/readerOrgId read grants. A role session's aws:PrincipalArn
   * is the role's ARN (with its path), not the assumed-role ARN.
   * @default - every principal of those accounts/the organization
   */
  readonly readerPrincipalArnPatterns?: readonly string[];
  /**
   * IAM role or user ARNs in this account exempt from DenyWritesExceptPublisher,
   * for a break-glass `iam-ssh-keys publish` when the function is broken. This
   * lifts the deny only; it grants nothing: those principals still need an
   * identity policy allowing the publisher's IAM reads and S3 list/get/put/delete
   * under the prefix. No wildcards.
   * @default - none: only the publisher role writes
   */
  readonly breakGlassPrincipalArns?: readonly string[];
  /**
   * Key prefix for every object ('' or 'p/'; a missing trailing slash is added).
   *
   * With a prefix, readers get s3:ListBucket only for `s3:prefix` = prefix*.
   * S3 answers 404 for a missing object only to callers allowed to list, and
   * that check runs without s3:prefix, so a missing object most likely answers
   * 403 (AccessDenied) instead. Hosts treat 403 as a failure, not as "no keys":
   * a principal deleted from IAM but still named in a host's `users` map then
   * fails that local account closed once its cached copy expires. Prefer a
   * dedicated bucket with no prefix; with one, keep host `users` maps free of
   * deleted principals.
   * @default '' (bucket root)
   */
  readonly keyPrefix?: string;
  /**
   * How often the publisher runs. Whole minutes, 1 minute to 1 day.
   * @default Duration.minutes(15)
   */
  readonly schedule?: Duration;
  /**
   * Also run on IAM changes (CloudTrail events via EventBridge). Those events
   * reach EventBridge only in us-east-1 and only with a CloudTrail trail.
   * @default true
   */
  readonly eventDriven?: boolean;
  /**
   * Topic for alarm and OK notifications.
   * @default - alarms without actions
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Name of the keys bucket to create.
   * @default - a name generated by CloudFormation
   */
  readonly bucketName?: string;
  /**
   * Publish to an existing bucket instead of creating one. Its owner must apply
   * the bucket policy (cross-account read, deny of other writers) themselves:
   * a stack cannot attach statements to an imported bucket.
   * @default - a new bucket
   */
  readonly bucket?: s3.IBucket;
  /**
   * How long replaced or deleted object versions are kept (to restore keys).
   * @default Duration.days(30)
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * Bucket receiving the keys bucket's server access logs (who read which keys).
   * @default - a new, retained bucket; logs expire after 365 days
   */
  readonly accessLogsBucket?: s3.IBucket;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Alarm when no run succeeded for this many schedule periods in a row.
   * @default 3
   */
  readonly stalenessPeriods?: number;
  /**
   * Largest share of existing key files one run may delete (MAX_DELETE_SHARE).
   * @default 0.5
   */
  readonly maxDeleteShare?: number;
  /**
   * First UID the publisher allocates to IAM users (UID_BASE).
   * @default 20000
   */
  readonly uidBase?: number;
  /**
   * Function memory. IAM calls dominate, not CPU; 1 GB buys network headroom.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Function timeout. A first run for 5,000 users makes one ListSSHPublicKeys
   * call per user plus one GetSSHPublicKey per key, under IAM's API throttling.
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;
  /**
   * Handler source file (exporting `handler`).
   * @default lambda/handler.ts of this repository
   */
  readonly entry?: string;
}

export class SshKeyPublisher extends Construct {
  /** The keys bucket. */
  public readonly bucket: s3.IBucket;
  /** Normalised key prefix ('' or 'p/'). */
  public readonly keyPrefix: string;
  public readonly function: nodejs.NodejsFunction;
  public readonly role: iam.Role;
  public readonly scheduleRule: events.Rule;
  /** Present when eventDriven is on. */
  public readonly iamChangeRule: events.Rule | undefined;
  public readonly errorsAlarm: cloudwatch.Alarm;
  public readonly throttlesAlarm: cloudwatch.Alarm;
  public readonly stalenessAlarm: cloudwatch.Alarm;
  /** Present when the construct created the keys bucket. */
  public readonly accessLogsBucket: s3.IBucket | undefined;

  constructor(scope: Construct, id: string, props: SshKeyPublisherProps = {}) {
    super(scope, id);
    // Access logs delivered by bucket policy, not ACL (which owner-enforced buckets reject),
    // whatever the app's feature flags say.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const stack = Stack.of(this);
    this.keyPrefix = parseKeyPrefix(props.keyPrefix);
    const readerAccountIds = parseAccountIds(
      props.readerAccountIds ? [...props.readerAccountIds] : undefined,
    );
    const readerPatterns = parseReaderPrincipalArnPatterns(
      props.readerPrincipalArnPatterns ? [...props.readerPrincipalArnPatterns] : undefined,
    );
    // Tokens (another construct's roleArn) cannot be checked at synth; plain strings are.
    const breakGlass = [
      ...new Set([
        ...(props.breakGlassPrincipalArns ?? []).filter((a) => Token.isUnresolved(a)),
        ...parseBreakGlassPrincipalArns(
          (props.breakGlassPrincipalArns ?? []).filter((a) => !Token.isUnresolved(a)),
        ),
      ]),
    ];
    const scheduleMinutes = wholeMinutes(props.schedule ?? Duration.minutes(15));
    const stalenessPeriods = props.stalenessPeriods ?? 3;
    if (scheduleMinutes < 1 || scheduleMinutes > 1440) {
      throw new InvalidConfigError(`schedule must be 1 minute to 1 day, got ${scheduleMinutes} minutes`);
    }
    if (!Number.isInteger(stalenessPeriods) || stalenessPeriods < 1) {
      throw new InvalidConfigError('stalenessPeriods must be a positive whole number');
    }
    // CloudWatch evaluates an alarm over at most one day.
    if (scheduleMinutes * stalenessPeriods > 1440) {
      throw new InvalidConfigError(
        `schedule (${scheduleMinutes} min) x stalenessPeriods (${stalenessPeriods}) exceeds CloudWatch's one-day alarm window`,
      );
    }
    if (props.bucket && props.bucketName) throw new InvalidConfigError('set bucket or bucketName, not both');

    // --- Bucket ---
    if (props.bucket) {
      this.bucket = props.bucket;
      Annotations.of(this).addWarningV2(
        EXISTING_BUCKET_WARNING,
        'Publishing to an existing bucket: its owner must add the read, deny-writes and TLS statements to its bucket policy (see README, deploy).',
      );
    } else {
      const accessLogs =
        props.accessLogsBucket ??
        new s3.Bucket(this, 'AccessLogsBucket', {
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
      this.accessLogsBucket = accessLogs;
      this.bucket = new s3.Bucket(this, 'Bucket', {
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
    }

    // --- Function ---
    const logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'iam-ssh-keys publisher: reads IAM SSH keys, writes them under the bucket prefix',
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'Logs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    const accountWide = new iam.PolicyStatement({
      sid: 'ReadIamAccount',
      actions: [...PUBLISHER_IAM_ACTIONS.account],
      resources: ['*'],
    });
    const userArns = `arn:${stack.partition}:iam::${stack.account}:user/*`;
    this.role.addToPolicy(accountWide);
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadIamSshKeys',
        actions: [...PUBLISHER_IAM_ACTIONS.users],
        resources: [userArns],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ListKeyObjects',
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: listPrefixCondition(this.keyPrefix),
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteKeyObjects',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: [objectsArn(this.bucket.bucketArn, this.keyPrefix)],
      }),
    );
    const policy = this.role.node.findChild('DefaultPolicy');
    acknowledgeWildcardResource(
      policy,
      '*',
      'iam:GetAccountAuthorizationDetails supports no resource-level permissions: it reads the whole account.',
    );
    acknowledgeWildcardResource(
      policy,
      userArns,
      "The publisher reads every IAM user's SSH keys, which is its job; read actions only.",
    );
    acknowledgeWildcardResource(
      policy,
      objectsArn(this.bucket.bucketArn, this.keyPrefix),
      'Object access is limited to the key prefix; the object names are IAM user and group names.',
    );

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      description: 'iam-ssh-keys publisher: IAM SSH public keys -> authorized_keys objects in S3',
      entry: props.entry ?? DEFAULT_ENTRY,
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: `${REPO_ROOT}package-lock.json`,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.minutes(15),
      // One run at a time: two runs would race on index.json and UID allocation.
      reservedConcurrentExecutions: 1,
      // The next scheduled run supersedes a failed or long-queued one.
      retryAttempts: 0,
      maxEventAge: Duration.minutes(Math.min(Math.max(scheduleMinutes, 1), 360)),
      role: this.role,
      logGroup,
      environment: {
        BUCKET: this.bucket.bucketName,
        KEY_PREFIX: this.keyPrefix,
        MAX_DELETE_SHARE: String(props.maxDeleteShare ?? 0.5),
        ALLOW_MASS_DELETE: 'false',
        UID_BASE: String(props.uidBase ?? 20000),
        POWERTOOLS_SERVICE_NAME: PUBLISHER_SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.CJS,
        target: 'node24',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // Bundle SDK v3 and Powertools: the function runs the versions it was tested with.
        externalModules: [],
      },
    });

    // --- Triggers ---
    this.scheduleRule = new events.Rule(this, 'Schedule', {
      description: 'iam-ssh-keys: publish SSH keys on a schedule',
      schedule: events.Schedule.rate(Duration.minutes(scheduleMinutes)),
      targets: [new targets.LambdaFunction(this.function)],
    });
    if (props.eventDriven ?? true) {
      this.iamChangeRule = new events.Rule(this, 'IamChanges', {
        description: 'iam-ssh-keys: publish after IAM user, group or SSH key changes (CloudTrail)',
        eventPattern: {
          source: ['aws.iam'],
          detailType: ['AWS API Call via CloudTrail'],
          detail: { eventSource: ['iam.amazonaws.com'], eventName: [...IAM_CHANGE_EVENTS] },
        },
        targets: [new targets.LambdaFunction(this.function)],
      });
      const region = stack.region;
      if (Token.isUnresolved(region)) {
        Annotations.of(this).addWarningV2(
          EVENT_REGION_WARNING,
          'eventDriven: IAM change events reach EventBridge only in us-east-1, and only with a CloudTrail trail. Deploy this stack in us-east-1 for them; elsewhere only the schedule runs the publisher.',
        );
      } else if (region !== 'us-east-1') {
        Annotations.of(this).addWarningV2(
          EVENT_REGION_WARNING,
          `eventDriven: IAM change events reach EventBridge only in us-east-1, not ${region}: the IamChanges rule will never fire here; only the schedule runs the publisher.`,
        );
      }
    } else {
      this.iamChangeRule = undefined;
    }

    // --- Bucket policy (only on a bucket this construct owns) ---
    if (!props.bucket) {
      const bucketArn = this.bucket.bucketArn;
      if (readerAccountIds.length > 0) {
        for (const s of readStatements({
          bucketArn,
          prefix: this.keyPrefix,
          sid: 'ReaderAccounts',
          principals: readerAccountIds.map((a) => new iam.AccountPrincipal(a)),
          conditions: principalPatternCondition(readerPatterns),
        })) {
          this.bucket.addToResourcePolicy(s);
        }
      }
      if (props.readerOrgId) {
        for (const s of readStatements({
          bucketArn,
          prefix: this.keyPrefix,
          sid: 'ReaderOrganization',
          principals: [new iam.AnyPrincipal()],
          conditions: {
            StringEquals: { 'aws:PrincipalOrgID': props.readerOrgId },
            ...principalPatternCondition(readerPatterns),
          },
        })) {
          this.bucket.addToResourcePolicy(s);
        }
      }
      // Only the publisher (and named break-glass principals) write keys. This
      // guards against accidents, not admins: anyone allowed s3:PutBucketPolicy,
      // or the root user, can remove it.
      const writers = [this.role.roleArn, ...breakGlass];
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'DenyWritesExceptPublisher',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: [...DENIED_OBJECT_WRITES],
          resources: [this.bucket.arnForObjects('*')],
          conditions: {
            ArnNotEquals: { 'aws:PrincipalArn': writers.length === 1 ? this.role.roleArn : writers },
          },
        }),
      );
    }

    // --- Alarms ---
    const period = Duration.minutes(scheduleMinutes);
    this.errorsAlarm = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      alarmDescription: 'iam-ssh-keys publisher: a run failed',
      metric: this.function.metricErrors({ period, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // Some throttling is normal (one slot, bursts of IAM events); every period for three is not.
    this.throttlesAlarm = new cloudwatch.Alarm(this, 'ThrottlesAlarm', {
      alarmDescription: 'iam-ssh-keys publisher: invocations throttled in 3 consecutive periods',
      metric: this.function.metricThrottles({ period, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    // Missing data is breaching: a publisher that never runs emits nothing.
    this.stalenessAlarm = new cloudwatch.Alarm(this, 'StalenessAlarm', {
      alarmDescription: `iam-ssh-keys publisher: no successful publish for ${stalenessPeriods} schedule periods`,
      metric: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: PUBLISH_SUCCEEDED_METRIC,
        dimensionsMap: { service: PUBLISHER_SERVICE_NAME },
        statistic: 'Sum',
        period,
      }),
      threshold: 1,
      evaluationPeriods: stalenessPeriods,
      datapointsToAlarm: stalenessPeriods,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    if (props.alarmTopic) {
      const action = new cwActions.SnsAction(props.alarmTopic);
      for (const alarm of [this.errorsAlarm, this.throttlesAlarm, this.stalenessAlarm]) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
  }
}

function principalPatternCondition(
  patterns: readonly string[],
): { StringLike: Record<string, string[]> } | undefined {
  return patterns.length === 0 ? undefined : { StringLike: { 'aws:PrincipalArn': [...patterns] } };
}

function wholeMinutes(d: Duration): number {
  try {
    return d.toMinutes({ integral: true });
  } catch (err) {
    throw new InvalidConfigError(`schedule must be whole minutes, got ${d.toHumanString()}`, { cause: err });
  }
}
