// The alarms of SshKeyPublisher: a failed run, throttling that lasts, and no
// successful publish for stalenessPeriods schedule periods; optionally notified.
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE, PUBLISH_SUCCEEDED_METRIC, PUBLISHER_SERVICE_NAME } from './function.js';

export interface PublisherAlarmsProps {
  readonly scheduleMinutes: number;
  readonly stalenessPeriods: number;
  readonly alarmTopic?: sns.ITopic | undefined;
}

export function publisherAlarms(
  scope: Construct,
  fn: lambda.IFunction,
  props: PublisherAlarmsProps,
): { errorsAlarm: cloudwatch.Alarm; throttlesAlarm: cloudwatch.Alarm; stalenessAlarm: cloudwatch.Alarm } {
  const { stalenessPeriods } = props;
  const period = Duration.minutes(props.scheduleMinutes);
  const errorsAlarm = new cloudwatch.Alarm(scope, 'ErrorsAlarm', {
    alarmDescription: 'iam-ssh-keys publisher: a run failed',
    metric: fn.metricErrors({ period, statistic: 'Sum' }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  // Some throttling is normal (one slot, bursts of IAM events); every period for three is not.
  const throttlesAlarm = new cloudwatch.Alarm(scope, 'ThrottlesAlarm', {
    alarmDescription: 'iam-ssh-keys publisher: invocations throttled in 3 consecutive periods',
    metric: fn.metricThrottles({ period, statistic: 'Sum' }),
    threshold: 1,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  // Missing data is breaching: a publisher that never runs emits nothing.
  const stalenessAlarm = new cloudwatch.Alarm(scope, 'StalenessAlarm', {
    alarmDescription: `iam-ssh-keys publisher: no successful publish for ${stalenessPeriods} schedule periods`,
    metric: new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: PUBLISH_SUCCEEDED_METRIC,
      dimensionsMap: { service: PUBLISHER_SERVICE_NAME },
      statistic: 'Sum',
      period,
    }),
    threshold: 1,
    evaluationPeriods: stalenessPeriods,
    datapointsToAlarm: stalenessPeriods,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
  if (props.alarmTopic) {
    const action = new cwActions.SnsAction(props.alarmTopic);
    for (const alarm of [errorsAlarm, throttlesAlarm, stalenessAlarm]) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }
  return { errorsAlarm, throttlesAlarm, stalenessAlarm };
}
