// Command line of iam-authorized-keys (pure).
import { DEFAULT_CONFIG_PATH } from './config.js';
import { UsageError } from './errors.js';

/** Duplicated from admin/main.ts on purpose: importing it would load admin code at every login. */
export const ADMIN_COMMANDS = [
  'install',
  'uninstall',
  'doctor',
  'sync-users',
  'refresh-principals',
  'ship-audit',
  'sessions',
] as const;

export const USAGE =
  'usage: iam-authorized-keys [--config FILE] [--] USER [FINGERPRINT]\n' +
  `       iam-authorized-keys {${ADMIN_COMMANDS.join('|')}} [options]`;

/** What --help adds to the usage lines (on stderr, like everything but keys). */
export const HELP = [
  'Prints the authorized_keys lines IAM grants local account USER (only the key FINGERPRINT, as sshd',
  'passes %f, when given). sshd runs it as: AuthorizedKeysCommand <path> -- %u %f. Nothing but key',
  'lines is ever written to stdout; diagnostics go to stderr. Exit 0: every line it should print was',
  'printed (possibly none); non-zero: it could not decide safely and printed nothing.',
  'Config: /etc/iam-authorized-keys.json (--config FILE). Manual: man iam-authorized-keys.',
].join('\n');

export type Command =
  | { kind: 'login'; configPath: string; user: string; fingerprint?: string }
  | { kind: 'admin'; command: string; args: string[] }
  /** `alone`: -h/--help was the only argument (a person asking), not a login-shaped call. */
  | { kind: 'help'; alone: boolean };

/**
 * Admin subcommands are recognised only as the first argument and not in
 * sshd's `%u %f` shape (a local account named "doctor" asking about a key
 * still gets the login path). `--` forces the login path.
 */
export function parseArgs(argv: readonly string[]): Command {
  const first = argv[0];
  if (
    first !== undefined &&
    (ADMIN_COMMANDS as readonly string[]).includes(first) &&
    !(argv.length === 2 && argv[1]?.startsWith('SHA256:'))
  ) {
    return { kind: 'admin', command: first, args: argv.slice(1) };
  }
  let configPath = DEFAULT_CONFIG_PATH;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h' || a === '--help') return { kind: 'help', alone: argv.length === 1 };
    if (a === '--config') {
      const v = argv[++i];
      if (v === undefined || v === '') throw new UsageError('--config needs a file path');
      configPath = v;
    } else if (a.startsWith('--config=')) {
      configPath = a.slice('--config='.length);
      if (configPath === '') throw new UsageError('--config needs a file path');
    } else if (a.startsWith('-') && a !== '-') {
      throw new UsageError(`unknown option ${JSON.stringify(a.slice(0, 40))}`);
    } else positional.push(a);
  }
  if (positional.length < 1 || positional.length > 2) {
    throw new UsageError(`expected USER [FINGERPRINT], got ${positional.length} arguments`);
  }
  const [user, fingerprint] = positional as [string, string | undefined];
  return { kind: 'login', configPath, user, ...(fingerprint !== undefined ? { fingerprint } : {}) };
}
