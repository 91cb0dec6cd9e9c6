// Counts IAM calls by action (and HTTP attempts, retries included) for the run summary.
import type { IAMClient } from '@aws-sdk/client-iam';

export interface CallCounts {
  readonly calls: Record<string, number>;
  readonly attempts: Record<string, number>;
}

export function countCalls(client: IAMClient): CallCounts {
  const counts: CallCounts = { calls: {}, attempts: {} };
  const bump = (m: Record<string, number>, k: string) => {
    m[k] = (m[k] ?? 0) + 1;
  };
  client.middlewareStack.add(
    (next, context) => (args) => {
      bump(counts.calls, String(context.commandName).replace(/Command$/, ''));
      return next(args);
    },
    { step: 'initialize', name: 'iamSshKeysCallCounter' },
  );
  // The deserialize step runs inside the retry loop: once per HTTP attempt.
  client.middlewareStack.add(
    (next, context) => (args) => {
      bump(counts.attempts, String(context.commandName).replace(/Command$/, ''));
      return next(args);
    },
    { step: 'deserialize', name: 'iamSshKeysAttemptCounter' },
  );
  return counts;
}
