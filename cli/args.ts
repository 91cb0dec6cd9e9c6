// Pure argv parsing for the operator CLI, on node:util parseArgs (as host-agent/admin).
import { parseArgs as parseArgv } from 'node:util';
import { UsageError } from '../contract/errors.js';
import { IAM_GROUP_NAME, IAM_USER_NAME } from '../contract/layout.js';
import { DEFAULT_EXPIRING_WITHIN_DAYS, DEFAULT_MAX_GRANT_HOURS } from '../contract/publisher-settings.js';
import { own } from '../contract/records.js';
import { checkGrantLength, parseGrantDuration } from './grant-time.js';
import { parseTimeSpec, type TimeSpec } from './logins-report.js';

export { USAGE } from './usage.js';
export { UsageError };

/** Options every command accepts: where credentials and region come from. */
export interface GlobalOptions {
  readonly profile?: string;
  readonly region?: string;
  readonly mfaCode?: string;
}

export const GLOBAL_OPTIONS: Readonly<Record<string, keyof GlobalOptions>> = {
  '--profile': 'profile',
  '--region': 'region',
  '--mfa-code': 'mfaCode',
};

type Spec = Record<string, { type: 'string' | 'boolean' }>;
type Token = NonNullable<ReturnType<typeof parseArgv>['tokens']>[number];

/**
 * node:util parseArgs, not strict: it only cuts argv into tokens (`--name value`, `--name=value`,
 * positionals); the checks are ours, so every mistake is one UsageError line naming the argument.
 */
function tokens(args: readonly string[], spec: Spec): Token[] {
  return parseArgv({ args: [...args], options: spec, strict: false, allowPositionals: true, tokens: true })
    .tokens;
}

/** An option's value; refuses a flag with a value, an option without one, and `--` (not used). */
function optionValue(t: Token, args: readonly string[], spec: Spec): string | true {
  if (t.kind === 'option-terminator') throw new UsageError('unknown option --');
  if (t.kind !== 'option') throw new UsageError(`unexpected argument ${t.value}`);
  const type = t.rawName === `--${t.name}` && Object.hasOwn(spec, t.name) ? spec[t.name]?.type : undefined;
  if (type === undefined) throw new UsageError(`unknown option ${args[t.index]}`);
  if (type === 'boolean') {
    if (t.inlineValue) throw new UsageError(`${t.rawName} does not take a value`);
    return true;
  }
  if (t.value === undefined || t.value === '') throw new UsageError(`${t.rawName} needs a value`);
  return t.value;
}

const GLOBAL_SPEC: Spec = Object.fromEntries(
  Object.keys(GLOBAL_OPTIONS).map((o) => [o.slice(2), { type: 'string' as const }]),
);

/** Takes the global options out of argv, wherever they stand; the rest goes to parseArgs. */
export function splitGlobalOptions(argv: readonly string[]): { global: GlobalOptions; rest: string[] } {
  const global: Record<string, string> = {};
  const taken = new Set<number>();
  for (const t of tokens(argv, GLOBAL_SPEC)) {
    const key = t.kind === 'option' ? own(GLOBAL_OPTIONS, t.rawName) : undefined;
    if (t.kind !== 'option' || key === undefined) continue;
    global[key] = optionValue(t, argv, GLOBAL_SPEC) as string;
    taken.add(t.index);
    if (!t.inlineValue) taken.add(t.index + 1);
  }
  return { global, rest: argv.filter((_, i) => !taken.has(i)) };
}

