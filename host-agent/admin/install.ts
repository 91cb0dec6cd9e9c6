// install / uninstall: puts the agent into sshd and takes it out again.
// Pure parts (config parsing, planning, rendering) take and return data; the
// executor applies a plan through injected file-system and process functions,
// checks sshd's view of the result and rolls back when it is not what we want.
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { type AgentConfig, DEFAULT_CACHE_DIR, DEFAULT_CONFIG_PATH, parseConfig } from '../config.js';
import { cacheDirPathProblem, globToRegExp, type StatLike, securePathProblems } from '../secure-path.js';
import { runSshd, type SshdRunDeps } from './sshd-runtime.js';
import { CommandFailedError, type FileOwner, type ProcessRunner } from './sys.js';

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
    sshdBinary: '/usr/sbin/sshd',
    // Debian, Ubuntu, Amazon Linux and RHEL all answer to sshd.service (Debian via an alias).
    reloadCommand: ['systemctl', 'reload', 'sshd'],
  };
}

export class InstallRefusedError extends Error {
  override name = 'InstallRefusedError';
}

export class SshdCheckError extends Error {
  override name = 'SshdCheckError';
}

// ---------------------------------------------------------------- sshd config

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

const AKC = 'authorizedkeyscommand';
const AKC_USER = 'authorizedkeyscommanduser';

