// Pure argv parsing for the operator CLI.
import { own } from '../contract/index.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `usage:
  iam-ssh-keys publish --bucket NAME [--prefix P] [--dry-run] [--allow-mass-delete]
                       [--max-delete-share 0..1] [--allow-index-reset] [--uid-base N] [--json]
                       [--tag-key-prefix P]
                       [--event FILE]   (apply one saved EventBridge IAM event, as the Lambda does)
                       [--time-budget SECONDS]  (stop in time, save progress; exit 3: run again)
  iam-ssh-keys status  --bucket NAME [--prefix P] [--max-age SECONDS] [--json]
  iam-ssh-keys keys list       [--user IAM_USER]
  iam-ssh-keys keys upload     [--user IAM_USER] [--label NAME] FILE
  iam-ssh-keys keys activate   [--user IAM_USER] KEY_ID
  iam-ssh-keys keys deactivate [--user IAM_USER] KEY_ID
  iam-ssh-keys keys delete     [--user IAM_USER] KEY_ID | tag:TAG_KEY
  iam-ssh-keys credentials [--role-arn ARN] [--duration SECONDS] [--json]
ssh-rsa keys go to IAM's SSH key store; ed25519, ECDSA and FIDO (sk-*) keys to a user tag
<tag key prefix><label> (--label, default: the key comment). keys commands take
[--tag-key-prefix P] too; the prefix defaults to $TAG_KEY_PREFIX, else ssh-key:.
Every command takes --profile NAME, --region REGION and --mfa-code CODE|- (- reads it from stdin;
or set IAM_SSH_KEYS_MFA_CODE). Credentials come from the standard AWS chain (AWS_PROFILE,
environment, ...); profiles with role_arn/source_profile/mfa_serial prompt for the MFA code on the
terminal and share the AWS CLI's session cache (~/.aws/cli/cache).
AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_IAM / AWS_ENDPOINT_URL_S3 point it at an emulator.`;

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

/** Takes the global options out of argv, wherever they stand; the rest goes to parseArgs. */
export function splitGlobalOptions(argv: readonly string[]): { global: GlobalOptions; rest: string[] } {
  const global: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const key = own(GLOBAL_OPTIONS, name);
    if (key === undefined) {
      rest.push(a);
      continue;
    }
    const value = name !== a ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw new UsageError(`${name} needs a value`);
    global[key] = value;
  }
  return { global, rest };
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
    }
  | {
      readonly cmd: 'status';
      readonly bucket: string;
      readonly prefix?: string;
      readonly maxAge: number;
      readonly json: boolean;
    }
  | {
      readonly cmd: 'credentials';
      readonly roleArn?: string;
      readonly durationSeconds?: number;
      readonly json: boolean;
    }
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
export const FLAGS = new Set(['--dry-run', '--allow-mass-delete', '--allow-index-reset', '--json']);
export const OPTIONS = new Set([
  '--bucket',
  '--prefix',
  '--max-delete-share',
  '--uid-base',
  '--max-age',
  '--user',
  '--role-arn',
  '--duration',
  '--label',
  '--tag-key-prefix',
  '--event',
  '--time-budget',
]);

interface Parsed {
  flags: Set<string>;
  options: Map<string, string>;
  positional: string[];
}

function split(args: readonly string[]): Parsed {
  const out: Parsed = { flags: new Set(), options: new Map(), positional: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (FLAGS.has(a)) out.flags.add(a);
    else if (OPTIONS.has(name)) {
      const value = name !== a ? a.slice(eq + 1) : args[++i];
      if (value === undefined || value === '') throw new UsageError(`${name} needs a value`);
      out.options.set(name, value);
    } else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else out.positional.push(a);
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

function only(p: Parsed, allowed: string[], cmd: string): void {
  for (const k of [...p.flags, ...p.options.keys()]) {
    if (!allowed.includes(k)) throw new UsageError(`${k} does not apply to ${cmd}`);
  }
}

export function parseArgs(argv: readonly string[]): Command {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') return { cmd: 'help' };
  if (cmd === 'publish' || cmd === 'status') {
    const p = split(rest);
    if (p.positional.length) throw new UsageError(`unexpected argument ${p.positional[0]}`);
    const bucket = p.options.get('--bucket');
    if (!bucket) throw new UsageError(`${cmd} needs --bucket NAME`);
    const prefix = p.options.get('--prefix');
    if (cmd === 'status') {
      only(p, ['--bucket', '--prefix', '--max-age', '--json'], cmd);
      const maxAge = number(p, '--max-age') ?? 3600;
      if (maxAge <= 0) throw new UsageError('--max-age must be positive');
      return {
        cmd,
        bucket,
        ...(prefix !== undefined ? { prefix } : {}),
        maxAge,
        json: p.flags.has('--json'),
      };
    }
    only(
      p,
      [
        '--bucket',
        '--prefix',
        '--max-delete-share',
        '--uid-base',
        '--tag-key-prefix',
        '--event',
        '--time-budget',
        ...FLAGS,
      ],
      cmd,
    );
    const tagKeyPrefix = p.options.get('--tag-key-prefix');
    const event = p.options.get('--event');
    const maxDeleteShare = number(p, '--max-delete-share');
    if (maxDeleteShare !== undefined && (maxDeleteShare < 0 || maxDeleteShare > 1)) {
      throw new UsageError('--max-delete-share must be between 0 and 1');
    }
    const uidBase = number(p, '--uid-base');
    const timeBudget = number(p, '--time-budget');
    if (timeBudget !== undefined && timeBudget <= 0) throw new UsageError('--time-budget must be positive');
    return {
      cmd,
      bucket,
      ...(prefix !== undefined ? { prefix } : {}),
      dryRun: p.flags.has('--dry-run'),
      allowMassDelete: p.flags.has('--allow-mass-delete'),
      allowIndexReset: p.flags.has('--allow-index-reset'),
      ...(maxDeleteShare !== undefined ? { maxDeleteShare } : {}),
      ...(uidBase !== undefined ? { uidBase } : {}),
      ...(timeBudget !== undefined ? { timeBudget } : {}),
      json: p.flags.has('--json'),
      ...(tagKeyPrefix !== undefined ? { tagKeyPrefix } : {}),
      ...(event !== undefined ? { event } : {}),
    };
  }
  if (cmd === 'credentials') {
    const p = split(rest);
    if (p.positional.length) throw new UsageError(`unexpected argument ${p.positional[0]}`);
    only(p, ['--role-arn', '--duration', '--json'], cmd);
    const roleArn = p.options.get('--role-arn');
    const durationSeconds = number(p, '--duration');
    if (
      durationSeconds !== undefined &&
      (!Number.isInteger(durationSeconds) || durationSeconds < 900 || durationSeconds > 43200)
    )
      throw new UsageError('--duration must be a whole number of seconds, 900 to 43200');
    return {
      cmd,
      ...(roleArn !== undefined ? { roleArn } : {}),
      ...(durationSeconds !== undefined ? { durationSeconds } : {}),
      json: p.flags.has('--json'),
    };
  }
  if (cmd === 'keys') {
    const [action, ...more] = rest;
    const p = split(more);
    only(
      p,
      ['--user', '--tag-key-prefix', ...(action === 'upload' ? ['--label'] : [])],
      `keys ${action ?? ''}`.trim(),
    );
    const user = p.options.get('--user');
    const tagKeyPrefix = p.options.get('--tag-key-prefix');
    const label = p.options.get('--label');
    const u = {
      ...(user !== undefined ? { user } : {}),
      ...(tagKeyPrefix !== undefined ? { tagKeyPrefix } : {}),
    };
    if (action === 'list') {
      if (p.positional.length) throw new UsageError(`unexpected argument ${p.positional[0]}`);
      return { cmd, action, ...u };
    }
    if (action === 'upload' || action === 'activate' || action === 'deactivate' || action === 'delete') {
      if (p.positional.length !== 1) {
        throw new UsageError(`keys ${action} needs exactly one ${action === 'upload' ? 'FILE' : 'KEY_ID'}`);
      }
      const arg = p.positional[0] as string;
      return action === 'upload'
        ? { cmd, action, ...u, ...(label !== undefined ? { label } : {}), file: arg }
        : { cmd, action, ...u, keyId: arg };
    }
    throw new UsageError(
      `unknown keys action ${JSON.stringify(action ?? '')}: use list, upload, activate, deactivate or delete`,
    );
  }
  throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
}
