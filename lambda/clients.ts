// SDK clients for the publisher (Lambda and CLI): adaptive retries for IAM
// throttling, path-style S3 when an endpoint override points at an emulator,
// FIPS endpoints from AWS_USE_FIPS_ENDPOINT of the given environment,
// and timeouts on every request: without them a connection that never answers
// holds a run until the Lambda's own timeout (or a CLI run forever). Retries
// (retry.ts) are the SDK's adaptive mode with every wait ended by the run's
// deadline (`budget`, which publish() sets for the run).
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { parseFipsSetting } from '../contract/fips.js';
import { DeadlineRetryStrategy, RunBudget } from './retry.js';

export interface ClientOptions {
  readonly region?: string;
  readonly env?: Record<string, string | undefined>;
  /** Per attempt: no response data for this long fails the attempt (it is retried). @default 30000 */
  readonly requestTimeoutMs?: number;
  /** Per attempt: a TCP/TLS connection not set up by then fails the attempt. @default 5000 */
  readonly connectionTimeoutMs?: number;
  /** @default 10 (adaptive retry mode: throttling slows the client down instead of failing the run) */
  readonly maxAttempts?: number;
  /** @default the SDK's default chain */
  readonly credentials?: AwsCredentialIdentityProvider;
  /** The profile the SDK's chain reads (the CLI's --profile). @default AWS_PROFILE, else `default` */
  readonly profile?: string;
  /**
   * FIPS endpoints when AWS_USE_FIPS_ENDPOINT in `env` does not say (the CLI: the profile's
   * use_fips_endpoint). @default the SDK's own lookup (process.env, then the profile's setting)
   */
  readonly useFipsEndpoint?: boolean;
}

export interface Clients {
  readonly iam: IAMClient;
  readonly s3: S3Client;
  /** Shared by both clients' retry strategies: publish() limits their waits to the run's deadline. */
  readonly budget: RunBudget;
}

export function createClients(opts: ClientOptions = {}): Clients {
  const env = opts.env ?? process.env;
  const maxAttempts = opts.maxAttempts ?? 10;
  const budget = new RunBudget();
  const region = opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  // From `env` explicitly: the SDK would read only process.env.
  const fips = parseFipsSetting(env.AWS_USE_FIPS_ENDPOINT, 'AWS_USE_FIPS_ENDPOINT') ?? opts.useFipsEndpoint;
  const common = {
    ...(region ? { region } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    ...(opts.profile ? { profile: opts.profile } : {}),
    ...(fips !== undefined ? { useFipsEndpoint: fips } : {}),
    maxAttempts,
    requestHandler: {
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
      connectionTimeout: opts.connectionTimeoutMs ?? 5_000,
      // Newer handlers only warn at requestTimeout unless told to fail the attempt.
      throwOnRequestTimeout: true,
    },
  } as const;
  // IAM is a global service: any region signs correctly; default one so a bare shell works.
  // One strategy per client: each has its own rate limiter, as the SDK's adaptive mode does.
  const iam = new IAMClient({
    ...common,
    region: region ?? 'us-east-1',
    retryStrategy: new DeadlineRetryStrategy(maxAttempts, budget),
  });
  const s3 = new S3Client({
    ...common,
    retryStrategy: new DeadlineRetryStrategy(maxAttempts, budget),
    forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL),
  });
  return { iam, s3, budget };
}
