// SshKeyReaderPolicy and SshKeySelfServicePolicy.
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { afterAll, describe, expect, it } from 'vitest';
import { caseVariantPatterns } from '../../../lib/grant-tag-patterns.js';
import { SshKeyReaderPolicy, type SshKeyReaderPolicyProps } from '../../../lib/reader-policy.js';
import { SELF_SERVICE_ACTIONS, SshKeySelfServicePolicy } from '../../../lib/self-service-policy.js';
import { ACCOUNT, type Decision, evaluate } from '../../helpers/iam-policy-eval.js';
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
  const allUsers = {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':user/*']],
  };
  const statements = (tagPrefix: string, grantPrefix = 'ssh-grant:') => [
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
    {
      Sid: 'DenyGrantTags',
      Effect: 'Deny',
      Action: ['iam:TagUser', 'iam:UntagUser'],
      Resource: allUsers,
      Condition: { 'ForAnyValue:StringLike': { 'aws:TagKeys': caseVariantPatterns(grantPrefix) } },
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

  it('limits tagging to the configured tag key prefix, and denies the configured grant prefix', () => {
    const s = stack();
    new SshKeySelfServicePolicy(s, 'SelfService', {
      tagKeyPrefix: 'corp/ssh:',
      grantTagPrefix: 'corp/grant:',
    });
    Template.fromStack(s).hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: { Statement: statements('corp/ssh:', 'corp/grant:') },
    });
  });

  it.each([
    ['overlaps the tag key prefix', { grantTagPrefix: 'SSH-KEY:grant:' }, /overlaps the key tag prefix/],
    ['has a wildcard', { grantTagPrefix: 'ssh-*:' }, /grantTagPrefix/],
  ])('refuses a grant tag prefix that %s', (_n, props, message) => {
    expect(() => new SshKeySelfServicePolicy(stack(), 'S', props)).toThrow(message);
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

// What IAM decides for a member (MFA on, user alice), from the synthesized policy's conditions.
describe('SshKeySelfServicePolicy: condition table (members never set or remove grant tags)', () => {
  function document(props: ConstructorParameters<typeof SshKeySelfServicePolicy>[2] = {}) {
    const s = stack();
    new SshKeySelfServicePolicy(s, 'SelfService', props);
    const [policy] = Object.values(Template.fromStack(s).findResources('AWS::IAM::ManagedPolicy'));
    return policy?.Properties.PolicyDocument as { Statement: unknown };
  }
  const member = document();
  // Another policy of the member's that lets them tag anything: only an explicit Deny still holds.
  const tagAnything = { Statement: [{ Effect: 'Allow', Action: 'iam:*', Resource: '*' }] };
  const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
  const ask = (action: string, resource: string, tagKeys: string[], mfa = 'true') => ({
    action,
    resource,
    context: { 'aws:username': 'alice', 'aws:MultiFactorAuthPresent': mfa, 'aws:TagKeys': tagKeys },
  });

  it.each<[string, string, string, string[], Decision, Decision]>([
    // label, action, user, tag keys, decision, decision with tagAnything too
    ['a key tag on oneself', 'iam:TagUser', 'alice', ['ssh-key:laptop'], 'allow', 'allow'],
    ['removing a key tag', 'iam:UntagUser', 'alice', ['ssh-key:laptop'], 'allow', 'allow'],
    ['a grant on oneself', 'iam:TagUser', 'alice', ['ssh-grant:Administrators'], 'deny', 'deny'],
    ['a grant, upper case', 'iam:TagUser', 'alice', ['SSH-GRANT:Administrators'], 'deny', 'deny'],
    ['a grant, mixed case', 'iam:TagUser', 'alice', ['sSh-GrAnT:Administrators'], 'deny', 'deny'],
    ['a grant among key tags', 'iam:TagUser', 'alice', ['ssh-key:a', 'Ssh-grant:Admins'], 'deny', 'deny'],
    ['removing a grant', 'iam:UntagUser', 'alice', ['ssh-grant:Administrators'], 'deny', 'deny'],
    ['removing a grant, any case', 'iam:UntagUser', 'alice', ['SSH-grant:Administrators'], 'deny', 'deny'],
    ['a grant on a colleague', 'iam:TagUser', 'bob', ['ssh-grant:Administrators'], 'deny', 'deny'],
    ['a grant on a user with a path', 'iam:TagUser', 'ops/bob', ['ssh-grant:A'], 'deny', 'deny'],
    ['the bare prefix', 'iam:TagUser', 'alice', ['ssh-grant:'], 'deny', 'deny'],
    // Not grant keys: the Deny reaches no further than the prefix.
    ['ssh-grantee: (no grant)', 'iam:TagUser', 'alice', ['ssh-grantee:x'], 'implicit-deny', 'allow'],
    ['ssh-grant without colon', 'iam:TagUser', 'alice', ['ssh-grant'], 'implicit-deny', 'allow'],
    ['another tag', 'iam:TagUser', 'alice', ['CostCenter'], 'implicit-deny', 'allow'],
    ['a key tag on a colleague', 'iam:TagUser', 'bob', ['ssh-key:x'], 'implicit-deny', 'allow'],
  ])('%s: %s %s %j -> %s (with a tag-anything policy: %s)', (_l, action, name, keys, alone, withOther) => {
    expect(evaluate([member], ask(action, user(name), keys))).toBe(alone);
    expect(evaluate([member, tagAnything], ask(action, user(name), keys))).toBe(withOther);
  });

  it('without MFA a member sets nothing', () => {
    expect(evaluate([member], ask('iam:TagUser', user('alice'), ['ssh-key:laptop'], 'false'))).toBe(
      'implicit-deny',
    );
  });

  it('every case variant of ssh-grant: (all 256) is denied, alone and among key tags', () => {
    const variants = caseVariantPatterns('ssh-grant:', Number.POSITIVE_INFINITY).map((p) => p.slice(0, -1));
    expect(variants).toHaveLength(256);
    const allowed = variants.filter(
      (v) =>
        evaluate([member, tagAnything], ask('iam:TagUser', user('alice'), [`${v}Administrators`])) !==
          'deny' ||
        evaluate([member], ask('iam:TagUser', user('alice'), ['ssh-key:a', `${v}Admins`])) !== 'deny',
    );
    expect(allowed).toEqual([]);
  });

  it.each([
    // More letters than the budget varies: the rest become `?`.
    ['corp/ssh-grant-approval:', 'CORP/SSH-Grant-APPROVAL:Db', 'corp/ssh-key:'],
    // A non-ASCII letter: `?` whatever IAM's folding of it.
    ['zugang-ä:', 'ZUGANG-Ä:Admins', 'zugang-key:'],
  ])('a custom prefix %s: %s is denied', (grantTagPrefix, key, tagKeyPrefix) => {
    const doc = document({ grantTagPrefix, tagKeyPrefix });
    expect(evaluate([doc, tagAnything], ask('iam:TagUser', user('alice'), [key]))).toBe('deny');
    expect(evaluate([doc, tagAnything], ask('iam:TagUser', user('alice'), [`${tagKeyPrefix}x`]))).toBe(
      'allow',
    );
  });
});

describe('SshKeySelfServicePolicy: size', () => {
  it("stays under IAM's 6,144-character managed policy limit with the longest prefixes", () => {
    const s = stack();
    const grantTagPrefix = `${'g'.repeat(126)}:`;
    const tagKeyPrefix = `${'k'.repeat(126)}:`;
    new SshKeySelfServicePolicy(s, 'SelfService', { grantTagPrefix, tagKeyPrefix });
    const [policy] = Object.values(Template.fromStack(s).findResources('AWS::IAM::ManagedPolicy'));
    // The template's Fn::Join forms are longer than the ARNs they resolve to: an upper bound.
    const size = JSON.stringify(policy?.Properties.PolicyDocument).replace(/\s/g, '').length;
    expect(size).toBeLessThanOrEqual(6144);
  });
});
