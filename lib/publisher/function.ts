// The publisher function of SshKeyPublisher: its log group, its role (the IAM
// reads it makes, object access under the prefix only), the function itself,
// and what runs it: a schedule and, optionally, IAM change events.
import { fileURLToPath } from 'node:url';
import { Annotations, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { DEFAULT_TAG_KEY_PREFIX } from '../../contract/index.js';
import {
  DEFAULT_MAX_DELETE_SHARE,
  DEFAULT_UID_BASE,
  IAM_CHANGE_EVENTS,
  METRICS_NAMESPACE,
  PUBLISHER_SERVICE_NAME,
  type PublisherEnv,
} from '../../contract/publisher-settings.js';
import { type LifecycleSettings, lifecycleEnvironment } from '../lifecycle-settings.js';
import { acknowledgeWildcardResource } from '../nag.js';
import { listPrefixCondition, objectsArn } from '../s3-access.js';
import { type EventQueue, eventQueue } from './event-queue.js';

export { IAM_CHANGE_EVENTS, METRICS_NAMESPACE, PUBLISHER_SERVICE_NAME };
/** Warning id, to acknowledge with Annotations.of(scope).acknowledgeWarning(id, reason). */
export const EVENT_REGION_WARNING = 'iam-ssh-keys:eventDrivenRegion';

/** IAM reads the publisher makes, and nothing else. */
export const PUBLISHER_IAM_ACTIONS = {
  account: ['iam:GetAccountAuthorizationDetails'],
  // GetUser and ListGroupsForUser: targeted runs re-read one user (lambda/targeted-read.ts).
  users: ['iam:GetSSHPublicKey', 'iam:GetUser', 'iam:ListGroupsForUser', 'iam:ListSSHPublicKeys'],
  // Targeted runs re-read one group's members.
  groups: ['iam:GetGroup'],
} as const;

const DEFAULT_ENTRY = fileURLToPath(new URL('../../lambda/handler.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface PublisherFunctionProps {
  readonly bucket: s3.IBucket;
  readonly keyPrefix: string;
  /** @default 'ssh-key:' */
  readonly tagKeyPrefix?: string | undefined;
  readonly lifecycle: LifecycleSettings;
  readonly scheduleMinutes: number;
  readonly logRetention?: logs.RetentionDays | undefined;
  readonly maxDeleteShare?: number | undefined;
  readonly uidBase?: number | undefined;
  readonly memorySize?: number | undefined;
  readonly timeout?: Duration | undefined;
  readonly entry?: string | undefined;
}

/** The function's role: the IAM reads it uses, object actions under the prefix, its own log group; nothing else. */
function publisherRole(
  scope: Construct,
  bucket: s3.IBucket,
  keyPrefix: string,
  logGroup: logs.ILogGroup,
): iam.Role {
  const stack = Stack.of(scope);
  const role = new iam.Role(scope, 'Role', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: 'iam-ssh-keys publisher: reads IAM SSH keys, writes them under the bucket prefix',
  });
  role.addToPolicy(
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
  role.addToPolicy(accountWide);
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ReadIamSshKeys',
      actions: [...PUBLISHER_IAM_ACTIONS.users],
      resources: [userArns],
    }),
  );
  const groupArns = `arn:${stack.partition}:iam::${stack.account}:group/*`;
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ReadIamGroups',
      actions: [...PUBLISHER_IAM_ACTIONS.groups],
      resources: [groupArns],
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'ListKeyObjects',
      actions: ['s3:ListBucket'],
      resources: [bucket.bucketArn],
      conditions: listPrefixCondition(keyPrefix),
    }),
  );
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'WriteKeyObjects',
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resources: [objectsArn(bucket.bucketArn, keyPrefix)],
    }),
  );
  const policy = role.node.findChild('DefaultPolicy');
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
    groupArns,
    'Targeted runs re-read the members of the group an IAM event names, which can be any group; read action only.',
  );
  acknowledgeWildcardResource(
    policy,
    objectsArn(bucket.bucketArn, keyPrefix),
    'Object access is limited to the key prefix; the object names are IAM user and group names.',
  );
  return role;
}

