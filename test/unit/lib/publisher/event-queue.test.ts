import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import type { Construct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_RECORDS } from '../../../../lambda/event-targets.js';
import { logicalIdOf } from '../cdk-helpers.js';

import { ACCOUNTS, cleanupApps, ORG, type Synth, synth } from './fixture.js';

afterAll(cleanupApps);

describe('SshKeyPublisher with readers and a prefix (bundled)', () => {
  let s: Synth;
  beforeAll(() => {
    s = synth({ readerAccountIds: ACCOUNTS, readerOrgId: ORG, keyPrefix: 'ssh' }, { bundle: true });
  });

  it('event queue: SSE, TLS only, visibility covers a run, dead letters after 5 deliveries, EventBridge may send only from its rule', () => {
    const queueId = logicalIdOf(s.stack, s.publisher.eventQueue as Construct);
    const dlqId = logicalIdOf(s.stack, s.publisher.eventDeadLetterQueue as Construct);
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 15 * 60 + 10 + 60,
      MessageRetentionPeriod: 86400,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 5 },
    });
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 86400,
    });
    for (const id of [queueId, dlqId]) {
      s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
    const ruleId = logicalIdOf(s.stack, s.publisher.iamChangeRule as Construct);
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
          }),
        ]),
      },
    });
  });

  it('event source: batches of up to 100 gathered for 10 s, all or nothing, at most 2 pollers', () => {
    const fnId = logicalIdOf(s.stack, s.publisher.function);
    const queueId = logicalIdOf(s.stack, s.publisher.eventQueue as Construct);
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId },
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 10,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: Match.absent(),
    });
    expect(100).toBeLessThanOrEqual(MAX_BATCH_RECORDS);
  });

  it('dead-letter alarm: any message set aside', () => {
    const dlq = s.publisher.eventDeadLetterQueue as Construct;
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(s.stack, dlq), 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });
});

describe('SshKeyPublisher variants', () => {
  it.each([
    [Duration.seconds(0), /1 to 300 whole seconds, got 0/],
    [Duration.seconds(301), /got 301/],
    [Duration.millis(1500), /whole seconds/],
  ])('rejects an event batch window of %s', (w, reason) => {
    expect(() => synth({ eventBatchWindow: w })).toThrow(reason);
  });

  it('eventBatchWindow sets the gathering window', () => {
    const s = synth({ eventBatchWindow: Duration.seconds(30) });
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      MaximumBatchingWindowInSeconds: 30,
    });
  });
});
