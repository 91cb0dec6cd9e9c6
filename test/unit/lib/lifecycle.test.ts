// Key lifecycle in the stack: context settings and construct props reach the function's
// environment, the KeysExpired alarm, and the grant prefix reaches both IAM policies.
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp, MAIN_STACK } from '../../../lib/build-app.js';
import { caseVariantPatterns } from '../../../lib/grant-tag-patterns.js';
import { lifecycleEnvironment, parseLifecycleSettings } from '../../../lib/lifecycle-settings.js';
import { SshKeyPublisher, type SshKeyPublisherProps } from '../../../lib/publisher.js';
import type { IamSshKeysStack } from '../../../lib/stacks.js';
import { logicalIdOf, type TestApp, testApp } from './cdk-helpers.js';

const apps: TestApp[] = [];
afterAll(() => {
  for (const a of apps) a.cleanup();
});

function app(context: Record<string, unknown>): { stack: IamSshKeysStack; template: Template } {
  const t = testApp(context, { bundle: false });
  apps.push(t);
  buildApp(t.app);
  const stack = t.app.node.findChild(MAIN_STACK) as IamSshKeysStack;
  return { stack, template: Template.fromStack(stack) };
}

function publisher(props: SshKeyPublisherProps): Template {
  const t = testApp({}, { bundle: false });
  apps.push(t);
  const stack = new Stack(t.app, 'P');
  new SshKeyPublisher(stack, 'Publisher', props);
  return Template.fromStack(stack);
}

const env = (t: Template) =>
  (Object.values(t.findResources('AWS::Lambda::Function'))[0]?.Properties.Environment.Variables ??
    {}) as Record<string, unknown>;
const LIFECYCLE_VARS = ['MAX_KEY_AGE_DAYS', 'MAX_GRANT_HOURS', 'VERIFY_REQUIRED_GROUPS', 'GRANT_TAG_PREFIX'];
const lifecycleVars = (t: Template) =>
  Object.fromEntries(Object.entries(env(t)).filter(([k]) => LIFECYCLE_VARS.includes(k)));

describe('lifecycle settings -> the function environment', () => {
  it('defaults: no maximum key age, 12 h grants, no verify-required group, ssh-grant:', () => {
    expect(lifecycleVars(app({}).template)).toEqual({
      MAX_GRANT_HOURS: '12',
      GRANT_TAG_PREFIX: 'ssh-grant:',
    });
  });

  it('context settings (-c name=value)', () => {
    const { template } = app({
      maxKeyAgeDays: '90',
      maxGrantHours: '4',
      verifyRequiredGroups: 'Administrators,Db-Admins',
      grantTagPrefix: 'corp/grant:',
    });
    expect(lifecycleVars(template)).toEqual({
      MAX_KEY_AGE_DAYS: '90',
      MAX_GRANT_HOURS: '4',
      VERIFY_REQUIRED_GROUPS: 'Administrators,Db-Admins',
      GRANT_TAG_PREFIX: 'corp/grant:',
    });
  });

  it('construct props, checked as the context is', () => {
    const t = publisher({ maxKeyAgeDays: 365, maxGrantHours: 2, verifyRequiredGroups: ['Admins'] });
    expect(lifecycleVars(t)).toEqual({
      MAX_KEY_AGE_DAYS: '365',
      MAX_GRANT_HOURS: '2',
      VERIFY_REQUIRED_GROUPS: 'Admins',
      GRANT_TAG_PREFIX: 'ssh-grant:',
    });
    expect(() => publisher({ maxGrantHours: 0 })).toThrow(/maxGrantHours/);
    expect(() => publisher({ maxKeyAgeDays: 2.5 })).toThrow(/maxKeyAgeDays/);
    expect(() => publisher({ verifyRequiredGroups: ['a,b'] })).toThrow(/comma/);
    expect(() => publisher({ tagKeyPrefix: 'ssh/', grantTagPrefix: 'SSH/grant:' })).toThrow(/overlaps/);
  });

  it('lifecycleEnvironment sets MAX_KEY_AGE_DAYS and VERIFY_REQUIRED_GROUPS only when set', () => {
    const s = parseLifecycleSettings(() => undefined, 'ssh-key:');
    expect(lifecycleEnvironment(s)).toEqual({ MAX_GRANT_HOURS: '12', GRANT_TAG_PREFIX: 'ssh-grant:' });
  });
});

describe('KeysExpiredAlarm', () => {
  it('alarms while a run refuses a key as expired (Maximum of KeysExpired >= 1, per schedule period)', () => {
    const { stack, template } = app({ scheduleMinutes: '10' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'IamSshKeys',
      MetricName: 'KeysExpired',
      Dimensions: [{ Name: 'service', Value: 'iam-ssh-keys-publisher' }],
      Statistic: 'Maximum',
      Period: 600,
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(stack.publisher.keysExpiredAlarm.node.id).toBe('KeysExpiredAlarm');
  });

  it('notifies the alarm topic on ALARM and OK', () => {
    const { stack, template } = app({ alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:ops' });
    const id = logicalIdOf(stack, stack.publisher.keysExpiredAlarm);
    const alarm = template.toJSON().Resources[id].Properties;
    expect([alarm.AlarmActions, alarm.OKActions]).toEqual([
      ['arn:aws:sns:us-east-1:123456789012:ops'],
      ['arn:aws:sns:us-east-1:123456789012:ops'],
    ]);
  });
});

describe('grants in the stack', () => {
  it('the grant prefix reaches the self-service deny and the approvers policy; the approvers group is an output', () => {
    const { stack, template } = app({ grantTagPrefix: 'corp/grant:' });
    const patterns = caseVariantPatterns('corp/grant:');
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyGrantTags',
            Condition: { 'ForAnyValue:StringLike': { 'aws:TagKeys': patterns } },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'SetGrantTags',
            Condition: Match.objectLike({ 'ForAllValues:StringLike': { 'aws:TagKeys': ['corp/grant:*'] } }),
          }),
        ]),
      },
    });
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.GrantApproversGroupName?.Value).toEqual({
      Ref: logicalIdOf(stack, stack.grantApprovers.group),
    });
  });
});
