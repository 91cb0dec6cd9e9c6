// SshKeyPublisher: the keys bucket, the publisher function, its schedule and
// IAM event rule, and its alarms. This file holds the props and their checks;
// publisher/bucket.ts, publisher/function.ts and publisher/alarms.ts build the parts.
import { Duration, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  InvalidConfigError,
  parseAccountIds,
  parseBreakGlassPrincipalArns,
  parseKeyPrefix,
  parseReaderPrincipalArnPatterns,
  parseScheduleMinutes,
  parseTagKeyPrefixSetting,
  type SharedSettings,
} from './config.js';
import { type LifecycleSettings, parseLifecycleSettings } from './lifecycle-settings.js';
import { publisherAlarms } from './publisher/alarms.js';
import { addKeysBucketPolicy, keysBucket } from './publisher/bucket.js';
import { DEFAULT_EVENT_BATCH_WINDOW_SECONDS } from './publisher/event-queue.js';
import { publisherFunction, publisherTriggers } from './publisher/function.js';

export {
  IAM_CHANGE_EVENTS,
  METRICS_NAMESPACE,
  PUBLISHER_METRICS,
  PUBLISHER_SERVICE_NAME,
  type PublisherMetric,
} from '../contract/publisher-settings.js';
export { DENIED_OBJECT_WRITES, EXISTING_BUCKET_WARNING } from './publisher/bucket.js';
export { EVENT_REGION_WARNING, PUBLISHER_IAM_ACTIONS } from './publisher/function.js';

/**
 * The shared settings (lib/config.ts SharedSettings: reader accounts, prefixes,
 * scheduleMinutes, eventDriven, bucketName), each optional, and the construct's own.
 */
export interface SshKeyPublisherProps extends Partial<SharedSettings> {
  /**
   * How long the queue of IAM change events gathers events before invoking the
   * publisher: a burst within the window becomes one run; a lone event waits
   * this long. 1 to 300 seconds (SQS batches over 10 messages need a window).
   * @default Duration.seconds(10)
   */
  readonly eventBatchWindow?: Duration;
  /**
   * Topic for alarm and OK notifications.
   * @default - alarms without actions
   */
  readonly alarmTopic?: sns.ITopic;
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
  /** The tag key prefix of keys in user tags. */
  public readonly tagKeyPrefix: string;
  /** Key lifecycle: maximum key age, grants (their tag key prefix), verify-required groups; checked. */
  public readonly lifecycle: LifecycleSettings;
  public readonly function: nodejs.NodejsFunction;
  public readonly role: iam.Role;
  public readonly scheduleRule: events.Rule;
  /** Present when eventDriven is on. */
  public readonly iamChangeRule: events.Rule | undefined;
  /** IAM change events on their way to the function (present when eventDriven is on). */
  public readonly eventQueue: sqs.Queue | undefined;
  /** Events that failed EVENT_MAX_RECEIVE_COUNT times (present when eventDriven is on). */
  public readonly eventDeadLetterQueue: sqs.Queue | undefined;
  public readonly eventDeadLetterAlarm: cloudwatch.Alarm | undefined;
  public readonly errorsAlarm: cloudwatch.Alarm;
  public readonly throttlesAlarm: cloudwatch.Alarm;
  public readonly stalenessAlarm: cloudwatch.Alarm;
  /** Informational: a first import (series of runs that stop in time) is in progress. */
  public readonly importInProgressAlarm: cloudwatch.Alarm;
  /** A run refused keys past maxKeyAgeDays (KeysExpired): their owners cannot log in with them. */
  public readonly keysExpiredAlarm: cloudwatch.Alarm;
  /** Present when the construct created the keys bucket. */
  public readonly accessLogsBucket: s3.IBucket | undefined;