export type Command =
  | { readonly cmd: 'help' }
  | {
      readonly cmd: 'publish';
      readonly bucket: string;
      readonly prefix?: string;
      readonly dryRun: boolean;
      readonly allowMassDelete: boolean;
      readonly allowIndexReset: boolean;
      readonly maxDeleteShare?: number;
      readonly uidBase?: number;
      readonly json: boolean;
      readonly tagKeyPrefix?: string;
      /** A saved EventBridge event (JSON file) to apply in a targeted way. */
      readonly event?: string;
      /** Stop in time and save progress (exit 3) when IAM cannot be read completely within it. */
      readonly timeBudget?: number;
      /** Key lifecycle, as the stack's maxKeyAgeDays, maxGrantHours, verifyRequiredGroups, grantTagPrefix. */
      readonly maxKeyAgeDays?: number;
      readonly maxGrantHours?: number;
      readonly verifyRequiredGroups?: readonly string[];
      readonly grantTagPrefix?: string;
    }
  | {
      readonly cmd: 'status';
      readonly bucket: string;
      readonly prefix?: string;
      readonly maxAge: number;
      /** Keys expiring within this many days are listed. @default 14 */
      readonly expiringWithin: number;
      readonly json: boolean;
    }
  | {
      readonly cmd: 'logins';
      /** The audit bucket (AuditBucketName output). */
      readonly bucket: string;
      readonly since: TimeSpec;
      readonly until?: TimeSpec;
      readonly user?: string;
      readonly instance?: string;
      readonly localUser?: string;
      /** The keys bucket, whose index.json fills in key ids by fingerprint. */
      readonly keysBucket?: string;
      readonly keysPrefix?: string;
      readonly json: boolean;
    }
  | {
      readonly cmd: 'credentials';
      readonly roleArn?: string;
      readonly durationSeconds?: number;
      readonly json: boolean;
    }
  | GrantCommand
  | { readonly cmd: 'grants'; readonly bucket: string; readonly prefix?: string; readonly json: boolean }
  | { readonly cmd: 'keys'; readonly action: 'list'; readonly user?: string; readonly tagKeyPrefix?: string }
  | {
      readonly cmd: 'keys';
      readonly action: 'upload';
      readonly user?: string;
      readonly tagKeyPrefix?: string;
      /** The tag key is the prefix + this (keys other than ssh-rsa). */
      readonly label?: string;
      readonly file: string;
    }
  | {
      readonly cmd: 'keys';
      readonly action: 'activate' | 'deactivate' | 'delete';
      readonly user?: string;
      readonly tagKeyPrefix?: string;
      /** A key-store id (`APKA...`), or `tag:<tag key>` (a bare tag key with the prefix too). */
      readonly keyId: string;
    };

/** Options without a value, and (below) with one, of any command; which apply where is checked per command. */
export const FLAGS: ReadonlySet<string> = new Set([
  '--dry-run',
  '--allow-mass-delete',
  '--allow-index-reset',
  '--json',
  '--revoke',
]);
export const OPTIONS: ReadonlySet<string> = new Set([
  '--bucket',
  '--prefix',
  '--max-delete-share',
  '--uid-base',
  '--max-age',
  '--expiring-within',
  '--user',
  '--role-arn',
  '--duration',
  '--label',
  '--tag-key-prefix',
  '--event',
  '--time-budget',
  '--group',
  '--for',
  '--max-key-age-days',
  '--max-grant-hours',
  '--verify-required-groups',
  '--grant-tag-prefix',
  '--since',
  '--until',
  '--instance',
  '--local-user',
  '--keys-bucket',
  '--keys-prefix',
]);

/** FLAGS and OPTIONS as node:util parseArgs takes them. */
const SPEC: Spec = Object.fromEntries([
  ...[...FLAGS].map((f) => [f.slice(2), { type: 'boolean' as const }]),
  ...[...OPTIONS].map((o) => [o.slice(2), { type: 'string' as const }]),
]);

interface Parsed {
  flags: Set<string>;
  options: Map<string, string>;
  positional: string[];
}

/** A flag or option given twice: the last one counts. */
function split(args: readonly string[]): Parsed {
  const out: Parsed = { flags: new Set(), options: new Map(), positional: [] };
  for (const t of tokens(args, SPEC)) {
    if (t.kind === 'positional') {
      out.positional.push(t.value);
      continue;
    }
    const v = optionValue(t, args, SPEC);
    if (t.kind !== 'option') continue;
    if (v === true) out.flags.add(t.rawName);
    else out.options.set(t.rawName, v);
  }
  return out;
}

function number(p: Parsed, name: string): number | undefined {
  const v = p.options.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`${name} must be a number, not ${JSON.stringify(v)}`);
  return n;
}

function only(p: Parsed, allowed: readonly string[], cmd: string): void {
  for (const k of [...p.flags, ...p.options.keys()]) {
    if (!allowed.includes(k)) throw new UsageError(`${k} does not apply to ${cmd}`);
  }
}

function noPositional(p: Parsed): void {
  if (p.positional.length) throw new UsageError(`unexpected argument ${p.positional[0]}`);
}

/** `{ name: value }` when the value is given, else nothing (exactOptionalPropertyTypes). */
function given<K extends string, V>(name: K, value: V | undefined): { [k in K]?: V } {
  return (value !== undefined ? { [name]: value } : {}) as { [k in K]?: V };
}

function bucketOf(p: Parsed, cmd: string): string {
  const bucket = p.options.get('--bucket');
  if (!bucket) throw new UsageError(`${cmd} needs --bucket NAME`);
  return bucket;
}

