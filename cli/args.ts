// Pure argv parsing for the operator CLI.

export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `usage:
  iam-ssh-keys publish --bucket NAME [--prefix P] [--dry-run] [--allow-mass-delete]
                       [--max-delete-share 0..1] [--allow-index-reset] [--uid-base N] [--json]
                       [--time-budget SECONDS]  (stop in time, save progress; exit 3: run again)
  iam-ssh-keys status  --bucket NAME [--prefix P] [--max-age SECONDS] [--json]
  iam-ssh-keys keys list       [--user IAM_USER]
  iam-ssh-keys keys upload     [--user IAM_USER] FILE
  iam-ssh-keys keys activate   [--user IAM_USER] KEY_ID
  iam-ssh-keys keys deactivate [--user IAM_USER] KEY_ID
  iam-ssh-keys keys delete     [--user IAM_USER] KEY_ID
Credentials and region come from the standard AWS chain (AWS_PROFILE, environment, ...);
AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_IAM / AWS_ENDPOINT_URL_S3 point it at an emulator.`;

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
  | { readonly cmd: 'keys'; readonly action: 'list'; readonly user?: string }
  | { readonly cmd: 'keys'; readonly action: 'upload'; readonly user?: string; readonly file: string }
  | {
      readonly cmd: 'keys';
      readonly action: 'activate' | 'deactivate' | 'delete';
      readonly user?: string;
      readonly keyId: string;
    };

const FLAGS = new Set(['--dry-run', '--allow-mass-delete', '--allow-index-reset', '--json']);
const OPTIONS = new Set([
  '--bucket',
  '--prefix',
  '--max-delete-share',
  '--uid-base',
  '--max-age',
  '--user',
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
    only(p, ['--bucket', '--prefix', '--max-delete-share', '--uid-base', '--time-budget', ...FLAGS], cmd);
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
    };
  }
  if (cmd === 'keys') {
    const [action, ...more] = rest;
    const p = split(more);
    only(p, ['--user'], `keys ${action ?? ''}`.trim());
    const user = p.options.get('--user');
    const u = user !== undefined ? { user } : {};
    if (action === 'list') {
      if (p.positional.length) throw new UsageError(`unexpected argument ${p.positional[0]}`);
      return { cmd, action, ...u };
    }
    if (action === 'upload' || action === 'activate' || action === 'deactivate' || action === 'delete') {
      if (p.positional.length !== 1) {
        throw new UsageError(`keys ${action} needs exactly one ${action === 'upload' ? 'FILE' : 'KEY_ID'}`);
      }
      const arg = p.positional[0] as string;
      return action === 'upload' ? { cmd, action, ...u, file: arg } : { cmd, action, ...u, keyId: arg };
    }
    throw new UsageError(
      `unknown keys action ${JSON.stringify(action ?? '')}: use list, upload, activate, deactivate or delete`,
    );
  }
  throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
}
