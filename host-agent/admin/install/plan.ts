// install's plan: what install changes, decided by the pure planInstall from
// what observe read through SysDeps (the system functions install and
// uninstall are given), and the state file it leaves for uninstall.
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, join } from 'node:path';
import { errorMessage } from '../../../contract/errors.js';
import { checkChainTokens, splitCommandLine } from '../../chain.js';
import { type AgentConfig, DEFAULT_CACHE_DIR, DEFAULT_CONFIG_PATH } from '../../config.js';
import { ChainCommandError } from '../../errors.js';
import { cacheDirPathProblem, type StatLike } from '../../secure-path.js';
import { parseAdminConfig } from '../config.js';
import type { FileOwner, ProcessRunner } from '../sys.js';
import { AKC, AKC_USER, auditSettingProblems, type Directive, renderDropIn } from './sshd-config.js';
import { SCHEDULED_COMMANDS, type ScheduledCommand, unitFiles } from './units.js';

export const DEFAULT_AGENT_USER = 'iam-authorized-keys';
export const DROP_IN_NAME = '60-iam-authorized-keys.conf';
/** Prefix of the lines install comments out in other sshd files; uninstall strips it. */
export const DISABLED_MARK = '#iam-authorized-keys-disabled# ';

export interface InstallPaths {
  readonly binPath: string;
  readonly configPath: string;
  readonly sshdConfig: string;
  readonly dropInDir: string;
  readonly stateFile: string;
  /** Where install writes the systemd units of scheduled commands (units.ts). */
  readonly unitDir: string;
  readonly sshdBinary: string;
  /** null: do not reload sshd. */
  readonly reloadCommand: readonly string[] | null;
}

/** Standard locations, optionally below a root directory (tests, image builds). */
export function defaultPaths(root = '/'): InstallPaths {
  const r = (p: string) => (root === '/' ? p : join(root, p));
  return {
    binPath: r('/usr/local/bin/iam-authorized-keys'),
    configPath: r(DEFAULT_CONFIG_PATH),
    sshdConfig: r('/etc/ssh/sshd_config'),
    dropInDir: r('/etc/ssh/sshd_config.d'),
    stateFile: r('/var/lib/iam-authorized-keys/install.json'),
    unitDir: r('/etc/systemd/system'),
    sshdBinary: '/usr/sbin/sshd',
    // Debian, Ubuntu, Amazon Linux and RHEL all answer to sshd.service (Debian via an alias).
    // try-reload-or-restart: a stopped or socket-activated sshd (Ubuntu >= 22.10) is not a failure; it
    // reads the new configuration when it next starts.
    reloadCommand: ['systemctl', 'try-reload-or-restart', 'sshd'],
  };
}

export class InstallRefusedError extends Error {
  override name = 'InstallRefusedError';
}

// ---------------------------------------------------------------- observation and plan

export interface Observed {
  readonly sshdConfigText: string;
  /** Directives in sshd's reading order, our drop-in included at the place sshd would read it. */
  readonly directives: readonly Directive[];
  /** Current text of files that directives came from. */
  readonly fileTexts: ReadonlyMap<string, string>;
  readonly agentConfigText: string | undefined;
  readonly agentUserExists: boolean;
  /** Its uid, when known. */
  readonly agentUserUid?: number | undefined;
  readonly cacheDirExists: boolean;
  /** The bytes at the binary path now. */
  readonly binary: Buffer | undefined;
  readonly dropInText: string | undefined;
  /** Current text of the unit files the scheduled commands would write (absent ones left out). */
  readonly unitTexts?: ReadonlyMap<string, string>;
  readonly state: InstallState | undefined;
}

export interface InstallOptions {
  readonly paths: InstallPaths;
  readonly agentUser: string;
  /** The agent to install: a standalone executable (as it is) or the bundled script (shebang rewritten to nodePath). */
  readonly source: Buffer;
  readonly nodePath: string;
  readonly nologin: string;
  /** --agent-user-shared-ok: the operator accepts an existing account install did not create. */
  readonly agentUserSharedOk?: boolean;
  /** The commands install schedules when the config wants them. @default SCHEDULED_COMMANDS */
  readonly scheduled?: readonly ScheduledCommand[];
}

