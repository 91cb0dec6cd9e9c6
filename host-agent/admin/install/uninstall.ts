// uninstall: reverses install from its state file; sshd's files first, the
// binary only once a reloaded sshd no longer runs it.

import { errorMessage } from '../../../contract/errors.js';
import { CommandFailedError } from '../sys.js';
import { checkSshd, reload, systemctlTimers, writeKeeping } from './apply.js';
import {
  DISABLED_MARK,
  type FileRecord,
  type InstallPaths,
  type InstallState,
  type SysDeps,
  sha256,
} from './plan.js';
import { timersOf } from './units.js';

/** Strips DISABLED_MARK from the lines install commented out. */
export function reenableLines(text: string): string {
  return text
    .split('\n')
    .map((l) => (l.startsWith(DISABLED_MARK) ? l.slice(DISABLED_MARK.length) : l))
    .join('\n');
}

type Act = (what: string, f: () => Promise<void>) => Promise<void>;
type Undo = { path: string; text: string | Buffer }[];

/** Puts one recorded file back; `journal` collects what the sshd check may have to undo. */
async function revert(f: FileRecord, journal: Undo | undefined, binPath: string, sys: SysDeps, act: Act) {
  // Bytes, not text: the binary may be a standalone executable (its hash is of its bytes).
  const current = await sys.readBytes(f.path);
  const defaultMode = f.path === binPath ? 0o755 : 0o644;
  if (f.how === 'disable') {
    if (current === undefined) return;
    await act(`re-enable the AuthorizedKeysCommand lines in ${f.path}`, async () => {
      journal?.push({ path: f.path, text: current });
      await writeKeeping(sys, f.path, reenableLines(current.toString('utf8')), defaultMode);
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
    const original = Buffer.from(f.original, 'base64');
    await act(`restore the previous ${f.path}`, async () => {
      if (current !== undefined) journal?.push({ path: f.path, text: current });
      await writeKeeping(sys, f.path, original, defaultMode);
    });
  }
}

/**
 * After sshd's files went back: sshd no longer runs the agent (sshd -t, -T), and a reloaded sshd
 * no longer uses the old config. False (said) when not: then the sshd files are put back or the rest is kept.
 */
async function sshdLetGo(paths: InstallPaths, undo: Undo, sys: SysDeps, dryRun: boolean): Promise<boolean> {
  if (dryRun) {
    sys.out(`would check with ${paths.sshdBinary} -t and -T, then reload sshd`);
    return true;
  }
  if (!sys.stat(paths.sshdBinary)) {
    // sshd was removed since install (openssh-server first, then this package): no sshd runs the
    // agent, so there is nothing to check or reload, and refusing would make the agent unremovable.
    sys.out(`${paths.sshdBinary} is not installed: nothing to check or reload`);
    return true;
  }
  try {
    await checkSshd(paths, { absentCommand: paths.binPath }, sys);
  } catch (e) {
    for (const u of undo.reverse()) await writeKeeping(sys, u.path, u.text, 0o644).catch(() => {});
    sys.out(`FAIL: ${errorMessage(e)}; sshd files put back, nothing else changed`);
    return false;
  }
  // A running sshd still uses the old config until reloaded: keep the binary it runs until then.
  if (!(await reload(paths, sys.run, sys.out))) {
    sys.out(
      `FAIL: sshd files are restored but sshd was not reloaded: ${paths.binPath}, the cache dir, the user and ${paths.stateFile} are kept; reload sshd, then run uninstall again`,
    );
    return false;
  }
  return true;
}

/** The chain install added leaves the agent config (only while it is still the one install added). */
async function removeChain(paths: InstallPaths, state: InstallState, sys: SysDeps, act: Act): Promise<void> {
  if (!state.chainAdded) return;
  const text = await sys.readText(paths.configPath);
  if (!text) return;
  const cfg = JSON.parse(text) as Record<string, unknown>;
  if (JSON.stringify(cfg.chain) !== JSON.stringify(state.chainAdded)) return;
  delete cfg.chain;
  await act(`remove the chain install added from ${paths.configPath}`, () =>
    writeKeeping(sys, paths.configPath, `${JSON.stringify(cfg, null, 2)}\n`, 0o644),
  );
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
  const act: Act = async (what, f) => {
    sys.out(dryRun ? `would ${what}` : what);
    if (!dryRun) await f();
  };
  // 0. The timers install set up stop before their units go.
  const timers = timersOf(
    state.files.map((f) => f.path),
    paths.unitDir,
  );
  if (dryRun && timers.length > 0) sys.out(`would disable ${timers.join(', ')}`);
  else if (!(await systemctlTimers('disable', timers, sys))) return 1;
  // 1. sshd's files first, so sshd stops naming the agent while the binary is still there.
  const undo: Undo = [];
  const sshdFiles = state.files.filter((f) => f.path !== paths.binPath && f.path !== paths.configPath);
  for (const f of sshdFiles) await revert(f, undo, paths.binPath, sys, act);
  // 2. sshd lets go of the agent.
  if (!(await sshdLetGo(paths, undo, sys, dryRun))) return 1;
  // 3. Only now the binary and the rest.
  for (const f of state.files.filter((f) => f.path === paths.binPath))
    await revert(f, undefined, paths.binPath, sys, act);
  await removeChain(paths, state, sys, act);
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
