// The app as `npx cdk synth` builds it (buildApp + cdk.json context), minus bundling.
import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp, MAIN_STACK, READER_STACK } from '../../../lib/build-app.js';
import { IamSshKeysStack } from '../../../lib/stacks.js';
import { type TestApp, testApp } from './cdk-helpers.js';

const apps: TestApp[] = [];
afterAll(() => {
  for (const a of apps) a.cleanup();
});
function build(context: Record<string, unknown>): TestApp {
  const t = testApp(context, { bundle: false });
  apps.push(t);
  buildApp(t.app);
  return t;
}
function template(t: TestApp, id: string): Template {
  return Template.fromStack(t.app.node.findChild(id) as Stack);
}

/**
 * Resolves an output's Fn::Join into text, with references shown as <Ref> / <Resource.Attr>.
 * A deploy-time value made safe for the user data (Fn::Join of an Fn::Split) shows as the value.
 */
function joined(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v['Fn::Join']) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown];
    const split = (parts as Record<string, unknown>)['Fn::Split'] as [string, unknown] | undefined;
    if (split) return joined(split[1]);
    return (parts as unknown[]).map(joined).join(sep);
  }
  if (v.Ref) return `<${v.Ref as string}>`;
  if (v['Fn::GetAtt']) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  throw new Error(`unexpected ${JSON.stringify(value)}`);
}

describe('IamSshKeys stack (default context)', () => {
  const t = build({});
  const tpl = template(t, MAIN_STACK);
  const outputs = tpl.toJSON().Outputs as Record<string, { Value: unknown }>;

  /** The keys bucket (the audit bucket is versioned too). */
  const keysBucketId = () =>
    Object.keys(
      tpl.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: Match.anyValue() } }),
    ).find((id) => id.startsWith('PublisherBucket'));
  const auditBucketId = Object.keys(tpl.findResources('AWS::S3::Bucket')).find((id) =>
    id.startsWith('AuditTrailBucket'),
  );

  it('is environment-agnostic', () => {
    const stack = t.app.node.findChild(MAIN_STACK) as Stack;
    expect(stack.environment).toBe('aws://unknown-account/unknown-region');
  });

  it('has one publisher, a reader policy, the self-service and the grant approvers groups', () => {
    tpl.resourceCountIs('AWS::Lambda::Function', 1);
    tpl.resourceCountIs('AWS::IAM::Group', 2);
    tpl.resourceCountIs('AWS::IAM::ManagedPolicy', 3);
    tpl.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
    tpl.resourceCountIs('AWS::Events::Rule', 2);
  });

  it('outputs the bucket name, reader policy ARN, self-service and grant approvers groups and user data', () => {
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'AuditBucketName',
        'AuditWorkGroup',
        'BucketName',
        'GrantApproversGroupName',
        'InstanceUserData',
        'KeyPrefix',
        'PublisherFunctionName',
        'ReaderPolicyArn',
        'SelfServiceGroupName',
      ].sort(),
    );
    const bucketId = keysBucketId();
    expect(outputs.BucketName?.Value).toEqual({ Ref: bucketId });
    const readerId = Object.keys(
      tpl.findResources('AWS::IAM::ManagedPolicy', {
        Properties: { Description: Match.stringLikeRegexp('read the published') },
      }),
    )[0];
    expect(outputs.ReaderPolicyArn?.Value).toEqual({ Ref: readerId });
  });

  it('user data writes the host agent config with the bucket, prefix and region, then installs', () => {
    const bucketId = keysBucketId();
    const text = joined(outputs.InstanceUserData?.Value);
    const config = /<<'IAM_SSH_KEYS_CONFIG'\n([\s\S]*?)\nIAM_SSH_KEYS_CONFIG/.exec(text)?.[1];
    expect(JSON.parse(config ?? '')).toEqual({
      bucket: `<${bucketId}>`,
      prefix: '',
      region: '<AWS::Region>',
      users: { 'ec2-user': ['groups/Administrators'] },
      audit: { bucket: `<${auditBucketId}>`, region: '<AWS::Region>', source: 'journal' },
    });
    expect(outputs.AuditBucketName?.Value).toEqual({ Ref: auditBucketId });
    expect(text).toContain('/usr/local/bin/iam-authorized-keys install');
    // No agent source configured: placeholders, which the script refuses to run with.
    expect(text).toContain(
      "AGENT_S3_FOLDER='REPLACE_WITH_S3_FOLDER_OF_dist/iam-authorized-keys-linux-ARCH/'",
    );
    expect(text).toContain("AGENT_SHA256_X64='REPLACE_WITH_SHA256_OF_dist/iam-authorized-keys-linux-x64'");
    expect(text).toContain(
      "AGENT_SHA256_ARM64='REPLACE_WITH_SHA256_OF_dist/iam-authorized-keys-linux-arm64'",
    );
    // The artifact is fetched from the stack's region unless agentRegion says otherwise.
    expect(text).toContain("AGENT_REGION='<AWS::Region>'");
  });

  it('no reader stack without readerBucket', () => {
    expect(t.app.node.tryFindChild(READER_STACK)).toBeUndefined();
  });
});

