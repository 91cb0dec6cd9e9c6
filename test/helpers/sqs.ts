// How a Lambda SQS event source groups messages into invocations: a batch is
// sent when it holds batchSize messages or when batchWindowSeconds have passed
// since its first message arrived (the MaximumBatchingWindowInSeconds rule), and
// each message is the EventBridge event's JSON, as an SQS target delivers it.
import { createHash, randomUUID } from 'node:crypto';

export interface Arrival {
  /** Seconds since the start of the burst. */
  readonly at: number;
  readonly event: unknown;
}

export interface SqsRecord {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: Record<string, string>;
  readonly messageAttributes: Record<string, never>;
  readonly md5OfBody: string;
  readonly eventSource: 'aws:sqs';
  readonly eventSourceARN: string;
  readonly awsRegion: string;
}

export function sqsRecord(event: unknown, sentAt: number): SqsRecord {
  const body = JSON.stringify(event);
  return {
    messageId: randomUUID(),
    receiptHandle: randomUUID(),
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(sentAt),
      SenderId: 'AIDAEVENTBRIDGE',
      ApproximateFirstReceiveTimestamp: String(sentAt),
    },
    messageAttributes: {},
    md5OfBody: createHash('md5').update(body).digest('hex'),
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:iam-ssh-keys-events',
    awsRegion: 'eu-west-1',
  };
}

/** Arrivals (in time order) -> the batches the event source would invoke the function with. */
export function sqsBatches(
  arrivals: readonly Arrival[],
  opts: { readonly batchSize: number; readonly batchWindowSeconds: number },
): { Records: SqsRecord[] }[] {
  const out: { Records: SqsRecord[] }[] = [];
  let current: SqsRecord[] = [];
  let opened = 0;
  for (const a of [...arrivals].sort((x, y) => x.at - y.at)) {
    if (current.length > 0 && a.at - opened >= opts.batchWindowSeconds) {
      out.push({ Records: current });
      current = [];
    }
    if (current.length === 0) opened = a.at;
    current.push(sqsRecord(a.event, Math.round(a.at * 1000)));
    if (current.length === opts.batchSize) {
      out.push({ Records: current });
      current = [];
    }
  }
  if (current.length > 0) out.push({ Records: current });
  return out;
}
