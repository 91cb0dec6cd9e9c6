// What a publisher run against moto needs, for tests, benches and the demo: SDK
// clients for an endpoint (moto or the recording proxy in front of it), and a
// run's result when it must have completed.
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { PublishIncomplete, type PublishResult, type RunOutcome } from '../lambda/publish-result.js';
import { TEST_CREDENTIALS, TEST_REGION } from './moto.js';

export function clientsFor(endpoint: string): { iam: IAMClient; s3: S3Client } {
  const common = { endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS };
  return {
    iam: new IAMClient({ ...common, retryMode: 'adaptive', maxAttempts: 10 }),
    s3: new S3Client({ ...common, forcePathStyle: true }),
  };
}

/** A run's outcome that must have completed (no deadline, or time enough): its result. */
export function completed(outcome: RunOutcome): PublishResult {
  if (outcome instanceof PublishIncomplete) throw new Error(`the run stopped in time: ${outcome.message}`);
  return outcome;
}
