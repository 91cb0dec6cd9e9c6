import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshKeyPublisher } from '../../../../lib/publisher.js';
import { logicalIdOf, testApp } from '../cdk-helpers.js';

import { ACCOUNTS, apps, cleanupApps, ORG, type Synth, synth } from './fixture.js';

afterAll(cleanupApps);

describe('SshKeyPublisher with readers and a prefix (bundled)', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth({ readerAccountIds: ACCOUNTS, readerOrgId: ORG, keyPrefix: 'ssh' }, { bundle: true });
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

describe('SshKeyPublisher variants', () => {
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
});
