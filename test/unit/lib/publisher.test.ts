import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IAM_CHANGE_EVENTS as CONTRACT_IAM_CHANGE_EVENTS } from '../../../contract/publisher-settings.js';
import { MAX_BATCH_RECORDS, TARGETED_EVENT_NAMES } from '../../../lambda/event-targets.js';
import {
  DENIED_OBJECT_WRITES,
  IAM_CHANGE_EVENTS,
  SshKeyPublisher,
  type SshKeyPublisherProps,
} from '../../../lib/publisher.js';
import {
  actionsOf,
  logicalIdOf,
  roleStatements,
  type Statement,
  type TestApp,
  testApp,
} from './cdk-helpers.js';

const ACCOUNTS = ['111111111111', '222222222222'];
const ORG = 'o-abcdef1234';

interface Synth {
  readonly stack: Stack;
  readonly publisher: SshKeyPublisher;
  readonly template: Template;
  readonly bucketId: string;
  readonly roleId: string;
}

const apps: TestApp[] = [];
function synth(props: SshKeyPublisherProps, opts: { bundle?: boolean; region?: string } = {}): Synth {
  const t = testApp({}, { bundle: opts.bundle ?? false });
  apps.push(t);
  const stack = new Stack(t.app, 'Test', opts.region ? { env: { region: opts.region } } : {});
  const publisher = new SshKeyPublisher(stack, 'Publisher', props);
  const template = Template.fromStack(stack);
  return {
    stack,
    publisher,
    template,
    bucketId: logicalIdOf(stack, publisher.bucket),
    roleId: logicalIdOf(stack, publisher.role),
  };
}
afterAll(() => {
  for (const a of apps) a.cleanup();
});

const bucketArn = (s: Synth) => ({ 'Fn::GetAtt': [s.bucketId, 'Arn'] });
const objectsArn = (s: Synth, prefix: string) => ({
  'Fn::Join': ['', [{ 'Fn::GetAtt': [s.bucketId, 'Arn'] }, `/${prefix}*`]],
});

function bucketPolicy(s: Synth): Statement[] {
  const policies = s.template.findResources('AWS::S3::BucketPolicy', {
    Properties: { Bucket: { Ref: s.bucketId } },
  });
  const [policy] = Object.values(policies) as {
    Properties: { PolicyDocument: { Statement: Statement[] } };
  }[];
  if (!policy) throw new Error('no bucket policy');
  return policy.Properties.PolicyDocument.Statement;
}

