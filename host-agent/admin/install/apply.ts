// install's executor: applies a plan through SysDeps, checks sshd's view of the
// result (sshd -t, sshd -T) and rolls every change back when it is not what we
// want, then reloads sshd. uninstall checks and reloads the same way.
import { dirname } from 'node:path';
import { errorMessage } from '../../../contract/errors.js';
import { resolvedPathProblems, securePathProblems } from '../../secure-path.js';
import { runSshd, type SshdRunDeps } from '../sshd-runtime.js';
import { CommandFailedError, type ProcessRunner } from '../sys.js';
import { observe } from './observe.js';
import {
  describeStep,
  type FileRecord,
  type InstallOptions,
  type InstallPaths,
  type InstallPlan,
  InstallRefusedError,
  type InstallState,
  type Observed,
  planInstall,
  type Step,
  type SysDeps,
  sha256,
} from './plan.js';
import { AKC, AKC_USER, agentCommandLine, auditSettingProblems, parseSshdT } from './sshd-config.js';
import { timersOf } from './units.js';

export class SshdCheckError extends Error {
  override name = 'SshdCheckError';
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
    // What the drop-in sets for the audit must be in force too (a Match-free value read earlier wins).
    const audit = auditSettingProblems(eff);
    if (audit.length > 0) throw new SshdCheckError(`sshd -T: ${audit.join('; ')}`);
  } else if (cmd.startsWith(expect.absentCommand)) {
    throw new SshdCheckError(`sshd still runs ${cmd}`);
  }
}

/** Reloads sshd with paths.reloadCommand; a failure is said (FAIL line) and returned as false, never thrown. */
export async function reload(
  paths: InstallPaths,
  run: ProcessRunner,
  out: (l: string) => void,
): Promise<boolean> {
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

/** Where systemd runs, so that systemctl can act (as the packages' scripts test it). */
const SYSTEMD_RUNNING = '/run/systemd/system';

/**
 * `systemctl daemon-reload` then enable or disable --now the timers install wrote (units.ts).
 * A failure is said (FAIL line) and returned as false, never thrown; without systemd, only said.
 */
export async function systemctlTimers(
  how: 'enable' | 'disable',
  timers: readonly string[],
  sys: Pick<SysDeps, 'run' | 'out' | 'dirExists'>,
): Promise<boolean> {
  if (timers.length === 0) return true;
  if (!(await sys.dirExists(SYSTEMD_RUNNING))) {
    sys.out(`systemd is not running: ${how} ${timers.join(', ')} yourself`);
    return true;
  }
  for (const args of [['daemon-reload'], [how, '--now', ...timers]]) {
    const r = await sys.run('systemctl', args);
    if (r.code !== 0) {
      sys.out(`FAIL: systemctl ${args.join(' ')} failed: ${r.stderr.trim()}`);
      return false;
    }
  }
  sys.out(`${how}d ${timers.join(', ')}`);
  return true;
}

/** Files at most this large keep their previous bytes in the state file for uninstall. */
const MAX_ORIGINAL_BYTES = 1 << 20;

export interface InstallResult {
  readonly code: number;
  readonly plan: InstallPlan;
}

/** The state file after a successful install, carrying over what earlier installs recorded. */
function nextState(
  prev: InstallState | undefined,
  plan: InstallPlan,
  run: { paths: InstallPaths; agentUser: string; createdUser: boolean; createdCacheDir: boolean },
  files: FileRecord[],
): InstallState {
  const { paths, agentUser } = run;
  return {
    version: 1,
    agentUser,
    // The user an earlier install created counts only while it is still the agent user.
    createdUser: run.createdUser || (prev?.agentUser === agentUser && prev.createdUser),
    cacheDir: plan.cacheDir,
    createdCacheDir: run.createdCacheDir || (prev?.createdCacheDir ?? false),
    files,
    ...((prev?.chainAdded ?? plan.chain) ? { chainAdded: prev?.chainAdded ?? plan.chain } : {}),
    binPath: paths.binPath,
    configPath: paths.configPath,
    ...(plan.agentUserShared ? { agentUserSharedOk: true } : {}),
  };
}

/** What an install run changed so far: undone in reverse when a later step or the sshd check fails. */
interface Progress {
  readonly journal: { path: string; before: string | Buffer | undefined }[];
  /** The state file's file records, the previous install's carried over. */
  readonly records: Map<string, FileRecord>;
  createdUser: boolean;
  createdCacheDir: boolean;
}

async function rollback(p: Progress, plan: InstallPlan, opts: InstallOptions, sys: SysDeps): Promise<void> {
  for (const j of p.journal.reverse()) {
    if (j.before === undefined) await sys.remove(j.path).catch(() => {});
    else if (j.path === opts.paths.binPath) await sys.writeAtomic(j.path, j.before, 0o755).catch(() => {});
    else await writeKeeping(sys, j.path, j.before, 0o644).catch(() => {});
  }
  if (p.createdCacheDir) await sys.removeTree(plan.cacheDir).catch(() => {});
  if (p.createdUser) await sys.run('userdel', [opts.agentUser]).catch(() => {});
}

/** Writes one file, journals what was there and records it for uninstall. */
async function writeStep(
  s: Extract<Step, { kind: 'write-file' }>,
  ctx: { plan: InstallPlan; obs: Observed; paths: InstallPaths },
  p: Progress,
  sys: SysDeps,
): Promise<void> {
  const { plan, obs, paths } = ctx;
  const before =
    s.path === plan.dropInPath
      ? obs.dropInText
      : s.path === paths.binPath
        ? obs.binary
        : await sys.readText(s.path);
  await sys.mkdirp(dirname(s.path), 0o755);
  // The binary is always root 0755 (sshd's rule); sshd files and the config keep their mode and owner.
  if (s.path === paths.binPath) await sys.writeAtomic(s.path, s.content, s.mode);
  else await writeKeeping(sys, s.path, s.content, s.mode);
  p.journal.push({ path: s.path, before });
  const old = p.records.get(s.path);
  const disabling = s.what.startsWith('comment out');
  // A large file already at the binary path (an earlier copy of the agent, 100 MB standalone) is
  // not kept in the state file: uninstall removes what install wrote instead of restoring it.
  const keep = before !== undefined && Buffer.byteLength(before) <= MAX_ORIGINAL_BYTES;
  if (before !== undefined && !keep && !old) {
    sys.out(
      `replacing ${s.path} (${Buffer.byteLength(before)} bytes): uninstall will remove it, not restore it`,
    );
  }
  p.records.set(s.path, {
    path: s.path,
    // The first install's original is what uninstall must restore.
    original: old ? old.original : keep ? Buffer.from(before).toString('base64') : null,
    written: sha256(s.content),
    how: disabling ? 'disable' : (old?.how ?? 'replace'),
  });
}

/** Every step of the plan, in order, each said as it is done. */
async function applySteps(plan: InstallPlan, obs: Observed, opts: InstallOptions, p: Progress, sys: SysDeps) {
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
      p.createdUser = true;
    } else if (s.kind === 'mkdir-private') {
      p.createdCacheDir = await sys.ensurePrivateDir(s.path, s.owner);
    } else await writeStep(s, { plan, obs, paths: opts.paths }, p, sys);
    sys.out(describeStep(s));
  }
}

