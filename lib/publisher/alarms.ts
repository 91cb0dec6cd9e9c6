// The alarms of SshKeyPublisher: a failed run, throttling that lasts, no
// successful publish and no import progress for stalenessPeriods schedule
// periods, an object refused as too large for hosts, keys refused as past their
// maximum age, and (informational) a first import in progress; optionally notified.
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import {
  METRICS_NAMESPACE,
  PUBLISHER_SERVICE_NAME,
  type PublisherMetric,
} from '../../contract/publisher-settings.js';

// The handler emits PublishIncomplete (1) for a run that stopped in time and saved progress, and with it
// ImportProgressed: 1 when it read something new (users' key lists, key bodies), 0 when stuck.
// Every run emits ObjectsTooLargeForHosts: how many objects it refused to write because hosts could not read them.

export interface PublisherAlarmsProps {
  readonly scheduleMinutes: number;
  readonly stalenessPeriods: number;
  readonly alarmTopic?: sns.ITopic | undefined;
}

export type PublisherAlarm =
  | 'errorsAlarm'
  | 'throttlesAlarm'
  | 'stalenessAlarm'
  | 'importInProgressAlarm'
  | 'objectsTooLargeAlarm'
  | 'keysExpiredAlarm';

export function publisherAlarms(
  scope: Construct,
  fn: lambda.IFunction,
  props: PublisherAlarmsProps,
): Record<PublisherAlarm, cloudwatch.Alarm> {
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
  const metric = (metricName: PublisherMetric) =>
    new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { service: PUBLISHER_SERVICE_NAME },
      statistic: 'Sum',
      period,
    });
  // A run that advanced a first import (or a long publish) counts like a successful one: the
  // import is healthy, only slow. A series that reads nothing new run after run still pages.
  // Missing data is breaching: a publisher that never runs emits nothing.
  const stalenessAlarm = new cloudwatch.Alarm(scope, 'StalenessAlarm', {
    alarmDescription: `iam-ssh-keys publisher broken: no successful publish and no import progress for ${stalenessPeriods} schedule periods (hosts serve an aging index.json). A first import that advances does not count as broken: see the ImportInProgress alarm and iam-ssh-keys status.`,
    metric: new cloudwatch.MathExpression({
      expression: 'FILL(succeeded, 0) + FILL(progressed, 0)',
      usingMetrics: {
        succeeded: metric('PublishSucceeded'),
        progressed: metric('ImportProgressed'),
      },
      label: 'successful or advancing runs',
      period,
    }),
    threshold: 1,
    evaluationPeriods: stalenessPeriods,
    datapointsToAlarm: stalenessPeriods,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
  // Informational: says "first import in progress" (ALARM) and "it finished" (OK) instead of a
  // "publisher broken" page while runs stop in time and continue from publisher/progress.json.
  const importInProgressAlarm = new cloudwatch.Alarm(scope, 'ImportInProgressAlarm', {
    alarmDescription:
      'iam-ssh-keys publisher: first import in progress (not a failure): runs stop before the Lambda timeout and continue from publisher/progress.json; users are published when the import completes. OK again once a run completes. If the staleness alarm fires too, the import is stuck.',
    metric: metric('PublishIncomplete'),
    threshold: 1,
    // 1 of 2: a period in which no run happened to end does not flap it to OK.
    evaluationPeriods: 2,
    datapointsToAlarm: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  const objectsTooLargeAlarm = objectsTooLarge(scope, metric('ObjectsTooLargeForHosts'));
  const keysExpiredAlarm = keysExpired(scope, metric('KeysExpired'));
  return notify(props.alarmTopic, {
    errorsAlarm,
    throttlesAlarm,
    stalenessAlarm,
    importInProgressAlarm,
    objectsTooLargeAlarm,
    keysExpiredAlarm,
  });
}

/** Every alarm notifies the topic, if any, on ALARM and on OK. */
function notify<T extends Record<string, cloudwatch.Alarm>>(topic: sns.ITopic | undefined, alarms: T): T {
  if (!topic) return alarms;
  const action = new cwActions.SnsAction(topic);
  for (const alarm of Object.values(alarms)) {
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }
  return alarms;
}

/** Names the cause the Errors alarm cannot: an object (a big group, directory.json) hosts cannot read. */
function objectsTooLarge(scope: Construct, metric: cloudwatch.Metric): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, 'ObjectsTooLargeAlarm', {
    alarmDescription:
      "iam-ssh-keys publisher: a run refused to write an object over the hosts' 8 MiB limit (a group with thousands of members' keys, or directory.json); its previous version was deleted, so its members cannot log in through it. Split the group. See docs/operations.md.",
    metric: metric.with({ statistic: 'Maximum' }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}

/**
 * Keys past maxKeyAgeDays are no longer published: their owners cannot log in with them. It stays
 * in ALARM while a run still finds one (a standing count, not an event), so deactivating or
 * deleting the expired keys clears it. With maxKeyAgeDays off the metric stays 0.
 */
function keysExpired(scope: Construct, metric: cloudwatch.Metric): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, 'KeysExpiredAlarm', {
    alarmDescription:
      'iam-ssh-keys publisher: keys older than maxKeyAgeDays were refused (not published); their owners cannot log in with them. iam-ssh-keys status lists them (reason expired): rotate them, and deactivate or delete the expired ones to clear this alarm. See docs/operations.md.',
    metric: metric.with({ statistic: 'Maximum' }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}
