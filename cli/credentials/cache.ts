// The session cache, shared with the AWS CLI: ~/.aws/cli/cache/<key>.json, where <key>
// is the SHA-1 of the AssumeRole arguments as Python's json.dumps(sort_keys=True)
// writes them (botocore's AssumeRoleCredentialFetcher), and the file holds the STS
// response ({"Credentials": {...}}). A session either tool obtained serves the other.
import { createHash } from 'node:crypto';
import type { StaticCredentials, Step } from './profile.js';

export interface Session {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
}

/** Python's json.dumps(v, sort_keys=True): ", " and ": " separators, non-ASCII escaped. */
export function pythonJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(pythonJson).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${pythonJson(k)}: ${pythonJson(o[k])}`)
      .join(', ')}}`;
  }
  if (typeof v === 'string')
    return JSON.stringify(v).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  return JSON.stringify(v);
}

/**
 * The cache file name of one STS step, without `.json`. AssumeRole: exactly the AWS
 * CLI's key (RoleArn, SerialNumber, ExternalId, DurationSeconds, and RoleSessionName
 * only when the profile sets one). GetSessionToken (the CLI has no such cache): the
 * same scheme over its arguments and the long-term key id, marked so it never meets
 * an AssumeRole key.
 */
export function cacheKey(step: Step, source?: StaticCredentials): string {
  const args =
    step.kind === 'assume-role'
      ? {
          RoleArn: step.roleArn,
          SerialNumber: step.serialNumber,
          ExternalId: step.externalId,
          DurationSeconds: step.durationSeconds,
          RoleSessionName: step.roleSessionName,
        }
      : {
          Operation: 'iam-ssh-keys:GetSessionToken',
          AccessKeyId: source?.accessKeyId,
          SerialNumber: step.serialNumber,
          DurationSeconds: step.durationSeconds,
        };
  return createHash('sha1').update(pythonJson(args), 'utf8').digest('hex');
}

/** botocore writes "...Z", "...+00:00" or strftime's "...UTC"; a time without a zone is UTC. */
export function parseExpiration(s: string): Date | undefined {
  let t = s.trim().replace(/ ?UTC$/, 'Z');
  if (!/(Z|[+-]\d\d:?\d\d)$/.test(t)) t += 'Z';
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** Reads a cache file's text; undefined when it is not a usable session. */
export function parseCacheFile(text: string): Session | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const c = (v as { Credentials?: Record<string, unknown> } | null)?.Credentials;
  if (!c || typeof c !== 'object') return undefined;
  const { AccessKeyId, SecretAccessKey, SessionToken, Expiration } = c;
  if (
    typeof AccessKeyId !== 'string' ||
    typeof SecretAccessKey !== 'string' ||
    typeof SessionToken !== 'string'
  )
    return undefined;
  const expiration = typeof Expiration === 'string' ? parseExpiration(Expiration) : undefined;
  if (!AccessKeyId || !SecretAccessKey || !SessionToken || !expiration) return undefined;
  return {
    accessKeyId: AccessKeyId,
    secretAccessKey: SecretAccessKey,
    sessionToken: SessionToken,
    expiration,
  };
}

/** What a cache file holds: the STS response's shape, which the AWS CLI reads. */
export function renderCacheFile(s: Session, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    Credentials: {
      AccessKeyId: s.accessKeyId,
      SecretAccessKey: s.secretAccessKey,
      SessionToken: s.sessionToken,
      Expiration: s.expiration.toISOString(),
    },
    ...extra,
  });
}

/** A session is used while more than this is left: the SDK's own refresh margin. */
export const EXPIRY_MARGIN_MS = 5 * 60_000;

export function isFresh(s: Session, now: Date, marginMs = EXPIRY_MARGIN_MS): boolean {
  return s.expiration.getTime() - now.getTime() > marginMs;
}

/** Storage of cache files by key (the file system at the edge, a Map in tests). */
export interface CacheStore {
  read(key: string): string | undefined;
  write(key: string, text: string): void;
}