describe('IamSshKeys stack (full context)', () => {
  const sha = 'b'.repeat(64);
  const armSha = 'c'.repeat(64);
  const t = build({
    readerAccountIds: '111111111111,222222222222',
    readerOrgId: 'o-abcdef1234',
    readerPrincipalArnPatterns: 'arn:aws:iam::*:role/*-instance',
    breakGlassPrincipalArns: 'arn:aws:iam::123456789012:role/break-glass',
    keyPrefix: 'ssh',
    tagKeyPrefix: 'corp/ssh:',
    scheduleMinutes: '10',
    eventDriven: 'false',
    bucketName: 'company-ssh-keys',
    alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:ops',
    selfServiceGroupName: 'SshKeyUsers',
    agentS3Uri: 's3://release-artifacts/iam-ssh-keys/1.0/',
    agentSha256: `x64:${sha},arm64:${armSha}`,
    agentRegion: 'eu-central-1',
    readerBucket: 'company-ssh-keys',
    readerRoleNames: 'web-instance',
  });
  const tpl = template(t, MAIN_STACK);

  it('applies every setting', () => {
    tpl.hasResourceProperties('AWS::S3::Bucket', { BucketName: 'company-ssh-keys' });
    tpl.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(10 minutes)' });
    tpl.resourceCountIs('AWS::Events::Rule', 1);
    tpl.hasResourceProperties('AWS::IAM::Group', { GroupName: 'SshKeyUsers' });
    tpl.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'PublishSucceeded' }) }),
        }),
      ]),
      AlarmActions: ['arn:aws:sns:us-east-1:123456789012:ops'],
    });
    tpl.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ KEY_PREFIX: 'ssh/', TAG_KEY_PREFIX: 'corp/ssh:' }) },
    });
    // The self-service policy follows the publisher's tag key prefix.
    tpl.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'ManageOwnSshKeyTags',
            Condition: Match.objectLike({ 'ForAllValues:StringLike': { 'aws:TagKeys': ['corp/ssh:*'] } }),
          }),
        ]),
      },
    });
    tpl.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'ReaderAccountsGet',
            Condition: { StringLike: { 'aws:PrincipalArn': ['arn:aws:iam::*:role/*-instance'] } },
          }),
          Match.objectLike({
            Sid: 'ReaderOrganizationGet',
            Condition: Match.objectLike({
              StringLike: { 'aws:PrincipalArn': ['arn:aws:iam::*:role/*-instance'] },
            }),
          }),
          Match.objectLike({
            Sid: 'DenyWritesExceptPublisher',
            Condition: {
              ArnNotEquals: {
                'aws:PrincipalArn': [Match.anyValue(), 'arn:aws:iam::123456789012:role/break-glass'],
              },
            },
          }),
        ]),
      },
    });
    const text = joined((tpl.toJSON().Outputs as Record<string, { Value: unknown }>).InstanceUserData?.Value);
    expect(text).toContain("AGENT_S3_FOLDER='s3://release-artifacts/iam-ssh-keys/1.0/'");
    expect(text).toContain(`AGENT_SHA256_X64='${sha}'`);
    expect(text).toContain(`AGENT_SHA256_ARM64='${armSha}'`);
    expect(text).toContain("AGENT_REGION='eu-central-1'");
    expect(text).toContain('"region": "<AWS::Region>"');
    expect(text).toContain('"prefix": "ssh/"');
  });

  it('both reader policies may read the two agent executables of the release folder', () => {
    // Sorted, as @aws-cdk/aws-iam:minimizePolicies leaves them.
    const arns = ['arm64', 'x64'].map((a) => ({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          `:s3:::release-artifacts/iam-ssh-keys/1.0/iam-authorized-keys-linux-${a}`,
        ],
      ],
    }));
    for (const tp of [tpl, template(t, READER_STACK)]) {
      tp.hasResourceProperties('AWS::IAM::ManagedPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            { Sid: 'ReadHostAgent', Effect: 'Allow', Action: 's3:GetObject', Resource: arns },
          ]),
        },
      });
    }
  });

  it('adds the reader stack: a managed policy attached to the named roles, and its ARN as output', () => {
    const reader = template(t, READER_STACK);
    reader.resourceCountIs('AWS::IAM::ManagedPolicy', 1);
    reader.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      Roles: ['web-instance'],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 's3:ListBucket',
            Condition: { StringLike: { 's3:prefix': 'ssh/*' } },
          }),
        ]),
      },
    });
    reader.hasOutput('ReaderPolicyArn', Match.anyValue());
    // Deployable without CDK bootstrap (plain CloudFormation).
    expect(reader.toJSON().Parameters).toBeUndefined();
    expect(reader.toJSON().Rules).toBeUndefined();
    expect(tpl.toJSON().Parameters).toHaveProperty('BootstrapVersion');
    // Nothing but the policy: a reading account gets no other resource.
    expect(Object.keys(reader.toJSON().Resources)).toEqual(
      Object.keys(reader.findResources('AWS::IAM::ManagedPolicy')),
    );
  });
});