export type Step =
  | { readonly kind: 'create-user'; readonly user: string }
  | {
      readonly kind: 'write-file';
      readonly path: string;
      readonly content: string | Buffer;
      readonly mode: number;
      /** Why (shown by --dry-run). */
      readonly what: string;
    }
  | { readonly kind: 'mkdir-private'; readonly path: string; readonly owner: string };

export interface InstallPlan {
  readonly steps: readonly Step[];
  readonly dropInPath: string;
  readonly chain: readonly string[] | undefined;
  readonly notes: readonly string[];
  readonly cacheDir: string;
  /** The node the installed script runs with (undefined: a standalone executable, no interpreter). */
  readonly interpreter: string | undefined;
  /** The agent user is an existing account install did not create, accepted with --agent-user-shared-ok (recorded). */
  readonly agentUserShared: boolean;
}

/**
 * Whether the agent user is an account install did not create, and may be
 * used; InstallRefusedError for root, and for such an account unless the
 * operator passed --agent-user-shared-ok (now or at an earlier install of the
 * same user). The cache is trusted by its owner's uid: every process running
 * as that uid could write an entry the agent then serves as sshd's keys.
 */
export function checkAgentUser(obs: Observed, opts: InstallOptions): { shared: boolean } {
  const { agentUser } = opts;
  if (agentUser === 'root' || obs.agentUserUid === 0) {
    throw new InstallRefusedError(
      `--agent-user ${agentUser} is root: the agent never needs root, and a process running as root could forge its cache; use a dedicated account (omit --agent-user: install creates ${DEFAULT_AGENT_USER})`,
    );
  }
  if (!obs.agentUserExists) return { shared: false };
  const st = obs.state;
  if (st?.agentUser === agentUser && st.createdUser && !st.agentUserSharedOk) return { shared: false };
  if (opts.agentUserSharedOk || (st?.agentUser === agentUser && st.agentUserSharedOk))
    return { shared: true };
  throw new InstallRefusedError(
    `agent user ${agentUser} already exists and install did not create it: the cache is trusted by its owner's uid, so every process running as ${agentUser} could forge the keys sshd is given. Use a dedicated account (omit --agent-user: install creates ${DEFAULT_AGENT_USER}), or pass --agent-user-shared-ok if ${agentUser} is used by nothing else`,
  );
}

/**
 * Refuses a PermitUserEnvironment or LogLevel that sshd reads before the
 * drop-in (the first value wins) and that would undo it (auditSettingProblems).
 */
function checkEarlierAuditSettings(obs: Observed, dropInPath: string): void {
  for (const keyword of ['permituserenvironment', 'loglevel']) {
    const d = obs.directives.find((x) => x.keyword === keyword);
    if (!d || d.path === dropInPath) continue;
    const [problem] = auditSettingProblems(new Map([[keyword, d.value]]));
    if (problem) {
      throw new InstallRefusedError(
        `${d.path} line ${d.line + 1} is read before ${DROP_IN_NAME} and wins: ${problem}; change or remove that line and run install again`,
      );
    }
  }
}

/** Replaces the first line's interpreter: sshd runs the command with PATH=/usr/bin:/bin:/usr/sbin:/sbin, where node may not be. */
export function rewriteShebang(source: Buffer, nodePath: string): string {
  const text = source.toString('utf8');
  if (!isAbsolute(nodePath) || /\s/.test(nodePath)) {
    throw new InstallRefusedError(`node path ${JSON.stringify(nodePath)} must be absolute, without blanks`);
  }
  const body = text.startsWith('#!') ? text.slice(text.indexOf('\n') + 1) : text;
  return `#!${nodePath}\n${body}`;
}

/** ELF magic: a standalone executable (dist/iam-authorized-keys-linux-*), installed byte for byte. */
export function isStandaloneExecutable(file: Buffer): boolean {
  return file.length >= 4 && file[0] === 0x7f && file.toString('latin1', 1, 4) === 'ELF';
}

