// IAM change events -> an SQS queue -> the publisher, in batches. With one
// function slot (reserved concurrency 1), a burst of events invoking the
// function directly is throttled and retried by EventBridge; through a queue a
// burst becomes a few invocations, each applying the union of a batch's events
// (lambda/event-targets.ts). Messages that keep failing land in a dead-letter
// queue, which alarms.
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/** Largest batch one invocation gets; lambda/event-targets.ts MAX_BATCH_RECORDS accepts it. */
export const EVENT_BATCH_SIZE = 100;
/** How long the event source gathers events by default (SshKeyPublisherProps.eventBatchWindow). */
export const DEFAULT_EVENT_BATCH_WINDOW_SECONDS = 10;
/** Deliveries of a message before it goes to the dead-letter queue. */
export const EVENT_MAX_RECEIVE_COUNT = 5;

export interface EventQueueProps {
  /** The function's timeout: the queue's visibility timeout must cover a whole run. */
  readonly functionTimeout: Duration;
  /** How long the event source gathers events before invoking (coalescing vs latency). */
  readonly batchWindow: Duration;
  readonly alarmTopic?: sns.ITopic | undefined;
}

export interface EventQueue {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly deadLetterAlarm: cloudwatch.Alarm;
}

export function eventQueue(scope: Construct, fn: lambda.IFunction, props: EventQueueProps): EventQueue {
  const deadLetterQueue = new sqs.Queue(scope, 'IamChangesDeadLetters', {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  const queue = new sqs.Queue(scope, 'IamChangesQueue', {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    // A batch in flight stays hidden for a whole run, plus the gathering window and a margin.
    visibilityTimeout: props.functionTimeout.plus(props.batchWindow).plus(Duration.minutes(1)),
    // Events older than a day are superseded by scheduled full runs anyway.
    retentionPeriod: Duration.days(1),
    deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: EVENT_MAX_RECEIVE_COUNT },
  });
  fn.addEventSource(
    new sources.SqsEventSource(queue, {
      batchSize: EVENT_BATCH_SIZE,
      maxBatchingWindow: props.batchWindow,
      // The least SQS allows; the function's own reserved concurrency of 1 keeps runs apart.
      maxConcurrency: 2,
      // All or nothing: one run applies the union of the batch, so it fails or succeeds whole.
      reportBatchItemFailures: false,
    }),
  );
  const deadLetterAlarm = new cloudwatch.Alarm(scope, 'IamChangesDeadLettersAlarm', {
    alarmDescription:
      'iam-ssh-keys publisher: IAM change events failed 5 times and were set aside; the scheduled full run still applies their changes',
    metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
      statistic: 'Maximum',
    }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  if (props.alarmTopic) {
    const action = new cwActions.SnsAction(props.alarmTopic);
    deadLetterAlarm.addAlarmAction(action);
    deadLetterAlarm.addOkAction(action);
  }
  return { queue, deadLetterQueue, deadLetterAlarm };
}