describe('buildApp errors', () => {
  it('throws InvalidConfigError naming the bad setting', () => {
    const t = testApp({ scheduleMinutes: 'often' }, { bundle: false });
    apps.push(t);
    expect(() => buildApp(t.app)).toThrow(
      expect.objectContaining({
        name: 'InvalidConfigError',
        message: expect.stringContaining('scheduleMinutes'),
      }),
    );
  });
});

describe('IamSshKeys stack with useFipsEndpoint', () => {
  const fnEnv = (t: TestApp) =>
    Object.values(template(t, MAIN_STACK).findResources('AWS::Lambda::Function')).map(
      (r) =>
        (r as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment
          .Variables.AWS_USE_FIPS_ENDPOINT,
    );
  const userData = (t: TestApp) =>
    joined(
      (template(t, MAIN_STACK).toJSON().Outputs as Record<string, { Value: unknown }>).InstanceUserData
        ?.Value,
    );

  it.each([
    [{ useFipsEndpoint: true }, ['true'], true],
    [{ useFipsEndpoint: 'true' }, ['true'], true],
    [{}, [undefined], false],
  ] as [Record<string, unknown>, unknown[], boolean][])(
    'context %j: the publisher gets AWS_USE_FIPS_ENDPOINT %j; the user data uses FIPS: %j',
    (context, env, fips) => {
      const t = build(context);
      expect(fnEnv(t)).toEqual(env);
      expect(userData(t).includes('https://s3-fips.$AGENT_REGION.')).toBe(fips);
      expect(userData(t).includes('"useFipsEndpoint": true')).toBe(fips);
    },
  );

  it.each([
    ['eu-west-1', /useFipsEndpoint: S3 has no FIPS endpoint in eu-west-1/],
    ['us-gov-west-1', undefined],
  ] as [string, RegExp | undefined][])(
    'a stack in %s: refused when S3 has no FIPS endpoint there',
    (region, error) => {
      const t = testApp({}, { bundle: false });
      apps.push(t);
      const make = () =>
        new IamSshKeysStack(t.app, `Fips-${region}`, {
          env: { region, account: '111111111111' },
          useFipsEndpoint: true,
        });
      if (error) expect(make).toThrow(error);
      else expect(make).not.toThrow();
    },
  );

  it('refuses a context value that is not a boolean', () => {
    const t = testApp({ useFipsEndpoint: 'yes' }, { bundle: false });
    apps.push(t);
    expect(() => buildApp(t.app)).toThrow(
      expect.objectContaining({
        name: 'InvalidConfigError',
        message: expect.stringContaining('useFipsEndpoint'),
      }),
    );
  });
});