/** The bytes install writes: a standalone executable as it is; the script with its interpreter made absolute. */
export function agentFileToInstall(
  source: Buffer,
  nodePath: string,
): { readonly bytes: Buffer; readonly interpreter: string | undefined } {
  if (isStandaloneExecutable(source)) return { bytes: source, interpreter: undefined };
  return { bytes: Buffer.from(rewriteShebang(source, nodePath)), interpreter: nodePath };
}

/**
 * Whether this process is a standalone executable: Bun serves a compiled
 * program's own code from its embedded /$bunfs/ root, so argv[1] names it there.
 */
export function isCompiledProgram(argv1: string | undefined): boolean {
  return argv1?.startsWith('/$bunfs/') === true;
}

/** Where packages and admins put programs: a standalone executable already there is run in place. */
const PROGRAM_DIRS = ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'];

/**
 * The binary path when --bin is not given: a standalone executable that is
 * already in a program directory (the .deb/.rpm's /usr/bin/iam-authorized-keys)
 * is what sshd runs, where it is, so a package upgrade is what runs at the next
 * login; anything else (the script, a download elsewhere) is copied to `fallback`.
 */
export function defaultBinPath(
  running: { readonly standalone: boolean; readonly path: string },
  fallback: string,
) {
  return running.standalone && PROGRAM_DIRS.includes(dirname(running.path)) ? running.path : fallback;
}

/**
 * install's refusals that need the parsed config: audit settings read before
 * the drop-in, the agent user (a note when an existing one is accepted), and
 * the cache dir's path. Returns the cache dir and whether the user is shared.
 */
function checkBeforePlanning(
  obs: Observed,
  opts: InstallOptions,
  parsed: AgentConfig,
  notes: string[],
): { cacheDir: string; agentUserShared: boolean } {
  const { paths, agentUser } = opts;
  checkEarlierAuditSettings(obs, join(paths.dropInDir, DROP_IN_NAME));
  const { shared } = checkAgentUser(obs, opts);
  if (shared) {
    notes.push(
      `agent user ${agentUser} was not created by install (--agent-user-shared-ok): every process running as ${agentUser} can forge the agent's cache; doctor checks for other processes and files`,
    );
  }
  const cacheDir = parsed.cache.dir;
  const dirProblem = cacheDirPathProblem(cacheDir);
  if (dirProblem) {
    throw new InstallRefusedError(
      `${paths.configPath}: cache.dir ${cacheDir} ${dirProblem}: use a dedicated directory such as ${DEFAULT_CACHE_DIR}`,
    );
  }
  return { cacheDir, agentUserShared: shared };
}

/** An AuthorizedKeysCommand line split and checked as sshd does (quotes, escapes, tokens): the chain runs what sshd would have. */
function chainOf(line: string): string[] {
  try {
    const argv = splitCommandLine(line);
    checkChainTokens(argv);
    return argv;
  } catch (e) {
    if (!(e instanceof ChainCommandError)) throw e;
    throw new InstallRefusedError(
      `cannot chain the existing AuthorizedKeysCommand ${JSON.stringify(line)}: ${e.message}`,
    );
  }
}

/** The agent config as the login path parses it; InstallRefusedError when it is missing or invalid. */
function parsedAgentConfig(obs: Observed, paths: InstallPaths): { parsed: AgentConfig; text: string } {
  if (obs.agentConfigText === undefined) {
    throw new InstallRefusedError(
      `${paths.configPath} does not exist: write the agent config first (bucket, region, users...), then run install`,
    );
  }
  try {
    return { parsed: parseAdminConfig(obs.agentConfigText, paths.configPath), text: obs.agentConfigText };
  } catch (cause) {
    throw new InstallRefusedError(errorMessage(cause), { cause });
  }
}

