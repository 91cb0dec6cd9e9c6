// CDK app settings: context values (strings from `-c name=value`, or typed values
// from cdk.json) parsed into one typed, validated object. Pure: no CDK, no I/O.
import {
  IAM_GROUP_NAME,
  InvalidPrefixError,
  InvalidTagKeyPrefixError,
  normalizePrefix,
  parseTagKeyPrefix,
} from '../contract/index.js';

export class InvalidConfigError extends Error {
  override name = 'InvalidConfigError';
}

/** The architectures the standalone host agent is built for (`npm run build`). */
export const AGENT_ARCHS = ['x64', 'arm64'] as const;
export type AgentArch = (typeof AGENT_ARCHS)[number];

/** The file name of an architecture's standalone executable, in dist/ and in the release folder. */
export function agentFileName(arch: AgentArch): string {
  return `iam-authorized-keys-linux-${arch}`;
}

/** Where instances fetch the host agent from, and the checksums they require. */
export interface AgentSource {
  /**
   * `s3://bucket/folder/` (trailing slash) holding the standalone executables
   * under their dist names, `iam-authorized-keys-linux-x64` and `-arm64`.
   */
  readonly s3Uri: string;
  /** Lower-case hex SHA-256 per architecture; a missing one or a mismatch stops the install. */
  readonly sha256: Readonly<Partial<Record<AgentArch, string>>>;
  /**
   * Region of the artifacts bucket, for the user data's curl download (which
   * signs for one region). Undefined: the stack's region.
   */
  readonly region?: string;
}

export interface AppConfig {
  readonly readerAccountIds: readonly string[];
  readonly readerOrgId: string | undefined;
  /** Narrow the cross-account/org read grants to principals matching one of these (StringLike aws:PrincipalArn). */
  readonly readerPrincipalArnPatterns: readonly string[];
  /** Role/user ARNs exempt from the bucket's deny of object writes (break-glass `iam-ssh-keys publish`). */
  readonly breakGlassPrincipalArns: readonly string[];
  readonly keyPrefix: string;
  /** User tags whose key starts with this hold public keys (`-c tagKeyPrefix=...`). */
  readonly tagKeyPrefix: string;
  readonly scheduleMinutes: number;
  readonly eventDriven: boolean;
  /** Region of the publisher stack, when IAM events are to be forwarded there from us-east-1 (an extra stack). */
  readonly forwardIamEventsTo: string | undefined;
  readonly bucketName: string | undefined;
  readonly alarmTopicArn: string | undefined;
  readonly selfServiceGroupName: string | undefined;
  readonly agent: AgentSource | undefined;
  /** FIPS endpoints: the publisher's clients, the user data's download and the hosts' config (`-c useFipsEndpoint=true`). */
  readonly useFipsEndpoint: boolean;
  /** Set when the reading-account stack is wanted (`-c readerBucket=NAME`). */
  readonly reader: ReaderConfig | undefined;
}

export interface ReaderConfig {
  readonly bucketName: string;
  readonly roleNames: readonly string[];
}

export const DEFAULT_SCHEDULE_MINUTES = 15;

const ACCOUNT_ID = /^\d{12}$/;
const ORG_ID = /^o-[a-z0-9]{10,32}$/;
// S3 general purpose bucket names; dots allowed but not '..' (checked below).
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
const ROLE_NAME = /^[A-Za-z0-9+=,.@_-]{1,64}$/;
// The object key ends up inside a shell script: allow only characters that need no quoting.
const S3_KEY = /^[A-Za-z0-9._/-]{1,1024}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
// A commercial, GovCloud or China region name (us-east-1, us-gov-west-1, cn-north-1).
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
// An IAM role or user ARN, optional path included (aws:PrincipalArn of a role
// session is the role's ARN, path and all). No '*' or '?': ArnNotEquals reads
// them as wildcards, and a wildcard would exempt more than the named principal.
const IAM_PRINCIPAL_ARN =
  /^arn:aws(?:-[a-z]+)*:iam::\d{12}:(?:role|user)\/(?:[A-Za-z0-9+=,.@_-]+\/)*[A-Za-z0-9+=,.@_-]{1,64}$/;