/** sshd refuses to run a command it could not trust (a script's interpreter gets the same test); then sshd -t, -T. */
async function checkInstalled(plan: InstallPlan, opts: InstallOptions, sys: SysDeps): Promise<void> {
  const { paths, agentUser } = opts;
  const unsafe = [
    ...securePathProblems(paths.binPath, sys.stat),
    ...resolvedPathProblems(paths.binPath, sys.stat, sys.realpath),
    ...(plan.interpreter ? securePathProblems(plan.interpreter, sys.stat) : []),
  ];
  if (unsafe.length > 0) throw new InstallRefusedError(`unsafe path: ${unsafe.join('; ')}`);
  await checkSshd(
    paths,
    { command: agentCommandLine(paths.binPath, paths.configPath), user: agentUser },
    sys,
  );
}

/**
 * Applies an install plan. File changes are journaled; when the sshd check
 * fails every file goes back to its previous bytes (and a user or cache dir
 * created by this run is removed), so a bad install never leaves sshd broken.
 */
export async function install(opts: InstallOptions, sys: SysDeps, dryRun: boolean): Promise<InstallResult> {
  const { paths, agentUser } = opts;
  const obs = await observe(paths, agentUser, sys, opts.scheduled);
  const plan = planInstall(obs, opts);
  for (const n of plan.notes) sys.out(n);
  if (dryRun) {
    for (const s of plan.steps) sys.out(`would ${describeStep(s)}`);
    sys.out(`would check with ${paths.sshdBinary} -t and -T, then reload sshd`);
    return { code: 0, plan };
  }
  const prev = obs.state;
  const progress: Progress = {
    journal: [],
    records: new Map((prev?.files ?? []).map((f) => [f.path, f])),
    createdUser: false,
    createdCacheDir: false,
  };
  try {
    await applySteps(plan, obs, opts, progress, sys);
    await checkInstalled(plan, opts, sys);
  } catch (e) {
    await rollback(progress, plan, opts, sys);
    sys.out(`FAIL: ${errorMessage(e)}; every change was rolled back`);
    return { code: 1, plan };
  }
  const { createdUser, createdCacheDir } = progress;
  const state = nextState(prev, plan, { paths, agentUser, createdUser, createdCacheDir }, [
    ...progress.records.values(),
  ]);
  await sys.mkdirp(dirname(paths.stateFile), 0o755);
  await sys.writeAtomic(paths.stateFile, `${JSON.stringify(state, null, 2)}\n`, 0o600);
  sys.out(`sshd configuration checked (sshd -t, sshd -T): AuthorizedKeysCommand is ${paths.binPath}`);
  const reloaded = await reload(paths, sys.run, sys.out);
  const written = plan.steps.flatMap((s) => (s.kind === 'write-file' ? [s.path] : []));
  const timers = await systemctlTimers('enable', timersOf(written, paths.unitDir), sys);
  return { code: reloaded && timers ? 0 : 1, plan };
}

/**
 * Rewrites a file keeping its current mode and owner (a CIS-hardened 0600
 * sshd_config stays 0600); a new file gets `defaultMode`, owned by root.
 */
export async function writeKeeping(
  sys: SysDeps,
  path: string,
  content: string | Buffer,
  defaultMode: number,
) {
  const st = sys.stat(path);
  if (st?.isFile()) {
    await sys.writeAtomic(path, content, st.mode & 0o7777, { uid: st.uid, gid: st.gid ?? 0 });
  } else await sys.writeAtomic(path, content, defaultMode);
}