/** An AuthorizedKeysCommand already in force (e.g. EC2 Instance Connect's) is chained, not lost. */
function planChain(
  obs: Observed,
  opts: InstallOptions,
  config: Record<string, unknown>,
  notes: string[],
): string[] | undefined {
  const { paths, agentUser } = opts;
  const others = obs.directives.filter((d) => d.path !== join(paths.dropInDir, DROP_IN_NAME));
  const existing = others.find((d) => d.keyword === AKC);
  if (
    !existing ||
    existing.value.toLowerCase() === 'none' ||
    existing.value.startsWith(`${paths.binPath} `)
  ) {
    return undefined;
  }
  const chain = chainOf(existing.value);
  // sshd passes the user name to a command line without arguments (aws-ec2-ssh's form); the agent
  // passes a chained command exactly what it lists, so list %u or that command runs without a user.
  const bare = chain.length === 1;
  if (bare) chain.push('%u');
  const current = JSON.stringify(config.chain);
  if (config.chain !== undefined && current !== JSON.stringify(chain)) {
    throw new InstallRefusedError(
      `${paths.configPath} already chains ${current}, and sshd runs ${JSON.stringify(existing.value)}: resolve by hand`,
    );
  }
  const user = others.find((d) => d.keyword === AKC_USER)?.value;
  notes.push(
    `chaining the existing AuthorizedKeysCommand "${existing.value}"${user ? ` (was run as ${user})` : ''}${bare ? ' with %u (sshd gave a command without arguments the user name)' : ''}: the agent runs it as ${agentUser} and merges its output`,
  );
  return chain;
}

/** sshd uses the first value it reads: settings read before our drop-in are commented out. */
function disableEarlierSteps(obs: Observed, firstOurs: number): Step[] {
  const before = obs.directives
    .slice(0, firstOurs)
    .filter((d) => d.keyword === AKC || d.keyword === AKC_USER);
  const byFile = new Map<string, Set<number>>();
  for (const d of before) byFile.set(d.path, (byFile.get(d.path) ?? new Set()).add(d.line));
  return [...byFile].map(([path, lineSet]) => {
    const text = obs.fileTexts.get(path) ?? '';
    const lines = text.split('\n').map((l, i) => (lineSet.has(i) ? `${DISABLED_MARK}${l}` : l));
    return {
      kind: 'write-file',
      path,
      content: lines.join('\n'),
      mode: 0o644,
      what: `comment out ${lineSet.size} AuthorizedKeysCommand line(s) read before ${DROP_IN_NAME}`,
    };
  });
}

/**
 * Decides what install changes. Refuses (InstallRefusedError) when sshd would
 * never read the drop-in, the agent config is missing or invalid
 * (parseAdminConfig decides), or its cache.dir is not a dedicated directory.
 */
export function planInstall(obs: Observed, opts: InstallOptions): InstallPlan {
  const { paths, agentUser } = opts;
  const dropInPath = join(paths.dropInDir, DROP_IN_NAME);
  const notes: string[] = [];
  const firstOurs = obs.directives.findIndex((d) => d.path === dropInPath);
  if (firstOurs < 0) {
    throw new InstallRefusedError(
      `${paths.sshdConfig} has no "Include ${paths.dropInDir}/*.conf" outside a Match block, so sshd would ignore ${dropInPath}; add that line at the top of ${paths.sshdConfig} and run install again`,
    );
  }
  const { parsed, text } = parsedAgentConfig(obs, paths);
  const { cacheDir, agentUserShared } = checkBeforePlanning(obs, opts, parsed, notes);
  // The raw object is what gets written back (only "chain" is added), so defaults are not spelled out.
  const config = JSON.parse(text) as Record<string, unknown>;
  const chain = planChain(obs, opts, config, notes);

  const steps: Step[] = [];
  if (!obs.agentUserExists) steps.push({ kind: 'create-user', user: agentUser });
  const { bytes: binary, interpreter } = agentFileToInstall(opts.source, opts.nodePath);
  if (!obs.binary?.equals(binary)) {
    steps.push({
      kind: 'write-file',
      path: paths.binPath,
      content: binary,
      mode: 0o755,
      what: 'agent binary',
    });
  }
  steps.push({ kind: 'mkdir-private', path: cacheDir, owner: agentUser });
  if (chain && config.chain === undefined) {
    const next = `${JSON.stringify({ ...config, chain }, null, 2)}\n`;
    steps.push({
      kind: 'write-file',
      path: paths.configPath,
      content: next,
      mode: 0o644,
      what: 'agent config (chain)',
    });
  }
  steps.push(...disableEarlierSteps(obs, firstOurs));
  const dropIn = renderDropIn(paths.binPath, paths.configPath, agentUser);
  if (obs.dropInText !== dropIn) {
    steps.push({ kind: 'write-file', path: dropInPath, content: dropIn, mode: 0o644, what: 'sshd drop-in' });
  }
  for (const u of unitFiles(opts.scheduled ?? SCHEDULED_COMMANDS, parsed, paths)) {
    if (obs.unitTexts?.get(u.path) !== u.content) steps.push({ kind: 'write-file', mode: 0o644, ...u });
  }
  return { steps, dropInPath, chain, notes, cacheDir, interpreter, agentUserShared };
}