function parseStatus(p: Parsed): Command {
  noPositional(p);
  const bucket = bucketOf(p, 'status');
  only(p, ['--bucket', '--prefix', '--max-age', '--expiring-within', '--json'], 'status');
  const maxAge = number(p, '--max-age') ?? 3600;
  if (maxAge <= 0) throw new UsageError('--max-age must be positive');
  const expiringWithin = number(p, '--expiring-within') ?? DEFAULT_EXPIRING_WITHIN_DAYS;
  if (expiringWithin < 0 || expiringWithin > 3650)
    throw new UsageError('--expiring-within must be 0 to 3650 days');
  return {
    cmd: 'status',
    bucket,
    ...given('prefix', p.options.get('--prefix')),
    maxAge,
    expiringWithin,
    json: p.flags.has('--json'),
  };
}

const LOGINS_OPTIONS = [
  '--bucket',
  '--since',
  '--until',
  '--user',
  '--instance',
  '--local-user',
  '--keys-bucket',
  '--keys-prefix',
  '--json',
];

function parseLogins(p: Parsed): Command {
  noPositional(p);
  const bucket = bucketOf(p, 'logins');
  only(p, LOGINS_OPTIONS, 'logins');
  const until = p.options.get('--until');
  if (p.options.has('--keys-prefix') && !p.options.has('--keys-bucket'))
    throw new UsageError('--keys-prefix needs --keys-bucket');
  return {
    cmd: 'logins',
    bucket,
    since: parseTimeSpec(p.options.get('--since') ?? '24h', '--since'),
    ...given('until', until === undefined ? undefined : parseTimeSpec(until, '--until')),
    ...given('user', p.options.get('--user')),
    ...given('instance', p.options.get('--instance')),
    ...given('localUser', p.options.get('--local-user')),
    ...given('keysBucket', p.options.get('--keys-bucket')),
    ...given('keysPrefix', p.options.get('--keys-prefix')),
    json: p.flags.has('--json'),
  };
}

const PUBLISH_OPTIONS = [
  '--bucket',
  '--prefix',
  '--max-delete-share',
  '--uid-base',
  '--tag-key-prefix',
  '--event',
  '--time-budget',
  '--max-key-age-days',
  '--max-grant-hours',
  '--verify-required-groups',
  '--grant-tag-prefix',
  '--dry-run',
  '--allow-mass-delete',
  '--allow-index-reset',
  '--json',
];

function parsePublish(p: Parsed): Command {
  noPositional(p);
  const bucket = bucketOf(p, 'publish');
  only(p, PUBLISH_OPTIONS, 'publish');
  const maxDeleteShare = number(p, '--max-delete-share');
  if (maxDeleteShare !== undefined && (maxDeleteShare < 0 || maxDeleteShare > 1)) {
    throw new UsageError('--max-delete-share must be between 0 and 1');
  }
  const uidBase = number(p, '--uid-base');
  const timeBudget = number(p, '--time-budget');
  if (timeBudget !== undefined && timeBudget <= 0) throw new UsageError('--time-budget must be positive');
  return {
    cmd: 'publish',
    bucket,
    ...given('prefix', p.options.get('--prefix')),
    dryRun: p.flags.has('--dry-run'),
    allowMassDelete: p.flags.has('--allow-mass-delete'),
    allowIndexReset: p.flags.has('--allow-index-reset'),
    ...given('maxDeleteShare', maxDeleteShare),
    ...given('uidBase', uidBase),
    ...given('timeBudget', timeBudget),
    json: p.flags.has('--json'),
    ...given('tagKeyPrefix', p.options.get('--tag-key-prefix')),
    ...given('event', p.options.get('--event')),
    ...lifecycleOptions(p),
  };
}

function parseCredentials(p: Parsed): Command {
  noPositional(p);
  only(p, ['--role-arn', '--duration', '--json'], 'credentials');
  const durationSeconds = number(p, '--duration');
  if (
    durationSeconds !== undefined &&
    (!Number.isInteger(durationSeconds) || durationSeconds < 900 || durationSeconds > 43200)
  )
    throw new UsageError('--duration must be a whole number of seconds, 900 to 43200');
  return {
    cmd: 'credentials',
    ...given('roleArn', p.options.get('--role-arn')),
    ...given('durationSeconds', durationSeconds),
    json: p.flags.has('--json'),
  };
}

function parseKeys(action: string | undefined, more: readonly string[]): Command {
  const p = split(more);
  only(
    p,
    ['--user', '--tag-key-prefix', ...(action === 'upload' ? ['--label'] : [])],
    `keys ${action ?? ''}`.trim(),
  );
  const u = {
    ...given('user', p.options.get('--user')),
    ...given('tagKeyPrefix', p.options.get('--tag-key-prefix')),
  };
  if (action === 'list') {
    noPositional(p);
    return { cmd: 'keys', action, ...u };
  }
  if (action === 'upload' || action === 'activate' || action === 'deactivate' || action === 'delete') {
    if (p.positional.length !== 1) {
      throw new UsageError(`keys ${action} needs exactly one ${action === 'upload' ? 'FILE' : 'KEY_ID'}`);
    }
    const arg = p.positional[0] as string;
    return action === 'upload'
      ? { cmd: 'keys', action, ...u, ...given('label', p.options.get('--label')), file: arg }
      : { cmd: 'keys', action, ...u, keyId: arg };
  }
  throw new UsageError(
    `unknown keys action ${JSON.stringify(action ?? '')}: use list, upload, activate, deactivate or delete`,
  );
}

