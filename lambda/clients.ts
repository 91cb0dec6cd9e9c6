// SDK clients for the publisher (Lambda and CLI): adaptive retries for IAM
// throttling, path-style S3 when an endpoint override points at an emulator.
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';

export interface ClientOptions {
  readonly region?: string;
  readonly env?: Record<string, string | undefined>;
}

export function createClients(opts: ClientOptions = {}): { iam: IAMClient; s3: S3Client } {
  const env = opts.env ?? process.env;
  const region = opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const common = {
    ...(region ? { region } : {}),
    retryMode: 'adaptive',
    maxAttempts: 10,
  } as const;
  // IAM is a global service: any region signs correctly; default one so a bare shell works.
  const iam = new IAMClient({ ...common, region: region ?? 'us-east-1' });
  const s3 = new S3Client({
    ...common,
    forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL),
  });
  return { iam, s3 };
}
