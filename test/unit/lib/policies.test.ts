// SshKeyReaderPolicy and SshKeySelfServicePolicy.
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { afterAll, describe, expect, it } from 'vitest';
import { SshKeyReaderPolicy, type SshKeyReaderPolicyProps } from '../../../lib/reader-policy.js';
import { SELF_SERVICE_ACTIONS, SshKeySelfServicePolicy } from '../../../lib/self-service-policy.js';
import { type TestApp, testApp } from './cdk-helpers.js';

const apps: TestApp[] = [];
afterAll(() => {
  for (const a of apps) a.cleanup();
});
function stack(): Stack {
  const t = testApp({}, { bundle: false });
  apps.push(t);
  return new Stack(t.app, 'Test');
}

const s3Arn = (rest: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::${rest}`]] });

function readerTemplate(props: SshKeyReaderPolicyProps): Template {
  const s = stack();
  new SshKeyReaderPolicy(s, 'Reader', props);
  return Template.fromStack(s);
}

describe('SshKeyReaderPolicy', () => {
  it('GetObject under the prefix, ListBucket with the prefix condition, nothing else', () => {
    const t = readerTemplate({ bucketName: 'company-ssh-keys', keyPrefix: 'ssh' });
    t.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: [
          {
            Sid: 'ReadSshKeysGet',
            Effect: 'Allow',
            Action: 's3:GetObject',
            Resource: s3Arn('company-ssh-keys/ssh/*'),
          },
          {
            Sid: 'ReadSshKeysList',
            Effect: 'Allow',
            Action: 's3:ListBucket',
            Resource: s3Arn('company-ssh-keys'),
            Condition: { StringLike: { 's3:prefix': 'ssh/*' } },
          },
        ],
      },
    });
    const [policy] = Object.values(t.findResources('AWS::IAM::ManagedPolicy'));
    expect(policy?.Properties.Roles).toBeUndefined();
  });

  it('attaches to the named roles', () => {
    const t = readerTemplate({
      bucketName: 'company-ssh-keys',
      roleNames: ['web-instance', 'batch-instance'],
    });
    t.hasResourceProperties('AWS::IAM::ManagedPolicy', { Roles: ['web-instance', 'batch-instance'] });
  });

  it('agentS3Uri (a release folder) adds GetObject on exactly its two executables, no wildcard', () => {
    const t = readerTemplate({
      bucketName: 'company-ssh-keys',
      agentS3Uri: 's3://release-artifacts/iam-ssh-keys/1.0.0/',
    });
    t.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'ReadHostAgent',
            Effect: 'Allow',
            Action: 's3:GetObject',
            // In the order of the app's @aws-cdk/aws-iam:minimizePolicies (sorted).
            Resource: [
              s3Arn('release-artifacts/iam-ssh-keys/1.0.0/iam-authorized-keys-linux-arm64'),
              s3Arn('release-artifacts/iam-ssh-keys/1.0.0/iam-authorized-keys-linux-x64'),
            ],
          },
        ]),
      },
    });
  });

  it('a release folder at the bucket root', () => {
    const t = readerTemplate({ bucketName: 'company-ssh-keys', agentS3Uri: 's3://release-artifacts/' });
    t.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'ReadHostAgent',
            Resource: [
              s3Arn('release-artifacts/iam-authorized-keys-linux-arm64'),
              s3Arn('release-artifacts/iam-authorized-keys-linux-x64'),
            ],
          }),
        ]),
      },
    });
  });

  it.each<[string, SshKeyReaderPolicyProps, RegExp]>([
    ['a wildcard prefix', { bucketName: 'b-1', keyPrefix: 'x*' }, /wildcards/],
    ['an unsafe agent folder', { bucketName: 'b-1', agentS3Uri: 's3://b-2/$(id)/' }, /agentS3Uri/],
    ['a wildcard agent folder', { bucketName: 'b-1', agentS3Uri: 's3://b-2/rel/*/' }, /agentS3Uri/],
    [
      'an agent file instead of a folder',
      { bucketName: 'b-1', agentS3Uri: 's3://b-2/rel/iam-authorized-keys' },
      /agentS3Uri: expected the release folder/,
    ],
  ])('rejects %s', (_label, props, message) => {
    expect(() => new SshKeyReaderPolicy(stack(), 'R', props)).toThrow(message);
  });
});

describe('SshKeySelfServicePolicy', () => {
  const ownUser = {
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        ':iam::',
        { Ref: 'AWS::AccountId' },
        // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable
        ':user/${aws:username}',
      ],
    ],
  };
  const mfa = { Bool: { 'aws:MultiFactorAuthPresent': 'true' } };
  const statements = (tagPrefix: string) => [
    {
      Sid: 'ManageOwnSshKeys',
      Effect: 'Allow',
      Action: [
        'iam:DeleteSSHPublicKey',
        'iam:GetSSHPublicKey',
        'iam:ListSSHPublicKeys',
        'iam:UpdateSSHPublicKey',
        'iam:UploadSSHPublicKey',
      ],
      Resource: ownUser,
      Condition: mfa,
    },
    { Sid: 'ListOwnTags', Effect: 'Allow', Action: 'iam:ListUserTags', Resource: ownUser, Condition: mfa },
    {
      Sid: 'ManageOwnSshKeyTags',
      Effect: 'Allow',
      Action: ['iam:TagUser', 'iam:UntagUser'],
      Resource: ownUser,
      Condition: {
        ...mfa,
        'ForAllValues:StringLike': { 'aws:TagKeys': [`${tagPrefix}*`] },
        Null: { 'aws:TagKeys': 'false' },
      },
    },
  ];

  it('own SSH keys and own key tags only (user/<aws:username>), only with MFA, attached to a group', () => {
    const s = stack();
    const ss = new SshKeySelfServicePolicy(s, 'SelfService', { groupName: 'SshKeyUsers' });
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::IAM::Group', { GroupName: 'SshKeyUsers' });
    t.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      Groups: [{ Ref: s.getLogicalId(ss.group.node.defaultChild as iam.CfnGroup) }],
      PolicyDocument: { Statement: statements('ssh-key:') },
    });
    expect(SELF_SERVICE_ACTIONS).toHaveLength(5);
    // Policies on groups, never on users.
    const [policy] = Object.values(t.findResources('AWS::IAM::ManagedPolicy'));
    expect(policy?.Properties.Users).toBeUndefined();
    t.resourceCountIs('AWS::IAM::User', 0);
  });

  it('limits tagging to the configured tag key prefix', () => {
    const s = stack();
    new SshKeySelfServicePolicy(s, 'SelfService', { tagKeyPrefix: 'corp/ssh:' });
    Template.fromStack(s).hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: { Statement: statements('corp/ssh:') },
    });
  });

  it.each([
    ['a wildcard, which would widen aws:TagKeys', 'ssh-*'],
    ["IAM's reserved aws: prefix", 'aws:'],
  ])('refuses a tag key prefix with %s', (_n, tagKeyPrefix) => {
    expect(() => new SshKeySelfServicePolicy(stack(), 'S', { tagKeyPrefix })).toThrow(/tagKeyPrefix/);
  });

  it('attaches to an existing group instead of creating one', () => {
    const s = stack();
    new SshKeySelfServicePolicy(s, 'SelfService', { group: iam.Group.fromGroupName(s, 'G', 'Developers') });
    const t = Template.fromStack(s);
    t.resourceCountIs('AWS::IAM::Group', 0);
    t.hasResourceProperties('AWS::IAM::ManagedPolicy', { Groups: ['Developers'] });
  });
});
