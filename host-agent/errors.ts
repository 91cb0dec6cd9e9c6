// Error classes shared by the agent's modules. Kept apart so the cache-hit
// path can recognise them without loading the S3/signing code.

/** Neither S3 nor an acceptable cache entry can answer: the agent must fail closed. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

/** An object is larger than the agent accepts: that object fails, nothing of it is used. */
export class ObjectTooLargeError extends Error {
  override name = 'ObjectTooLargeError';
}

/** S3 (or STS, IMDS) answered with an unexpected status, or the request failed. */
export class FetchError extends Error {
  override name = 'FetchError';
  constructor(
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** No credential source in the chain produced credentials. */
export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

/** Command-line usage error (exit 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** An endpoint URL (config `endpoint` or an AWS_ENDPOINT_URL* / IMDS variable) the agent refuses to use. */
export class EndpointError extends Error {
  override name = 'EndpointError';
}

/** A chained command line sshd would not split, or a token the agent cannot give the chained command. */
export class ChainCommandError extends Error {
  override name = 'ChainCommandError';
}