export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'create-user':
      return `create system user ${s.user} (no shell, no home)`;
    case 'mkdir-private':
      return `ensure ${s.path} exists, owned by ${s.owner}, mode 0700`;
    case 'write-file':
      return `write ${s.path} (${s.what}, mode ${s.mode.toString(8).padStart(4, '0')})`;
  }
}

// ---------------------------------------------------------------- state

export interface FileRecord {
  readonly path: string;
  /** Content before the first install (base64), null when the file did not exist. */
  readonly original: string | null;
  /** sha256 of what install wrote: uninstall leaves a file changed since. */
  readonly written: string;
  /** 'replace': restore original; 'disable': strip DISABLED_MARK from lines. */
  readonly how: 'replace' | 'disable';
}

export interface InstallState {
  readonly version: 1;
  readonly agentUser: string;
  readonly createdUser: boolean;
  readonly cacheDir: string;
  readonly createdCacheDir: boolean;
  readonly files: readonly FileRecord[];
  /** The chain install added to the agent config, removed again on uninstall. */
  readonly chainAdded?: readonly string[];
  /** The binary sshd runs and the config it reads (absent in states written before they were recorded). */
  readonly binPath?: string;
  readonly configPath?: string;
  /** The agent user existed and install did not create it: accepted with --agent-user-shared-ok. */
  readonly agentUserSharedOk?: boolean;
}

export const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

// ---------------------------------------------------------------- system

/** What install and uninstall do to the system (files, users, processes), injected. */
export interface SysDeps {
  readonly run: ProcessRunner;
  readonly readText: (path: string) => Promise<string | undefined>;
  readonly readBytes: (path: string) => Promise<Buffer | undefined>;
  /** Temp file + rename; owner root unless given. */
  readonly writeAtomic: (
    path: string,
    content: string | Buffer,
    mode: number,
    owner?: FileOwner,
  ) => Promise<void>;
  readonly remove: (path: string) => Promise<void>;
  readonly mkdirp: (path: string, mode: number) => Promise<void>;
  /** Creates or fixes a private directory: owner, mode 0700. Returns whether it was created. */
  readonly ensurePrivateDir: (path: string, owner: string) => Promise<boolean>;
  readonly removeTree: (path: string) => Promise<void>;
  readonly listMatches: (pattern: string) => Promise<string[]>;
  readonly userExists: (user: string) => Promise<boolean>;
  /** The uid of a user (getent); optional for fakes that do not need it. */
  readonly userUid?: (user: string) => Promise<number | undefined>;
  readonly dirExists: (path: string) => Promise<boolean>;
  readonly stat: (path: string) => StatLike | undefined;
  /** Symlinks resolved; optional so that fakes without links need not say so. */
  readonly realpath?: (path: string) => string | undefined;
  /** sshd's privilege-separation dir, when sshd never ran here (see sshd-runtime.ts). */
  readonly createRuntimeDir: (path: string) => Promise<void>;
  readonly out: (line: string) => void;
}
