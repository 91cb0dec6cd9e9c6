// sshd's configuration as install reads and writes it: directives in the order
// sshd reads them (Include expanded in place), the drop-in install writes, and
// the `sshd -T` output it checks. Pure: text in, data out.
import { dirname, isAbsolute, resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../../config.js';

export interface Directive {
  readonly path: string;
  /** 0-based line index in its file. */
  readonly line: number;
  /** Lower-cased keyword. */
  readonly keyword: string;
  readonly value: string;
}

/** Splits a config file into directives, stopping at the first Match block (its settings are conditional). */
export function parseSshdConfig(path: string, text: string): Directive[] {
  const out: Directive[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*([A-Za-z]+)(?:\s*=\s*|\s+)(.*?)\s*$/.exec(lines[i] as string);
    if (!m) continue;
    const keyword = (m[1] as string).toLowerCase();
    if (keyword === 'match') break;
    out.push({ path, line: i, keyword, value: m[2] as string });
  }
  return out;
}

/** Include patterns of a file, made absolute the way sshd does (relative to the config's directory). */
export function includePatterns(directives: readonly Directive[], configDir: string): string[] {
  return directives
    .filter((d) => d.keyword === 'include')
    .flatMap((d) => d.value.split(/\s+/).filter(Boolean))
    .map((p) => (isAbsolute(p) ? p : resolve(configDir, p)));
}

/** Directives in the order sshd reads them: main file lines, with each Include expanded in place. */
export function flattenConfig(
  mainPath: string,
  mainText: string,
  files: ReadonlyMap<string, string>,
  listMatches: (pattern: string) => string[],
): Directive[] {
  const out: Directive[] = [];
  for (const d of parseSshdConfig(mainPath, mainText)) {
    if (d.keyword !== 'include') {
      out.push(d);
      continue;
    }
    for (const pattern of includePatterns([d], dirname(mainPath))) {
      for (const path of listMatches(pattern)) out.push(...parseSshdConfig(path, files.get(path) ?? ''));
    }
  }
  return out;
}

/** The two settings install owns, as `sshd -T` and parseSshdConfig name them. */
export const AKC = 'authorizedkeyscommand';
export const AKC_USER = 'authorizedkeyscommanduser';

/** Two settings the drop-in also sets, that an earlier-read value could undo (sshd uses the first one). */
export const PERMIT_USER_ENV = 'permituserenvironment';
export const LOG_LEVEL = 'loglevel';
/** sshd logs "Accepted publickey ... <fingerprint>" at INFO; `sshd -T` prints QUIET as SILENT. */
const AUDITABLE_LOG_LEVELS = new Set(['INFO', 'VERBOSE', 'DEBUG', 'DEBUG1', 'DEBUG2', 'DEBUG3']);

/**
 * What these sshd settings (keyword -> value, e.g. from `sshd -T`) break, one
 * line each: PermitUserEnvironment other than `no` or exactly `SSH_KEY_OWNER`
 * lets a user set LD_PRELOAD & co. from ~/.ssh/environment; a LogLevel below
 * INFO drops the "Accepted" lines the login audit is joined with.
 */
export function auditSettingProblems(settings: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  const env = settings.get(PERMIT_USER_ENV);
  if (env !== undefined && env.toLowerCase() !== 'no' && env !== 'SSH_KEY_OWNER') {
    problems.push(
      `PermitUserEnvironment is ${env}: users could set other variables (LD_PRELOAD...) for their sessions; only SSH_KEY_OWNER (or no) is safe`,
    );
  }
  const level = settings.get(LOG_LEVEL)?.toUpperCase();
  if (level !== undefined && !AUDITABLE_LOG_LEVELS.has(level)) {
    problems.push(
      `LogLevel is ${level}: sshd would not log the "Accepted publickey" lines the login audit is joined with; use INFO or more verbose`,
    );
  }
  return problems;
}

/** The AuthorizedKeysCommand value (as `sshd -T` prints it). */
export function agentCommandLine(binPath: string, configPath: string): string {
  const cfg = configPath === DEFAULT_CONFIG_PATH ? '' : ` --config ${configPath}`;
  // `--`: nothing sshd substitutes (a local account name from NSS/LDAP) is ever read as an option.
  return `${binPath}${cfg} -- %u %f`;
}

export function renderDropIn(binPath: string, configPath: string, agentUser: string): string {
  return [
    '# Managed by `iam-authorized-keys install`; `iam-authorized-keys uninstall` removes it.',
    `AuthorizedKeysCommand ${agentCommandLine(binPath, configPath)}`,
    `AuthorizedKeysCommandUser ${agentUser}`,
    // Only this variable, never "yes": other variables (LD_PRELOAD...) would be a privilege escalation.
    'PermitUserEnvironment SSH_KEY_OWNER',
    // Lets the session see which key was used ($SSH_USER_AUTH) for audit.
    'ExposeAuthInfo yes',
    // Logs the fingerprint of the accepted key.
    'LogLevel VERBOSE',
    '',
  ].join('\n');
}

/** Reads `sshd -T` output (lower-case keyword, value). */
export function parseSshdT(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(' ');
    if (i > 0 && !m.has(line.slice(0, i))) m.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return m;
}
