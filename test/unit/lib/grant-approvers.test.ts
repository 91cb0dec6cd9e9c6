// SshKeyGrantApprovers: approvers set and remove grant tags of other users, with MFA.
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { SshKeyGrantApprovers } from '../../../lib/grant-approvers.js';
import { caseVariantPatterns } from '../../../lib/grant-tag-patterns.js';
import { SshKeySelfServicePolicy } from '../../../lib/self-service-policy.js';
import { ACCOUNT, type Decision, evaluate } from '../../helpers/iam-policy-eval.js';
import { type TestApp, testApp } from './cdk-helpers.js';

const apps: TestApp[] = [];
afterAll(() => {
  for (const a of apps) a.cleanup();
});

function build(grantTagPrefix = 'ssh-grant:') {
  const t = testApp({}, { bundle: false });
  apps.push(t);
  const s = new Stack(t.app, 'Test');
  const approvers = new SshKeyGrantApprovers(s, 'GrantApprovers', { grantTagPrefix });
  new SshKeySelfServicePolicy(s, 'SelfService', { grantTagPrefix });
  const template = Template.fromStack(s);
  const policies = template.findResources('AWS::IAM::ManagedPolicy');
  const docOf = (groupLogicalId: string) =>
    Object.values(policies).find((p) => JSON.stringify(p.Properties.Groups).includes(groupLogicalId))
      ?.Properties.PolicyDocument as { Statement: unknown };
  const groupId = s.getLogicalId(approvers.group.node.defaultChild as never);
  const memberGroupId = Object.keys(template.findResources('AWS::IAM::Group')).find((id) => id !== groupId);
  return { template, approver: docOf(groupId), member: docOf(memberGroupId as string) };
}

const join = (tail: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, tail]],
});
const mfa = { Bool: { 'aws:MultiFactorAuthPresent': 'true' } };

describe('SshKeyGrantApprovers', () => {
  it('a group whose policy tags only grant keys of any user with MFA, reads groups, and denies self-grants', () => {
    const { template } = build('corp/grant:');
    template.resourceCountIs('AWS::IAM::Group', 2);
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: [
          {
            Sid: 'SetGrantTags',
            Effect: 'Allow',
            Action: ['iam:TagUser', 'iam:UntagUser'],
            Resource: join(':user/*'),
            Condition: {
              ...mfa,
              'ForAllValues:StringLike': { 'aws:TagKeys': ['corp/grant:*'] },
              Null: { 'aws:TagKeys': 'false' },
            },
          },
          {
            Sid: 'ReadGroups',
            Effect: 'Allow',
            Action: 'iam:GetGroup',
            Resource: join(':group/*'),
            Condition: mfa,
          },
          {
            Sid: 'DenySelfGrant',
            Effect: 'Deny',
            Action: 'iam:TagUser',
            // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable
            Resource: [join(':user/${aws:username}'), join(':user/*/${aws:username}')],
            Condition: { 'ForAnyValue:StringLike': { 'aws:TagKeys': caseVariantPatterns('corp/grant:') } },
          },
        ],
      },
      Groups: [{ Ref: Match.stringLikeRegexp('^GrantApproversGroup') }],
    });
  });
});

describe('SshKeyGrantApprovers: condition table (approver carol)', () => {
  const { approver, member } = build();
  const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;
  const ask = (action: string, resource: string, tagKeys: string[], mfaOn = 'true') => ({
    action,
    resource,
    context: { 'aws:username': 'carol', 'aws:MultiFactorAuthPresent': mfaOn, 'aws:TagKeys': tagKeys },
  });

  it.each<[string, string, string, string[], string, Decision]>([
    ['a grant for bob', 'iam:TagUser', 'bob', ['ssh-grant:Administrators'], 'true', 'allow'],
    ['revoking it', 'iam:UntagUser', 'bob', ['ssh-grant:Administrators'], 'true', 'allow'],
    ['a grant for a user with a path', 'iam:TagUser', 'ops/bob', ['ssh-grant:A'], 'true', 'allow'],
    ['a grant for xcarol (not carol)', 'iam:TagUser', 'xcarol', ['ssh-grant:A'], 'true', 'allow'],
    ['without MFA', 'iam:TagUser', 'bob', ['ssh-grant:Administrators'], 'false', 'implicit-deny'],
    ['a key tag for bob', 'iam:TagUser', 'bob', ['ssh-key:x'], 'true', 'implicit-deny'],
    ['a grant with another tag', 'iam:TagUser', 'bob', ['ssh-grant:A', 'Team'], 'true', 'implicit-deny'],
    ['a grant for herself', 'iam:TagUser', 'carol', ['ssh-grant:Administrators'], 'true', 'deny'],
    ['for herself, another case', 'iam:TagUser', 'carol', ['SSH-Grant:Administrators'], 'true', 'deny'],
    ['for herself under a path', 'iam:TagUser', 'ops/carol', ['ssh-grant:A'], 'true', 'deny'],
    ['ending her own grant', 'iam:UntagUser', 'carol', ['ssh-grant:A'], 'true', 'allow'],
  ])('%s: %s %s %j (MFA %s) -> %s', (_l, action, name, keys, mfaOn, expected) => {
    expect(evaluate([approver], ask(action, user(name), keys, mfaOn))).toBe(expected);
  });

  it('reads a group with MFA', () => {
    const r = { ...ask('iam:GetGroup', `arn:aws:iam::${ACCOUNT}:group/Administrators`, []) };
    expect(evaluate([approver], r)).toBe('allow');
  });

  it('an approver who is also a self-service member grants nothing: the Deny wins', () => {
    expect(evaluate([approver, member], ask('iam:TagUser', user('bob'), ['ssh-grant:Administrators']))).toBe(
      'deny',
    );
  });
});