/** A whole number from min to max, or undefined when the option is absent. */
function wholeNumber(p: Parsed, name: string, min: number, max: number): number | undefined {
  const n = number(p, name);
  if (n !== undefined && (!Number.isInteger(n) || n < min || n > max))
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}`);
  return n;
}

/** `--verify-required-groups A,B`: IAM group names. */
function groupList(text: string): string[] {
  const groups = text
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
  const bad = groups.find((g) => !IAM_GROUP_NAME.test(g));
  if (bad !== undefined)
    throw new UsageError(`--verify-required-groups: ${JSON.stringify(bad)} is not an IAM group name`);
  return [...new Set(groups)];
}

/** publish's key lifecycle options (the function's limits: 3650 days, 720 hours). */
function lifecycleOptions(p: Parsed) {
  const groups = p.options.get('--verify-required-groups');
  return {
    ...given('maxKeyAgeDays', wholeNumber(p, '--max-key-age-days', 1, 3650)),
    ...given('maxGrantHours', wholeNumber(p, '--max-grant-hours', 1, 720)),
    ...given('verifyRequiredGroups', groups === undefined ? undefined : groupList(groups)),
    ...given('grantTagPrefix', p.options.get('--grant-tag-prefix')),
  };
}

export type GrantCommand =
  | {
      readonly cmd: 'grant';
      readonly revoke: false;
      readonly user: string;
      readonly group: string;
      /** `--for` as given (`4h`), and in seconds. */
      readonly for: string;
      readonly seconds: number;
      readonly grantTagPrefix?: string;
    }
  | {
      readonly cmd: 'grant';
      readonly revoke: true;
      readonly user: string;
      readonly group: string;
      readonly grantTagPrefix?: string;
    };

/** `grant`: --user and --group always; --for (at most --max-grant-hours, default 12) unless --revoke. */
function parseGrant(p: Parsed): GrantCommand {
  noPositional(p);
  const revoke = p.flags.has('--revoke');
  only(p, ['--user', '--group', '--grant-tag-prefix', '--revoke', '--for', '--max-grant-hours'], 'grant');
  if (revoke && (p.options.has('--for') || p.options.has('--max-grant-hours')))
    throw new UsageError('grant --revoke ends a grant: it takes no --for or --max-grant-hours');
  const user = p.options.get('--user');
  const group = p.options.get('--group');
  if (!user || !group) throw new UsageError('grant needs --user IAM_USER and --group IAM_GROUP');
  if (!IAM_USER_NAME.test(user))
    throw new UsageError(`--user: ${JSON.stringify(user)} is not an IAM user name`);
  if (!IAM_GROUP_NAME.test(group))
    throw new UsageError(`--group: ${JSON.stringify(group)} is not an IAM group name`);
  const u = { user, group, ...given('grantTagPrefix', p.options.get('--grant-tag-prefix')) };
  if (revoke) return { cmd: 'grant', revoke, ...u };
  const text = p.options.get('--for');
  if (!text) throw new UsageError('grant needs --for DURATION (e.g. 90m, 4h), or --revoke');
  const seconds = parseGrantDuration(text);
  checkGrantLength(seconds, wholeNumber(p, '--max-grant-hours', 1, 720) ?? DEFAULT_MAX_GRANT_HOURS, text);
  return { cmd: 'grant', revoke, ...u, for: text, seconds };
}

function parseGrants(p: Parsed): Command {
  noPositional(p);
  const bucket = bucketOf(p, 'grants');
  only(p, ['--bucket', '--prefix', '--json'], 'grants');
  return {
    cmd: 'grants',
    bucket,
    ...given('prefix', p.options.get('--prefix')),
    json: p.flags.has('--json'),
  };
}

export function parseArgs(argv: readonly string[]): Command {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') return { cmd: 'help' };
  if (cmd === 'publish') return parsePublish(split(rest));
  if (cmd === 'status') return parseStatus(split(rest));
  if (cmd === 'logins') return parseLogins(split(rest));
  if (cmd === 'credentials') return parseCredentials(split(rest));
  if (cmd === 'keys') return parseKeys(rest[0], rest.slice(1));
  if (cmd === 'grant') return parseGrant(split(rest));
  if (cmd === 'grants') return parseGrants(split(rest));
  throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
}
