import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import type { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IAM_CHANGE_EVENTS as CONTRACT_IAM_CHANGE_EVENTS } from '../../../../contract/publisher-settings.js';
import { TARGETED_EVENT_NAMES } from '../../../../lambda/event-targets.js';
import { IAM_CHANGE_EVENTS } from '../../../../lib/publisher.js';
import { actionsOf, logicalIdOf, roleStatements } from '../cdk-helpers.js';

import { ACCOUNTS, bucketArn, cleanupApps, ORG, objectsArn, type Synth, synth } from './fixture.js';

afterAll(cleanupApps);

describe('SshKeyPublisher with readers and a prefix (bundled)', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth({ readerAccountIds: ACCOUNTS, readerOrgId: ORG, keyPrefix: 'ssh' }, { bundle: true });
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

  it('warns at synth that IAM events arrive only in us-east-1 (environment-agnostic stack)', () => {
    Annotations.fromStack(s.stack).hasWarning('/Test/Publisher', Match.stringLikeRegexp('only in us-east-1'));
  });
});

describe('SshKeyPublisher variants', () => {
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
});