/** The AuthorizedKeysCommand value (as `sshd -T` prints it). */
export function agentCommandLine(binPath: string, configPath: string): string {
  const cfg = configPath === DEFAULT_CONFIG_PATH ? '' : ` --config ${configPath}`;
  return `${binPath}${cfg} %u %f`;
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

// ---------------------------------------------------------------- observation and plan

export interface Observed {
  readonly sshdConfigText: string;
  /** Directives in sshd's reading order, our drop-in included at the place sshd would read it. */
  readonly directives: readonly Directive[];
  /** Current text of files that directives came from. */
  readonly fileTexts: ReadonlyMap<string, string>;
  readonly agentConfigText: string | undefined;
  readonly agentUserExists: boolean;
  readonly cacheDirExists: boolean;
  readonly binaryText: string | undefined;
  readonly dropInText: string | undefined;
  readonly state: InstallState | undefined;
}

export interface InstallOptions {
  readonly paths: InstallPaths;
  readonly agentUser: string;
  /** The agent file to install (its shebang is rewritten to nodePath). */
  readonly source: Buffer;
  readonly nodePath: string;
  readonly nologin: string;
}

export type Step =
  | { readonly kind: 'create-user'; readonly user: string }
  | {
      readonly kind: 'write-file';
      readonly path: string;
      readonly content: string;
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

/** The cache dir the config names, or undefined when the config does not parse (planInstall then refuses). */
function cacheDirOf(configText: string | undefined, source: string): string | undefined {
  if (configText === undefined) return undefined;
  try {
    return parseConfig(configText, source).cache.dir;
  } catch {
    return undefined;
  }
}

/**
 * Decides what install changes. Refuses (InstallRefusedError) when sshd would
 * never read the drop-in, the agent config is missing or invalid (the login
 * path's parseConfig decides), or its cache.dir is not a dedicated directory.
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
  if (obs.agentConfigText === undefined) {
    throw new InstallRefusedError(
      `${paths.configPath} does not exist: write the agent config first (bucket, region, users...), then run install`,
    );
  }
  let parsed: AgentConfig;
  try {
    parsed = parseConfig(obs.agentConfigText, paths.configPath);
  } catch (cause) {
    throw new InstallRefusedError((cause as Error).message, { cause });
  }
  const cacheDir = parsed.cache.dir;
  const dirProblem = cacheDirPathProblem(cacheDir);
  if (dirProblem) {
    throw new InstallRefusedError(
      `${paths.configPath}: cache.dir ${cacheDir} ${dirProblem}: use a dedicated directory such as ${DEFAULT_CACHE_DIR}`,
    );
  }
  // The raw object is what gets written back (only "chain" is added), so defaults are not spelled out.
  const config = JSON.parse(obs.agentConfigText) as Record<string, unknown>;

  // An AuthorizedKeysCommand already in force (e.g. EC2 Instance Connect's) is chained, not lost.
  const others = obs.directives.filter((d) => d.path !== dropInPath);
  const existing = others.find((d) => d.keyword === AKC);
  let chain: string[] | undefined;
  if (
    existing &&
    existing.value.toLowerCase() !== 'none' &&
    !existing.value.startsWith(`${paths.binPath} `)
  ) {
    chain = existing.value.split(/\s+/);
    const current = JSON.stringify(config.chain);
    if (config.chain !== undefined && current !== JSON.stringify(chain)) {
      throw new InstallRefusedError(
        `${paths.configPath} already chains ${current}, and sshd runs ${JSON.stringify(existing.value)}: resolve by hand`,
      );
    }
    const user = others.find((d) => d.keyword === AKC_USER)?.value;
    notes.push(
      `chaining the existing AuthorizedKeysCommand "${existing.value}"${user ? ` (was run as ${user})` : ''}: the agent runs it as ${agentUser} and merges its output`,
    );
  }

  const steps: Step[] = [];
  if (!obs.agentUserExists) steps.push({ kind: 'create-user', user: agentUser });

  const binary = rewriteShebang(opts.source, opts.nodePath);
  if (obs.binaryText !== binary) {
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

  // sshd uses the first value it reads: settings read before our drop-in are commented out.
  const before = obs.directives
    .slice(0, firstOurs)
    .filter((d) => d.keyword === AKC || d.keyword === AKC_USER);
  const byFile = new Map<string, Set<number>>();
  for (const d of before) byFile.set(d.path, (byFile.get(d.path) ?? new Set()).add(d.line));
  for (const [path, lineSet] of byFile) {
    const text = obs.fileTexts.get(path) ?? '';
    const lines = text.split('\n').map((l, i) => (lineSet.has(i) ? `${DISABLED_MARK}${l}` : l));
    steps.push({
      kind: 'write-file',
      path,
      content: lines.join('\n'),
      mode: 0o644,
      what: `comment out ${lineSet.size} AuthorizedKeysCommand line(s) read before ${DROP_IN_NAME}`,
    });
  }

  const dropIn = renderDropIn(paths.binPath, paths.configPath, agentUser);
  if (obs.dropInText !== dropIn) {
    steps.push({ kind: 'write-file', path: dropInPath, content: dropIn, mode: 0o644, what: 'sshd drop-in' });
  }
  return { steps, dropInPath, chain, notes, cacheDir };
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
}

export const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

// ---------------------------------------------------------------- executor

export interface SysDeps {
  readonly run: ProcessRunner;
  readonly readText: (path: string) => Promise<string | undefined>;
  /** Temp file + rename; owner root unless given. */
  readonly writeAtomic: (path: string, content: string, mode: number, owner?: FileOwner) => Promise<void>;
  readonly remove: (path: string) => Promise<void>;
  readonly mkdirp: (path: string, mode: number) => Promise<void>;
  /** Creates or fixes a private directory: owner, mode 0700. Returns whether it was created. */
  readonly ensurePrivateDir: (path: string, owner: string) => Promise<boolean>;
  readonly removeTree: (path: string) => Promise<void>;
  readonly listMatches: (pattern: string) => Promise<string[]>;
  readonly userExists: (user: string) => Promise<boolean>;
  readonly dirExists: (path: string) => Promise<boolean>;
  readonly stat: (path: string) => StatLike | undefined;
  /** sshd's privilege-separation dir, when sshd never ran here (see sshd-runtime.ts). */
  readonly createRuntimeDir: (path: string) => Promise<void>;
  readonly out: (line: string) => void;
}

/** Reads everything planInstall needs. */
export async function observe(paths: InstallPaths, agentUser: string, sys: SysDeps): Promise<Observed> {
  const sshdConfigText = await sys.readText(paths.sshdConfig);
  if (sshdConfigText === undefined) throw new InstallRefusedError(`${paths.sshdConfig} does not exist`);
  const dropInPath = join(paths.dropInDir, DROP_IN_NAME);
  const fileTexts = new Map<string, string>([[paths.sshdConfig, sshdConfigText]]);
  const matches = new Map<string, string[]>();
  for (const pattern of includePatterns(
    parseSshdConfig(paths.sshdConfig, sshdConfigText),
    dirname(paths.sshdConfig),
  )) {
    const found = new Set(await sys.listMatches(pattern));
    // Our drop-in counts where sshd would read it, whether or not it exists yet.
    if (globToRegExp(pattern).test(dropInPath)) found.add(dropInPath);
    const sorted = [...found].sort();
    matches.set(pattern, sorted);
    for (const p of sorted) {
      const t =
        p === dropInPath ? renderDropIn(paths.binPath, paths.configPath, agentUser) : await sys.readText(p);
      fileTexts.set(p, t ?? '');
    }
  }
  const directives = flattenConfig(paths.sshdConfig, sshdConfigText, fileTexts, (p) => matches.get(p) ?? []);
  const agentConfigText = await sys.readText(paths.configPath);
  const stateText = await sys.readText(paths.stateFile);
  return {
    sshdConfigText,
    directives,
    fileTexts,
    agentConfigText,
    agentUserExists: await sys.userExists(agentUser),
    cacheDirExists: await (async () => {
      const dir = cacheDirOf(agentConfigText, paths.configPath);
      return dir !== undefined && (await sys.dirExists(dir));
    })(),
    binaryText: await sys.readText(paths.binPath),
    dropInText: await sys.readText(dropInPath),
    state: stateText ? (JSON.parse(stateText) as InstallState) : undefined,
  };
}

/** `sshd -t` then `sshd -T`: the config is valid and sshd would run our command as our user. */
export async function checkSshd(
  paths: InstallPaths,
  expect: { command: string; user: string } | { absentCommand: string },
  deps: SshdRunDeps & { readonly out: (line: string) => void },
): Promise<void> {
  // A host where sshd never ran lacks its privilege-separation dir: created here as its service unit would.
  const { result: t, note } = await runSshd(paths.sshdBinary, ['-t', '-f', paths.sshdConfig], deps);
  if (note) deps.out(note);
  if (t.code !== 0) throw new SshdCheckError(`sshd -t rejected the configuration: ${t.stderr.trim()}`);
  const T = await deps.run(paths.sshdBinary, ['-T', '-f', paths.sshdConfig]);
  if (T.code !== 0) throw new SshdCheckError(`sshd -T failed: ${T.stderr.trim()}`);
  const eff = parseSshdT(T.stdout);
  const cmd = eff.get(AKC) ?? 'none';
  if ('command' in expect) {
    const user = eff.get(AKC_USER);
    if (cmd !== expect.command || user !== expect.user) {
      throw new SshdCheckError(
        `sshd would run "${cmd}" as ${user ?? '(nobody)'}, not "${expect.command}" as ${expect.user} (a setting read earlier wins?)`,
      );
    }
  } else if (cmd.startsWith(expect.absentCommand)) {
    throw new SshdCheckError(`sshd still runs ${cmd}`);
  }
}

async function reload(paths: InstallPaths, run: ProcessRunner, out: (l: string) => void): Promise<boolean> {
  if (!paths.reloadCommand) {
    out('not reloading sshd (--no-reload): the change applies to sshd started after this');
    return true;
  }
  const [cmd, ...args] = paths.reloadCommand;
  if (!cmd) return true;
  const r = await run(cmd, args);
  if (r.code !== 0) {
    out(
      `FAIL: reloading sshd (${paths.reloadCommand.join(' ')}) failed: ${r.stderr.trim()}; reload it yourself`,
    );
    return false;
  }
  out(`reloaded sshd (${paths.reloadCommand.join(' ')})`);
  return true;
}

export interface InstallResult {
  readonly code: number;
  readonly plan: InstallPlan;
}

/**
 * Applies an install plan. File changes are journaled; when the sshd check
 * fails every file goes back to its previous bytes (and a user or cache dir
 * created by this run is removed), so a bad install never leaves sshd broken.
 */
export async function install(opts: InstallOptions, sys: SysDeps, dryRun: boolean): Promise<InstallResult> {
  const { paths, agentUser } = opts;
  const obs = await observe(paths, agentUser, sys);
  const plan = planInstall(obs, opts);
  for (const n of plan.notes) sys.out(n);
  if (dryRun) {
    for (const s of plan.steps) sys.out(`would ${describeStep(s)}`);
    sys.out(`would check with ${paths.sshdBinary} -t and -T, then reload sshd`);
    return { code: 0, plan };
  }

  const prev = obs.state;
  const records = new Map<string, FileRecord>((prev?.files ?? []).map((f) => [f.path, f]));
  const journal: { path: string; before: string | undefined }[] = [];
  let createdUser = false;
  let createdCacheDir = false;
  const rollback = async () => {
    for (const j of journal.reverse()) {
      if (j.before === undefined) await sys.remove(j.path).catch(() => {});
      else if (j.path === paths.binPath) await sys.writeAtomic(j.path, j.before, 0o755).catch(() => {});
      else await writeKeeping(sys, j.path, j.before, 0o644).catch(() => {});
    }
    if (createdCacheDir) await sys.removeTree(plan.cacheDir).catch(() => {});
    if (createdUser) await sys.run('userdel', [agentUser]).catch(() => {});
  };

  try {
    for (const s of plan.steps) {
      if (s.kind === 'create-user') {
        const r = await sys.run('useradd', [
          '--system',
          '--user-group',
          '--no-create-home',
          '--home-dir',
          '/nonexistent',
          '--shell',
          opts.nologin,
          s.user,
        ]);
        if (r.code !== 0) throw new CommandFailedError(`useradd ${s.user}`, r);
        createdUser = true;
      } else if (s.kind === 'mkdir-private') {
        createdCacheDir = await sys.ensurePrivateDir(s.path, s.owner);
      } else {
        const before = s.path === plan.dropInPath ? obs.dropInText : await sys.readText(s.path);
        await sys.mkdirp(dirname(s.path), 0o755);
        // The binary is always root 0755 (sshd's rule); sshd files and the config keep their mode and owner.
        if (s.path === paths.binPath) await sys.writeAtomic(s.path, s.content, s.mode);
        else await writeKeeping(sys, s.path, s.content, s.mode);
        journal.push({ path: s.path, before });
        const old = records.get(s.path);
        const disabling = s.what.startsWith('comment out');
        records.set(s.path, {
          path: s.path,
          // The first install's original is what uninstall must restore.
          original: old ? old.original : before === undefined ? null : Buffer.from(before).toString('base64'),
          written: sha256(s.content),
          how: disabling ? 'disable' : (old?.how ?? 'replace'),
        });
      }
      sys.out(describeStep(s));
    }
    // sshd refuses to run a command it could not trust; the interpreter gets the same test.
    const unsafe = [
      ...securePathProblems(paths.binPath, sys.stat),
      ...securePathProblems(opts.nodePath, sys.stat),
    ];
    if (unsafe.length > 0) throw new InstallRefusedError(`unsafe path: ${unsafe.join('; ')}`);
    await checkSshd(
      paths,
      { command: agentCommandLine(paths.binPath, paths.configPath), user: agentUser },
      sys,
    );
  } catch (e) {
    await rollback();
    sys.out(`FAIL: ${(e as Error).message}; every change was rolled back`);
    return { code: 1, plan };
  }

  const state: InstallState = {
    version: 1,
    agentUser,
    createdUser: createdUser || (prev?.createdUser ?? false),
    cacheDir: plan.cacheDir,
    createdCacheDir: createdCacheDir || (prev?.createdCacheDir ?? false),
    files: [...records.values()],
    ...((prev?.chainAdded ?? plan.chain) ? { chainAdded: prev?.chainAdded ?? plan.chain } : {}),
  };
  await sys.mkdirp(dirname(paths.stateFile), 0o755);
  await sys.writeAtomic(paths.stateFile, `${JSON.stringify(state, null, 2)}\n`, 0o600);
  sys.out(`sshd configuration checked (sshd -t, sshd -T): AuthorizedKeysCommand is ${paths.binPath}`);
  const reloaded = await reload(paths, sys.run, sys.out);
  return { code: reloaded ? 0 : 1, plan };
}

/**
 * Rewrites a file keeping its current mode and owner (a CIS-hardened 0600
 * sshd_config stays 0600); a new file gets `defaultMode`, owned by root.
 */
export async function writeKeeping(sys: SysDeps, path: string, content: string, defaultMode: number) {
  const st = sys.stat(path);
  if (st?.isFile()) {
    await sys.writeAtomic(path, content, st.mode & 0o7777, { uid: st.uid, gid: st.gid ?? 0 });
  } else await sys.writeAtomic(path, content, defaultMode);
}

/** Strips DISABLED_MARK from the lines install commented out. */
export function reenableLines(text: string): string {
  return text
    .split('\n')
    .map((l) => (l.startsWith(DISABLED_MARK) ? l.slice(DISABLED_MARK.length) : l))
    .join('\n');
}

/**
 * Reverses install from its state file: files go back to what was there
 * (a file changed since install is left in place, with a warning), the chain
 * install added leaves the config, the cache dir and system user install
 * created are removed (a cache dir owned by a deleted uid would belong to the
 * next account given that uid).
 */
export async function uninstall(paths: InstallPaths, sys: SysDeps, dryRun: boolean): Promise<number> {
  const stateText = await sys.readText(paths.stateFile);
  if (!stateText) {
    sys.out(`FAIL: ${paths.stateFile} not found: nothing was installed here (or it was installed by hand)`);
    return 1;
  }
  const state = JSON.parse(stateText) as InstallState;
  const act = async (what: string, f: () => Promise<void>) => {
    sys.out(dryRun ? `would ${what}` : what);
    if (!dryRun) await f();
  };
  const undo: { path: string; text: string }[] = [];
  /** Puts one recorded file back; `journal` collects what the sshd check may have to undo. */
  const revert = async (f: FileRecord, journal: { path: string; text: string }[] | undefined) => {
    const current = await sys.readText(f.path);
    const defaultMode = f.path === paths.binPath ? 0o755 : 0o644;
    if (f.how === 'disable') {
      if (current === undefined) return;
      await act(`re-enable the AuthorizedKeysCommand lines in ${f.path}`, async () => {
        journal?.push({ path: f.path, text: current });
        await writeKeeping(sys, f.path, reenableLines(current), defaultMode);
      });
    } else if (current !== undefined && sha256(current) !== f.written) {
      sys.out(`WARN: ${f.path} changed since install: left in place`);
    } else if (f.original === null) {
      if (current !== undefined)
        await act(`remove ${f.path}`, async () => {
          journal?.push({ path: f.path, text: current });
          await sys.remove(f.path);
        });
    } else {
      const original = Buffer.from(f.original, 'base64').toString('utf8');
      await act(`restore the previous ${f.path}`, async () => {
        if (current !== undefined) journal?.push({ path: f.path, text: current });
        await writeKeeping(sys, f.path, original, defaultMode);
      });
    }
  };

  // 1. sshd's files first, so sshd stops naming the agent while the binary is still there.
  const sshdFiles = state.files.filter((f) => f.path !== paths.binPath && f.path !== paths.configPath);
  for (const f of sshdFiles) await revert(f, undo);
  if (dryRun) sys.out(`would check with ${paths.sshdBinary} -t and -T, then reload sshd`);
  else {
    try {
      await checkSshd(paths, { absentCommand: paths.binPath }, sys);
    } catch (e) {
      for (const u of undo.reverse()) await writeKeeping(sys, u.path, u.text, 0o644).catch(() => {});
      sys.out(`FAIL: ${(e as Error).message}; sshd files put back, nothing else changed`);
      return 1;
    }
    // 2. A running sshd still uses the old config until reloaded: keep the binary it runs until then.
    if (!(await reload(paths, sys.run, sys.out))) {
      sys.out(
        `FAIL: sshd files are restored but sshd was not reloaded: ${paths.binPath}, the cache dir, the user and ${paths.stateFile} are kept; reload sshd, then run uninstall again`,
      );
      return 1;
    }
  }

  // 3. Only now the binary and the rest.
  for (const f of state.files.filter((f) => f.path === paths.binPath)) await revert(f, undefined);
  if (state.chainAdded) {
    const text = await sys.readText(paths.configPath);
    if (text) {
      const cfg = JSON.parse(text) as Record<string, unknown>;
      if (JSON.stringify(cfg.chain) === JSON.stringify(state.chainAdded)) {
        delete cfg.chain;
        await act(`remove the chain install added from ${paths.configPath}`, () =>
          writeKeeping(sys, paths.configPath, `${JSON.stringify(cfg, null, 2)}\n`, 0o644),
        );
      }
    }
  }
  if (state.createdCacheDir) await act(`remove ${state.cacheDir}`, () => sys.removeTree(state.cacheDir));
  if (state.createdUser) {
    await act(`remove system user ${state.agentUser}`, async () => {
      const r = await sys.run('userdel', [state.agentUser]);
      if (r.code !== 0) throw new CommandFailedError(`userdel ${state.agentUser}`, r);
    });
  }
  await act(`remove ${paths.stateFile}`, () => sys.remove(paths.stateFile));
  return 0;
}