  constructor(scope: Construct, id: string, props: SshKeyPublisherProps = {}) {
    super(scope, id);
    // Access logs delivered by bucket policy, not ACL (which owner-enforced buckets reject),
    // whatever the app's feature flags say.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    this.keyPrefix = parseKeyPrefix(props.keyPrefix);
    this.tagKeyPrefix = parseTagKeyPrefixSetting(props.tagKeyPrefix);
    this.lifecycle = parseLifecycleSettings((name) => props[name], this.tagKeyPrefix);
    const settings = checkedSettings(props);

    // --- Bucket ---
    const keys = keysBucket(this, props);
    this.bucket = keys.bucket;
    this.accessLogsBucket = keys.accessLogsBucket;

    // --- Function ---
    const fn = publisherFunction(this, {
      bucket: this.bucket,
      keyPrefix: this.keyPrefix,
      tagKeyPrefix: this.tagKeyPrefix,
      lifecycle: this.lifecycle,
      scheduleMinutes: settings.scheduleMinutes,
      logRetention: props.logRetention,
      maxDeleteShare: props.maxDeleteShare,
      uidBase: props.uidBase,
      memorySize: props.memorySize,
      timeout: props.timeout,
      entry: props.entry,
    });
    this.role = fn.role;
    this.function = fn.function;

    // --- Triggers ---
    const rules = publisherTriggers(this, this.function, {
      scheduleMinutes: settings.scheduleMinutes,
      eventDriven: props.eventDriven ?? true,
      functionTimeout: props.timeout ?? Duration.minutes(15),
      eventBatchWindow: settings.batchWindow,
      alarmTopic: props.alarmTopic,
    });
    this.scheduleRule = rules.scheduleRule;
    this.iamChangeRule = rules.iamChangeRule;
    this.eventQueue = rules.eventQueue?.queue;
    this.eventDeadLetterQueue = rules.eventQueue?.deadLetterQueue;
    this.eventDeadLetterAlarm = rules.eventQueue?.deadLetterAlarm;

    // --- Bucket policy (only on a bucket this construct owns) ---
    if (!props.bucket) {
      addKeysBucketPolicy(this.bucket, {
        keyPrefix: this.keyPrefix,
        readerAccountIds: settings.readerAccountIds,
        readerOrgId: props.readerOrgId,
        readerPatterns: settings.readerPatterns,
        publisherRoleArn: this.role.roleArn,
        breakGlass: settings.breakGlass,
      });
    }

    // --- Alarms ---
    const alarms = publisherAlarms(this, this.function, {
      scheduleMinutes: settings.scheduleMinutes,
      stalenessPeriods: settings.stalenessPeriods,
      alarmTopic: props.alarmTopic,
    });
    this.errorsAlarm = alarms.errorsAlarm;
    this.throttlesAlarm = alarms.throttlesAlarm;
    this.stalenessAlarm = alarms.stalenessAlarm;
    this.importInProgressAlarm = alarms.importInProgressAlarm;
    this.keysExpiredAlarm = alarms.keysExpiredAlarm;
  }
}

/** The props' settings, parsed and checked against each other (InvalidConfigError otherwise). */
function checkedSettings(props: SshKeyPublisherProps) {
  const readerAccountIds = parseAccountIds(props.readerAccountIds ? [...props.readerAccountIds] : undefined);
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
  const scheduleMinutes = parseScheduleMinutes(props.scheduleMinutes);
  const stalenessPeriods = props.stalenessPeriods ?? 3;
  if (!Number.isInteger(stalenessPeriods) || stalenessPeriods < 1) {
    throw new InvalidConfigError('stalenessPeriods must be a positive whole number');
  }
  // CloudWatch evaluates an alarm over at most one day.
  if (scheduleMinutes * stalenessPeriods > 1440) {
    throw new InvalidConfigError(
      `scheduleMinutes (${scheduleMinutes}) x stalenessPeriods (${stalenessPeriods}) exceeds CloudWatch's one-day alarm window`,
    );
  }
  if (props.bucket && props.bucketName) throw new InvalidConfigError('set bucket or bucketName, not both');
  const batchWindow = props.eventBatchWindow ?? Duration.seconds(DEFAULT_EVENT_BATCH_WINDOW_SECONDS);
  const windowSeconds = batchWindow.toMilliseconds() / 1000;
  if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > 300)
    throw new InvalidConfigError(`eventBatchWindow must be 1 to 300 whole seconds, got ${windowSeconds}`);
  return { readerAccountIds, readerPatterns, breakGlass, scheduleMinutes, stalenessPeriods, batchWindow };
}