describe('SshKeyPublisher with readers and a prefix (bundled)', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth({ readerAccountIds: ACCOUNTS, readerOrgId: ORG, keyPrefix: 'ssh' }, { bundle: true });
  });

  it('bucket: public access blocked, SSE-S3, versioned with old versions expiring, owner-enforced, access-logged, retained', () => {
    s.template.hasResource('AWS::S3::Bucket', {
      Properties: {
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LifecycleConfiguration: {
          Rules: [
            Match.objectLike({
              Status: 'Enabled',
              NoncurrentVersionExpiration: { NoncurrentDays: 30 },
              ExpiredObjectDeleteMarker: true,
            }),
          ],
        },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    const keys = s.template.toJSON().Resources[s.bucketId];
    expect(
      keys.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault,
    ).toEqual({ SSEAlgorithm: 'AES256' });
  });

  it('bucket policy: denies non-TLS access (and TLS < 1.2)', () => {
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: s.bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  it('bucket policy: reader accounts may GetObject under the prefix and ListBucket the prefix only', () => {
    const principal = {
      AWS: ACCOUNTS.map((a) => ({
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${a}:root`]],
      })),
    };
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: s.bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'ReaderAccountsGet',
            Effect: 'Allow',
            Principal: principal,
            Action: 's3:GetObject',
            Resource: objectsArn(s, 'ssh/'),
          },
          {
            Sid: 'ReaderAccountsList',
            Effect: 'Allow',
            Principal: principal,
            Action: 's3:ListBucket',
            Resource: bucketArn(s),
            Condition: { StringLike: { 's3:prefix': 'ssh/*' } },
          },
        ]),
      },
    });
  });

  it('bucket policy: the organization may read, conditioned on aws:PrincipalOrgID', () => {
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: s.bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'ReaderOrganizationGet',
            Effect: 'Allow',
            Principal: { AWS: '*' },
            Action: 's3:GetObject',
            Resource: objectsArn(s, 'ssh/'),
            Condition: { StringEquals: { 'aws:PrincipalOrgID': ORG } },
          },
          {
            Sid: 'ReaderOrganizationList',
            Effect: 'Allow',
            Principal: { AWS: '*' },
            Action: 's3:ListBucket',
            Resource: bucketArn(s),
            Condition: { StringEquals: { 'aws:PrincipalOrgID': ORG }, StringLike: { 's3:prefix': 'ssh/*' } },
          },
        ]),
      },
    });
  });

  it('bucket policy: object writes and deletes denied to every principal but the publisher role', () => {
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: s.bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'DenyWritesExceptPublisher',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: [...DENIED_OBJECT_WRITES].sort(),
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [s.bucketId, 'Arn'] }, '/*']] },
            Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [s.roleId, 'Arn'] } } },
          },
        ]),
      },
    });
    expect(DENIED_OBJECT_WRITES).toEqual(
      expect.arrayContaining(['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion']),
    );
  });

  it('bucket policy: no Allow grants anything but reads', () => {
    for (const st of bucketPolicy(s).filter((x) => x.Effect === 'Allow')) {
      expect(actionsOf(st).every((a) => a === 's3:GetObject' || a === 's3:ListBucket')).toBe(true);
    }
  });

  it('function: local esbuild bundle with source maps, Node 24 on ARM64, reserved concurrency 1, sized for 5,000 users', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      ReservedConcurrentExecutions: 1,
      Timeout: 900,
      MemorySize: 1024,
      Role: { 'Fn::GetAtt': [s.roleId, 'Arn'] },
      LoggingConfig: { LogGroup: Match.anyValue() },
      Environment: {
        Variables: {
          BUCKET: { Ref: s.bucketId },
          KEY_PREFIX: 'ssh/',
          MAX_DELETE_SHARE: '0.5',
          ALLOW_MASS_DELETE: 'false',
          UID_BASE: '20000',
          TAG_KEY_PREFIX: 'ssh-key:',
          EVENT_FULL_RUN_MINUTES: '15',
          MAX_GRANT_HOURS: '12',
          GRANT_TAG_PREFIX: 'ssh-grant:',
          POWERTOOLS_SERVICE_NAME: 'iam-ssh-keys-publisher',
          POWERTOOLS_METRICS_NAMESPACE: 'IamSshKeys',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
    // The staged asset: esbuild's output and its source map.
    const outdir = (s.stack.node.root as unknown as { outdir: string }).outdir;
    const assets = readdirSync(outdir).filter((d) => d.startsWith('asset.'));
    expect(assets).toHaveLength(1);
    const bundle = join(outdir, assets[0] as string, 'index.js');
    expect(existsSync(bundle)).toBe(true);
    expect(existsSync(`${bundle}.map`)).toBe(true);
    // A CommonJS bundle exporting `handler`.
    expect(readFileSync(bundle, 'utf8')).toMatch(/module\.exports/);
    expect(readFileSync(bundle, 'utf8')).toMatch(/handler/);
  });

  it('function: log group with retention; async runs not retried, stale events dropped', () => {
    s.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 900,
    });
  });

  it('role: exactly the IAM reads the publisher uses, object actions only under the prefix, ListBucket only of the prefix', () => {
    const statements = roleStatements(s.template, s.roleId);
    expect(statements.every((st) => st.Effect === 'Allow')).toBe(true);
    const bySid = Object.fromEntries(statements.map((st) => [st.Sid, st]));
    expect(bySid.ReadIamAccount).toMatchObject({
      Action: 'iam:GetAccountAuthorizationDetails',
      Resource: '*',
    });
    expect(bySid.ReadIamSshKeys).toMatchObject({
      Action: ['iam:GetSSHPublicKey', 'iam:GetUser', 'iam:ListGroupsForUser', 'iam:ListSSHPublicKeys'],
      Resource: {
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':user/*']],
      },
    });
    expect(bySid.ListKeyObjects).toEqual({
      Sid: 'ListKeyObjects',
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: bucketArn(s),
      Condition: { StringLike: { 's3:prefix': 'ssh/*' } },
    });
    expect(bySid.WriteKeyObjects).toEqual({
      Sid: 'WriteKeyObjects',
      Effect: 'Allow',
      Action: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'],
      Resource: objectsArn(s, 'ssh/'),
    });
    expect(bySid.ReadIamGroups).toMatchObject({
      Action: 'iam:GetGroup',
      Resource: {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':group/*'],
        ],
      },
    });
    expect(Object.keys(bySid).sort()).toEqual(
      [
        'ListKeyObjects',
        'Logs',
        'ReadIamAccount',
        'ReadIamGroups',
        'ReadIamSshKeys',
        'WriteKeyObjects',
        'undefined',
      ].sort(),
    );
    // The one statement without a Sid: the SQS event source's, consuming the event queue only.
    const queueArn = { 'Fn::GetAtt': [logicalIdOf(s.stack, s.publisher.eventQueue as Construct), 'Arn'] };
    expect(bySid.undefined).toEqual({
      Effect: 'Allow',
      Action: [
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:ReceiveMessage',
      ],
      Resource: queueArn,
    });
  });

  it('role: no IAM write, no wildcard action, no S3 access outside the prefix', () => {
    const statements = roleStatements(s.template, s.roleId);
    const actions = statements.flatMap(actionsOf);
    expect(actions.filter((a) => a.startsWith('iam:')).sort()).toEqual([
      'iam:GetAccountAuthorizationDetails',
      'iam:GetGroup',
      'iam:GetSSHPublicKey',
      'iam:GetUser',
      'iam:ListGroupsForUser',
      'iam:ListSSHPublicKeys',
    ]);
    expect(actions.some((a) => a.includes('*'))).toBe(false);
    for (const st of statements) {
      const s3Actions = actionsOf(st).filter((a) => a.startsWith('s3:'));
      if (s3Actions.length === 0) continue;
      if (s3Actions.includes('s3:ListBucket')) {
        expect(st.Condition).toEqual({ StringLike: { 's3:prefix': 'ssh/*' } });
      } else {
        expect(st.Resource).toEqual(objectsArn(s, 'ssh/'));
      }
    }
    // Nothing else writes the role: no managed policies, no inline policies besides the default one.
    const role = s.template.toJSON().Resources[s.roleId];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
  });

  it('role: may write only its own log group', () => {
    const logs = roleStatements(s.template, s.roleId).find((st) => st.Sid === 'Logs');
    const logGroupId = Object.keys(s.template.findResources('AWS::Logs::LogGroup'))[0];
    expect(logs).toEqual({
      Sid: 'Logs',
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] },
    });
  });

  it('schedule: every 15 minutes, targeting the function', () => {
    const fnId = logicalIdOf(s.stack, s.publisher.function);
    s.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] } })],
    });
  });

  it('event rule: the IAM API calls that change keys, users, groups or tags, via CloudTrail, into the event queue', () => {
    const queueId = logicalIdOf(s.stack, s.publisher.eventQueue as Construct);
    s.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.iam'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: { eventSource: ['iam.amazonaws.com'], eventName: [...CONTRACT_IAM_CHANGE_EVENTS] },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } })],
    });
    // The rule's list is the contract's, which the function's event handling is typed against.
    expect(IAM_CHANGE_EVENTS).toBe(CONTRACT_IAM_CHANGE_EVENTS);
    expect(new Set(IAM_CHANGE_EVENTS).size).toBe(CONTRACT_IAM_CHANGE_EVENTS.length);
    // Every name the rule sends is one the publisher applies in a targeted way.
    for (const name of CONTRACT_IAM_CHANGE_EVENTS) expect(TARGETED_EVENT_NAMES).toContain(name);
    // Only the schedule invokes the function directly; events come through the queue.
    s.template.resourceCountIs('AWS::Lambda::Permission', 1);
  });

  it('event queue: SSE, TLS only, visibility covers a run, dead letters after 5 deliveries, EventBridge may send only from its rule', () => {
    const queueId = logicalIdOf(s.stack, s.publisher.eventQueue as Construct);
    const dlqId = logicalIdOf(s.stack, s.publisher.eventDeadLetterQueue as Construct);
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 15 * 60 + 10 + 60,
      MessageRetentionPeriod: 86400,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 5 },
    });
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 86400,
    });
    for (const id of [queueId, dlqId]) {
      s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
    const ruleId = logicalIdOf(s.stack, s.publisher.iamChangeRule as Construct);
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
          }),
        ]),
      },
    });
  });

  it('event source: batches of up to 100 gathered for 10 s, all or nothing, at most 2 pollers', () => {
    const fnId = logicalIdOf(s.stack, s.publisher.function);
    const queueId = logicalIdOf(s.stack, s.publisher.eventQueue as Construct);
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId },
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 10,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: Match.absent(),
    });
    expect(100).toBeLessThanOrEqual(MAX_BATCH_RECORDS);
  });

  it('dead-letter alarm: any message set aside', () => {
    const dlq = s.publisher.eventDeadLetterQueue as Construct;
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(s.stack, dlq), 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('warns at synth that IAM events arrive only in us-east-1 (environment-agnostic stack)', () => {
    Annotations.fromStack(s.stack).hasWarning('/Test/Publisher', Match.stringLikeRegexp('only in us-east-1'));
  });

  it('alarms: errors, throttles, staleness on PublishSucceeded + ImportProgressed with missing data breaching, import in progress', () => {
    const fnId = logicalIdOf(s.stack, s.publisher.function);
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Throttles',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
    // Staleness: no successful run and no run that advanced an import, for 3 periods.
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp(
        'no successful publish and no import progress for 3 schedule periods',
      ),
      Metrics: Match.arrayWith([
        Match.objectLike({ Id: 'expr_1', Expression: 'FILL(succeeded, 0) + FILL(progressed, 0)' }),
        Match.objectLike({
          Id: 'succeeded',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'IamSshKeys',
              MetricName: 'PublishSucceeded',
              Dimensions: [{ Name: 'service', Value: 'iam-ssh-keys-publisher' }],
            },
            Period: 900,
            Stat: 'Sum',
          },
        }),
        Match.objectLike({
          Id: 'progressed',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'IamSshKeys',
              MetricName: 'ImportProgressed',
              Dimensions: [{ Name: 'service', Value: 'iam-ssh-keys-publisher' }],
            },
            Period: 900,
            Stat: 'Sum',
          },
        }),
      ]),
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    // Informational: "first import in progress" while runs stop in time and continue.
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp(
        '^iam-ssh-keys publisher: first import in progress \\(not a failure\\)',
      ),
      Namespace: 'IamSshKeys',
      MetricName: 'PublishIncomplete',
      Dimensions: [{ Name: 'service', Value: 'iam-ssh-keys-publisher' }],
      Statistic: 'Sum',
      Period: 900,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    // An object refused as over the hosts' 8 MiB limit: one is enough.
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp("over the hosts' 8 MiB limit"),
      MetricName: 'ObjectsTooLargeForHosts',
      Namespace: 'IamSshKeys',
      Statistic: 'Maximum',
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    // No topic: alarms without actions.
    for (const alarm of Object.values(s.template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toBeUndefined();
    }
  });
});

const BREAK_GLASS = [
  'arn:aws:iam::123456789012:role/ops/break-glass',
  'arn:aws:iam::123456789012:user/alice',
];
const PATTERNS = ['arn:aws:iam::*:role/*-instance'];

describe('SshKeyPublisher break-glass writers (M4)', () => {
  it('adds the ARNs to the deny exemption, beside the publisher role', () => {
    const s = synth({ breakGlassPrincipalArns: BREAK_GLASS });
    const deny = bucketPolicy(s).find((st) => st.Sid === 'DenyWritesExceptPublisher');
    expect(deny?.Effect).toBe('Deny');
    expect(deny?.Principal).toEqual({ AWS: '*' });
    expect(deny?.Condition).toEqual({
      ArnNotEquals: { 'aws:PrincipalArn': [{ 'Fn::GetAtt': [s.roleId, 'Arn'] }, ...BREAK_GLASS] },
    });
  });

  it('grants them nothing: no Allow names them, the deny is the only statement that mentions them', () => {
    const s = synth({ breakGlassPrincipalArns: BREAK_GLASS, readerAccountIds: ACCOUNTS, keyPrefix: 'ssh' });
    const mentioning = bucketPolicy(s).filter((st) =>
      BREAK_GLASS.some((a) => JSON.stringify(st).includes(a)),
    );
    expect(mentioning.map((st) => st.Sid)).toEqual(['DenyWritesExceptPublisher']);
    expect(JSON.stringify(roleStatements(s.template, s.roleId))).not.toContain('break-glass');
    // No IAM resource is created for them either.
    expect(JSON.stringify(s.template.findResources('AWS::IAM::Policy'))).not.toContain('break-glass');
  });

  it('duplicates collapse; a token (another construct’s ARN) is accepted unchecked', () => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Test');
    const ops = new iam.Role(stack, 'Ops', { assumedBy: new iam.AccountRootPrincipal() });
    const publisher = new SshKeyPublisher(stack, 'Publisher', {
      breakGlassPrincipalArns: [ops.roleArn, BREAK_GLASS[0] as string, BREAK_GLASS[0] as string],
    });
    const template = Template.fromStack(stack);
    const opsId = logicalIdOf(stack, ops);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyWritesExceptPublisher',
            Condition: {
              ArnNotEquals: {
                'aws:PrincipalArn': [
                  { 'Fn::GetAtt': [logicalIdOf(stack, publisher.role), 'Arn'] },
                  { 'Fn::GetAtt': [opsId, 'Arn'] },
                  BREAK_GLASS[0],
                ],
              },
            },
          }),
        ]),
      },
    });
  });

  it.each([
    'arn:aws:iam::123456789012:role/*',
    'arn:aws:iam::123456789012:root',
    'arn:aws:sts::123456789012:assumed-role/ops/alice',
    'ops',
  ])('rejects %j (a wildcard or non-principal ARN would exempt too much or nothing)', (arn) => {
    expect(() => synth({ breakGlassPrincipalArns: [arn] })).toThrow(/breakGlassPrincipalArns/);
  });

  it('an existing bucket gets no policy, with or without break-glass ARNs', () => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Test');
    const bucket = s3.Bucket.fromBucketName(stack, 'Existing', 'company-ssh-keys');
    new SshKeyPublisher(stack, 'Publisher', { bucket, breakGlassPrincipalArns: BREAK_GLASS });
    Template.fromStack(stack).resourceCountIs('AWS::S3::BucketPolicy', 0);
  });
});

describe('SshKeyPublisher reader principal patterns (L15)', () => {
  it('narrows the account and organization read grants with StringLike aws:PrincipalArn, keeping the prefix limit', () => {
    const s = synth({
      readerAccountIds: ACCOUNTS,
      readerOrgId: ORG,
      keyPrefix: 'ssh',
      readerPrincipalArnPatterns: PATTERNS,
    });
    const bySid = new Map(bucketPolicy(s).map((st) => [st.Sid, st]));
    expect(bySid.get('ReaderAccountsGet')?.Condition).toEqual({
      StringLike: { 'aws:PrincipalArn': PATTERNS },
    });
    expect(bySid.get('ReaderAccountsList')?.Condition).toEqual({
      StringLike: { 'aws:PrincipalArn': PATTERNS, 's3:prefix': 'ssh/*' },
    });
    expect(bySid.get('ReaderOrganizationGet')?.Condition).toEqual({
      StringEquals: { 'aws:PrincipalOrgID': ORG },
      StringLike: { 'aws:PrincipalArn': PATTERNS },
    });
    expect(bySid.get('ReaderOrganizationList')?.Condition).toEqual({
      StringEquals: { 'aws:PrincipalOrgID': ORG },
      StringLike: { 'aws:PrincipalArn': PATTERNS, 's3:prefix': 'ssh/*' },
    });
    // Every Allow in the bucket policy carries the pattern.
    for (const st of bucketPolicy(s).filter((x) => x.Effect === 'Allow')) {
      expect(st.Condition).toMatchObject({ StringLike: { 'aws:PrincipalArn': PATTERNS } });
    }
  });

  it('without a prefix the pattern is the only StringLike', () => {
    const s = synth({ readerOrgId: ORG, readerPrincipalArnPatterns: PATTERNS });
    const list = bucketPolicy(s).find((st) => st.Sid === 'ReaderOrganizationList');
    expect(list?.Condition).toEqual({
      StringEquals: { 'aws:PrincipalOrgID': ORG },
      StringLike: { 'aws:PrincipalArn': PATTERNS },
    });
  });

  it('no patterns: the read grants carry no aws:PrincipalArn condition', () => {
    const s = synth({ readerAccountIds: ACCOUNTS, readerOrgId: ORG, keyPrefix: 'ssh' });
    expect(JSON.stringify(bucketPolicy(s).filter((x) => x.Effect === 'Allow'))).not.toContain(
      'aws:PrincipalArn',
    );
  });

  it('rejects a pattern that is not an IAM ARN pattern', () => {
    expect(() => synth({ readerOrgId: ORG, readerPrincipalArnPatterns: ['*'] })).toThrow(
      /readerPrincipalArnPatterns/,
    );
  });
});

describe('SshKeyPublisher variants', () => {
  it('no prefix: ListBucket unconditioned (nothing to limit), objects over the whole bucket', () => {
    const s = synth({});
    const list = roleStatements(s.template, s.roleId).find((st) => st.Sid === 'ListKeyObjects');
    expect(list?.Condition).toBeUndefined();
    expect(roleStatements(s.template, s.roleId).find((st) => st.Sid === 'WriteKeyObjects')?.Resource).toEqual(
      objectsArn(s, ''),
    );
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ KEY_PREFIX: '' }) },
    });
  });

  it('no readers: the bucket policy grants nothing', () => {
    const s = synth({});
    expect(bucketPolicy(s).filter((st) => st.Effect === 'Allow')).toEqual([]);
  });

  it('eventDriven false: schedule only, no IAM rule, no region warning', () => {
    const s = synth({ eventDriven: false });
    s.template.resourceCountIs('AWS::Events::Rule', 1);
    s.template.resourceCountIs('AWS::Lambda::Permission', 1);
    expect(s.publisher.iamChangeRule).toBeUndefined();
    s.template.resourceCountIs('AWS::SQS::Queue', 0);
    s.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
    Annotations.fromStack(s.stack).hasNoWarning('*', Match.stringLikeRegexp('us-east-1'));
  });

  it.each([
    ['us-east-1', false],
    ['eu-west-1', true],
  ])('region %s: warning %s', (region, warns) => {
    const s = synth({}, { region });
    const found = Annotations.fromStack(s.stack).findWarning(
      '*',
      Match.stringLikeRegexp('only in us-east-1'),
    );
    expect(found.length > 0).toBe(warns);
  });

  it('schedule, staleness periods and alarm topic are honoured; alarms notify on ALARM and OK', () => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Topic');
    const topic = new sns.Topic(stack, 'Alarms');
    new SshKeyPublisher(stack, 'P', {
      scheduleMinutes: 5,
      stalenessPeriods: 4,
      alarmTopic: topic,
    });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ MetricName: 'PublishSucceeded' }),
            Period: 300,
          }),
        }),
      ]),
      EvaluationPeriods: 4,
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumEventAgeInSeconds: 300 });
    const topicRef = { Ref: logicalIdOf(stack, topic) };
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    // errors, throttles, staleness, event dead letters, import in progress, objects too large for hosts,
    // keys expired
    expect(alarms).toHaveLength(7);
    for (const a of alarms) {
      expect(a.Properties.AlarmActions).toEqual([topicRef]);
      expect(a.Properties.OKActions).toEqual([topicRef]);
    }
  });

  it('bucketName names the bucket; noncurrent version expiry and log retention are props', () => {
    const s = synth({ bucketName: 'company-ssh-keys', noncurrentVersionExpiration: Duration.days(7) });
    s.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'company-ssh-keys',
      LifecycleConfiguration: {
        Rules: [Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } })],
      },
    });
  });

  it('existing bucket: no bucket created or policy changed, role still limited to the prefix, owner warned', () => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Existing');
    const bucket = s3.Bucket.fromBucketName(stack, 'Keys', 'existing-keys');
    const p = new SshKeyPublisher(stack, 'P', { bucket, keyPrefix: 'k/' });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::S3::Bucket', 0);
    template.resourceCountIs('AWS::S3::BucketPolicy', 0);
    const roleId = logicalIdOf(stack, p.role);
    expect(roleStatements(template, roleId).find((st) => st.Sid === 'WriteKeyObjects')?.Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::existing-keys/k/*']],
    });
    Annotations.fromStack(stack).hasWarning('/Existing/P', Match.stringLikeRegexp('existing bucket'));
  });

  it.each<[string, SshKeyPublisherProps, RegExp]>([
    ['wildcard prefix', { keyPrefix: 'a*' }, /wildcards/],
    ['bad account', { readerAccountIds: ['123'] }, /readerAccountIds/],
    ['fractional schedule', { scheduleMinutes: 1.5 }, /integral|whole/i],
    ['schedule over a day', { scheduleMinutes: 1441 }, /1 day/],
    ['alarm window over a day', { scheduleMinutes: 12 * 60, stalenessPeriods: 3 }, /one-day/],
    ['zero staleness periods', { stalenessPeriods: 0 }, /stalenessPeriods/],
  ])('rejects %s', (_label, props, message) => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Bad');
    expect(() => new SshKeyPublisher(stack, 'P', props)).toThrow(message);
    expect(() => new SshKeyPublisher(stack, 'P2', props)).toThrow(
      expect.objectContaining({ name: 'InvalidConfigError' }),
    );
  });

  it('works in an app without the cdk.json feature flags (access logs by bucket policy, not ACL)', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'iam-ssh-keys-cdk-'));
    apps.push({ app: new App(), outdir, cleanup: () => rmSync(outdir, { recursive: true, force: true }) });
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Plain');
    const p = new SshKeyPublisher(stack, 'P');
    const template = Template.fromStack(stack);
    const logsId = logicalIdOf(stack, p.accessLogsBucket as s3.Bucket);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logsId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
          }),
        ]),
      },
    });
    expect(template.toJSON().Resources[logsId].Properties.AccessControl).toBeUndefined();
  });

  it.each([
    [Duration.seconds(0), /1 to 300 whole seconds, got 0/],
    [Duration.seconds(301), /got 301/],
    [Duration.millis(1500), /whole seconds/],
  ])('rejects an event batch window of %s', (w, reason) => {
    expect(() => synth({ eventBatchWindow: w })).toThrow(reason);
  });

  it('eventBatchWindow sets the gathering window', () => {
    const s = synth({ eventBatchWindow: Duration.seconds(30) });
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      MaximumBatchingWindowInSeconds: 30,
    });
  });

  it('rejects bucket and bucketName together', () => {
    const t = testApp({}, { bundle: false });
    apps.push(t);
    const stack = new Stack(t.app, 'Both');
    const bucket = s3.Bucket.fromBucketName(stack, 'Keys', 'existing-keys');
    expect(() => new SshKeyPublisher(stack, 'P', { bucket, bucketName: 'other-name' })).toThrow(/not both/);
  });
});