// An aws:PrincipalArn pattern for StringLike: an IAM ARN in which '*' and '?' may
// stand for the partition, account, or parts of the resource.
const PRINCIPAL_ARN_PATTERN =
  /^arn:(?:aws(?:-[a-z]+)*|\*):iam::(?:\d{12}|[0-9*?]{1,12}):[A-Za-z0-9+=,.@_/*?-]{1,600}$/;

/** Reads one context value; undefined when unset. */
export type ContextGetter = (name: string) => unknown;

export function parseAppConfig(get: ContextGetter): AppConfig {
  const readerBucket = optionalString(get, 'readerBucket');
  return {
    readerAccountIds: parseAccountIds(get('readerAccountIds')),
    readerOrgId: checked(
      optionalString(get, 'readerOrgId'),
      'readerOrgId',
      ORG_ID,
      'an organization id (o-...)',
    ),
    readerPrincipalArnPatterns: parseReaderPrincipalArnPatterns(get('readerPrincipalArnPatterns')),
    breakGlassPrincipalArns: parseBreakGlassPrincipalArns(get('breakGlassPrincipalArns')),
    keyPrefix: parseKeyPrefix(get('keyPrefix')),
    tagKeyPrefix: parseTagKeyPrefixSetting(get('tagKeyPrefix')),
    scheduleMinutes: parseScheduleMinutes(get('scheduleMinutes')),
    eventDriven: parseBoolean(get('eventDriven'), 'eventDriven', true),
    forwardIamEventsTo: checked(
      optionalString(get, 'forwardIamEventsTo'),
      'forwardIamEventsTo',
      REGION,
      'an AWS region name (eu-west-1)',
    ),
    bucketName: parseBucketName(optionalString(get, 'bucketName'), 'bucketName'),
    alarmTopicArn: checked(
      optionalString(get, 'alarmTopicArn'),
      'alarmTopicArn',
      SNS_TOPIC_ARN,
      'an SNS topic ARN',
    ),
    selfServiceGroupName: checked(
      optionalString(get, 'selfServiceGroupName'),
      'selfServiceGroupName',
      IAM_GROUP_NAME,
      'an IAM group name',
    ),
    agent: parseAgentSource(
      optionalString(get, 'agentS3Uri'),
      optionalString(get, 'agentSha256'),
      optionalString(get, 'agentRegion'),
    ),
    useFipsEndpoint: parseBoolean(get('useFipsEndpoint'), 'useFipsEndpoint', false),
    reader:
      readerBucket === undefined
        ? undefined
        : {
            bucketName: parseBucketName(readerBucket, 'readerBucket') as string,
            roleNames: parseList(get('readerRoleNames'), 'readerRoleNames').map((r) =>
              must(r, 'readerRoleNames', ROLE_NAME, 'IAM role names'),
            ),
          },
  };
}

export function parseAccountIds(value: unknown): string[] {
  const ids = parseList(value, 'readerAccountIds').map((id) =>
    must(id, 'readerAccountIds', ACCOUNT_ID, '12-digit account ids'),
  );
  return [...new Set(ids)];
}

/**
 * IAM role or user ARNs (comma-separated, or an array in cdk.json: names with a
 * comma need the array form). Deduplicated; wildcards refused.
 */
export function parseBreakGlassPrincipalArns(value: unknown): string[] {
  const arns = parseList(value, 'breakGlassPrincipalArns').map((a) =>
    must(a, 'breakGlassPrincipalArns', IAM_PRINCIPAL_ARN, 'IAM role or user ARNs without wildcards'),
  );
  return [...new Set(arns)];
}

/** aws:PrincipalArn patterns such as `arn:aws:iam::*:role/*-instance`; deduplicated. */
export function parseReaderPrincipalArnPatterns(value: unknown): string[] {
  const patterns = parseList(value, 'readerPrincipalArnPatterns').map((p) =>
    must(
      p,
      'readerPrincipalArnPatterns',
      PRINCIPAL_ARN_PATTERN,
      'IAM ARN patterns (arn:aws:iam::ACCOUNT-or-*:role/NAME-PATTERN)',
    ),
  );
  return [...new Set(patterns)];
}

/**
 * The contract's prefix rule, plus: no '*' (and no '?'), because the prefix
 * becomes part of IAM resource ARNs and s3:prefix conditions, where they are
 * wildcards and would widen every grant.
 */
export function parseKeyPrefix(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new InvalidConfigError('keyPrefix: expected a string');
  let prefix: string;
  try {
    prefix = normalizePrefix(value);
  } catch (err) {
    if (err instanceof InvalidPrefixError)
      throw new InvalidConfigError(`keyPrefix: ${err.message}`, { cause: err });
    throw err;
  }
  if (/[*?]/.test(prefix)) {
    throw new InvalidConfigError(
      `keyPrefix: ${JSON.stringify(value)} contains '*' or '?', which IAM policies read as wildcards`,
    );
  }
  return prefix;
}

/**
 * The tag key prefix of keys in user tags (default `ssh-key:`): IAM tag key
 * characters only, so never a policy wildcard, and not IAM's reserved `aws:`.
 */
export function parseTagKeyPrefixSetting(value: unknown): string {
  if (value === undefined || value === null) return parseTagKeyPrefix(undefined);
  if (typeof value !== 'string') throw new InvalidConfigError('tagKeyPrefix: expected a string');
  try {
    return parseTagKeyPrefix(value);
  } catch (err) {
    if (err instanceof InvalidTagKeyPrefixError)
      throw new InvalidConfigError(`tagKeyPrefix: ${err.message}`, { cause: err });
    throw err;
  }
}

export function parseScheduleMinutes(value: unknown): number {
  if (value === undefined || value === null || value === '') return DEFAULT_SCHEDULE_MINUTES;
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1440) {
    throw new InvalidConfigError(
      `scheduleMinutes: expected a whole number of minutes from 1 to 1440, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export function parseBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined || value === null || value === '') return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new InvalidConfigError(`${name}: expected true or false, got ${JSON.stringify(value)}`);
}

export function parseBucketName(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (!BUCKET_NAME.test(value) || value.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(value)) {
    throw new InvalidConfigError(`${name}: ${JSON.stringify(value)} is not a valid S3 bucket name`);
  }
  return value;
}

/**
 * `s3://bucket/folder/` (or `s3://bucket/` for the bucket root): the release
 * folder of the agent executables. Returns the folder as a key prefix ('' or
 * ending in '/'). The characters allowed need no quoting in a shell script.
 */
export function parseS3Folder(uri: string): { readonly bucket: string; readonly prefix: string } {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri);
  const bucket = m?.[1];
  const prefix = m?.[2];
  if (bucket === undefined || prefix === undefined || (prefix !== '' && !prefix.endsWith('/'))) {
    throw new InvalidConfigError(
      `agentS3Uri: expected the release folder s3://bucket/path/ (ending in /), got ${JSON.stringify(uri)}`,
    );
  }
  parseBucketName(bucket, 'agentS3Uri');
  const longest = Math.max(...AGENT_ARCHS.map((a) => agentFileName(a).length));
  if (
    prefix !== '' &&
    (!S3_KEY.test(prefix) ||
      prefix.length + longest > 1024 ||
      prefix
        .slice(0, -1)
        .split('/')
        .some((seg) => seg === '' || seg === '.' || seg === '..'))
  ) {
    throw new InvalidConfigError(
      `agentS3Uri: folder ${JSON.stringify(prefix)} may use only letters, digits and ._-/ (no empty, . or .. segments)`,
    );
  }
  return { bucket, prefix };
}

/**
 * `x64:<sha256>,arm64:<sha256>`: one entry per architecture, at least one.
 * Hex is lower-cased; unknown or repeated architectures are refused.
 */
export function parseAgentSha256(value: string): Partial<Record<AgentArch, string>> {
  const usage = 'expected x64:<sha256>,arm64:<sha256> (sha256sum dist/iam-authorized-keys-linux-*)';
  const out: Partial<Record<AgentArch, string>> = {};
  const items = value
    .split(',')
    .map((i) => i.trim())
    .filter((i) => i !== '');
  if (items.length === 0) throw new InvalidConfigError(`agentSha256: ${usage}`);
  for (const item of items) {
    const colon = item.indexOf(':');
    if (colon < 0) {
      throw new InvalidConfigError(
        `agentSha256: ${JSON.stringify(item.length > 16 ? `${item.slice(0, 16)}...` : item)} names no architecture: ${usage}`,
      );
    }
    const arch = item.slice(0, colon).trim();
    const sum = item
      .slice(colon + 1)
      .trim()
      .toLowerCase();
    if (!(AGENT_ARCHS as readonly string[]).includes(arch)) {
      throw new InvalidConfigError(
        `agentSha256: unknown architecture ${JSON.stringify(arch)} (known: ${AGENT_ARCHS.join(', ')})`,
      );
    }
    const a = arch as AgentArch;
    if (out[a] !== undefined) throw new InvalidConfigError(`agentSha256: ${a} is given twice`);
    if (!SHA256_HEX.test(sum)) {
      throw new InvalidConfigError(
        `agentSha256: ${a}: expected 64 hex digits (sha256sum dist/${agentFileName(a)})`,
      );
    }
    out[a] = sum;
  }
  return out;
}

/** Both or neither: a folder without checksums would install whatever is found there. */
export function parseAgentSource(
  s3Uri: string | undefined,
  sha256: string | undefined,
  region?: string,
): AgentSource | undefined {
  if (s3Uri === undefined && sha256 === undefined) {
    if (region !== undefined) throw new InvalidConfigError('agentRegion: needs agentS3Uri and agentSha256');
    return undefined;
  }
  if (s3Uri === undefined || sha256 === undefined) {
    throw new InvalidConfigError('agentS3Uri and agentSha256 go together: set both or neither');
  }
  parseS3Folder(s3Uri);
  const sums = parseAgentSha256(sha256);
  const agentRegion = checked(region, 'agentRegion', REGION, 'an AWS region name (us-east-1)');
  return agentRegion === undefined ? { s3Uri, sha256: sums } : { s3Uri, sha256: sums, region: agentRegion };
}

/**
 * Checks an AgentSource built in code (not parsed from context): every value
 * of it ends up inside the user-data script.
 */
export function validateAgentSource(agent: AgentSource): void {
  parseS3Folder(agent.s3Uri);
  const entries = Object.entries(agent.sha256);
  if (entries.length === 0)
    throw new InvalidConfigError('agent.sha256: expected a checksum for x64 or arm64');
  for (const [arch, sum] of entries) {
    if (!(AGENT_ARCHS as readonly string[]).includes(arch)) {
      throw new InvalidConfigError(`agent.sha256: unknown architecture ${JSON.stringify(arch)}`);
    }
    if (typeof sum !== 'string' || !SHA256_HEX.test(sum)) {
      throw new InvalidConfigError(`agent.sha256.${arch}: expected 64 lower-case hex digits`);
    }
  }
  if (agent.region !== undefined) validateRegion(agent.region, 'agent.region');
}

/** An AWS region name (us-east-1); throws InvalidConfigError naming `name` otherwise. */
export function validateRegion(value: string, name: string): string {
  return must(value, name, REGION, 'an AWS region name (us-east-1)');
}

/** A comma-separated string (CLI) or an array of strings (cdk.json); blanks dropped. */
export function parseList(value: unknown, name: string): string[] {
  if (value === undefined || value === null) return [];
  const items = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
  if (items === undefined || items.some((i) => typeof i !== 'string')) {
    throw new InvalidConfigError(`${name}: expected a comma-separated list or an array of strings`);
  }
  return (items as string[]).map((i) => i.trim()).filter((i) => i !== '');
}

function optionalString(get: ContextGetter, name: string): string | undefined {
  const v = get(name);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new InvalidConfigError(`${name}: expected a string`);
  return v.trim();
}

function checked(value: string | undefined, name: string, re: RegExp, what: string): string | undefined {
  return value === undefined ? undefined : must(value, name, re, what);
}

function must(value: string, name: string, re: RegExp, what: string): string {
  if (!re.test(value))
    throw new InvalidConfigError(`${name}: ${JSON.stringify(value)} is not valid: expected ${what}`);
  return value;
}