/** The function, with its role and log group. */
export function publisherFunction(
  scope: Construct,
  props: PublisherFunctionProps,
): { function: nodejs.NodejsFunction; role: iam.Role } {
  const { bucket, keyPrefix, scheduleMinutes } = props;
  const logGroup = new logs.LogGroup(scope, 'LogGroup', {
    retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const role = publisherRole(scope, bucket, keyPrefix, logGroup);

  const fn = new nodejs.NodejsFunction(scope, 'Function', {
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
    role,
    logGroup,
    environment: {
      BUCKET: bucket.bucketName,
      KEY_PREFIX: keyPrefix,
      MAX_DELETE_SHARE: String(props.maxDeleteShare ?? DEFAULT_MAX_DELETE_SHARE),
      ALLOW_MASS_DELETE: 'false',
      UID_BASE: String(props.uidBase ?? DEFAULT_UID_BASE),
      TAG_KEY_PREFIX: props.tagKeyPrefix ?? DEFAULT_TAG_KEY_PREFIX,
      // Events start at most one full run per schedule period for users' copied keys.
      EVENT_FULL_RUN_MINUTES: String(scheduleMinutes),
      ...lifecycleEnvironment(props.lifecycle),
      // Read by Powertools, not by our code.
      POWERTOOLS_SERVICE_NAME: PUBLISHER_SERVICE_NAME,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      NODE_OPTIONS: '--enable-source-maps',
    } satisfies PublisherEnv &
      Record<'POWERTOOLS_SERVICE_NAME' | 'POWERTOOLS_METRICS_NAMESPACE' | 'NODE_OPTIONS', string>,
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
  return { function: fn, role };
}

/** The schedule rule, and the IAM change rule when eventDriven (with a warning where its events never arrive). */
export function publisherTriggers(
  scope: Construct,
  fn: lambda.IFunction,
  props: {
    readonly scheduleMinutes: number;
    readonly eventDriven: boolean;
    readonly functionTimeout: Duration;
    readonly eventBatchWindow: Duration;
    readonly alarmTopic?: sns.ITopic | undefined;
  },
): { scheduleRule: events.Rule; iamChangeRule: events.Rule | undefined; eventQueue: EventQueue | undefined } {
  const scheduleRule = new events.Rule(scope, 'Schedule', {
    description: 'iam-ssh-keys: publish SSH keys on a schedule',
    schedule: events.Schedule.rate(Duration.minutes(props.scheduleMinutes)),
    targets: [new targets.LambdaFunction(fn)],
  });
  if (!props.eventDriven) return { scheduleRule, iamChangeRule: undefined, eventQueue: undefined };
  const queue = eventQueue(scope, fn, {
    functionTimeout: props.functionTimeout,
    batchWindow: props.eventBatchWindow,
    alarmTopic: props.alarmTopic,
  });
  const iamChangeRule = new events.Rule(scope, 'IamChanges', {
    description: 'iam-ssh-keys: queue IAM user, group or SSH key changes (CloudTrail) for the publisher',
    eventPattern: {
      source: ['aws.iam'],
      detailType: ['AWS API Call via CloudTrail'],
      detail: { eventSource: ['iam.amazonaws.com'], eventName: [...IAM_CHANGE_EVENTS] },
    },
    targets: [new targets.SqsQueue(queue.queue)],
  });
  const region = Stack.of(scope).region;
  if (Token.isUnresolved(region)) {
    Annotations.of(scope).addWarningV2(
      EVENT_REGION_WARNING,
      'eventDriven: IAM change events reach EventBridge only in us-east-1, and only with a CloudTrail trail. Deploy this stack in us-east-1, or forward them from us-east-1 (IamEventsForwarderStack, -c forwardIamEventsTo=REGION); otherwise only the schedule runs the publisher.',
    );
  } else if (region !== 'us-east-1') {
    Annotations.of(scope).addWarningV2(
      EVENT_REGION_WARNING,
      `eventDriven: IAM change events reach EventBridge only in us-east-1, not ${region}: the IamChanges rule fires here only for events forwarded from us-east-1 (IamEventsForwarderStack, -c forwardIamEventsTo=${region}); without it only the schedule runs the publisher.`,
    );
  }
  return { scheduleRule, iamChangeRule, eventQueue: queue };
}
