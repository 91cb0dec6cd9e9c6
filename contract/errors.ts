// Error classes and helpers both deployables use. Tiny and import-free: the host agent's
// login path loads it on every login.

/** Command-line usage error: exit 2 with one line. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** No credential source produced credentials. */
export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

/** The message of anything thrown (an Error's message, else the value as text). */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
