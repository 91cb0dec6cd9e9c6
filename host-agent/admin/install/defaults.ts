// Which binary path, config path and agent user install, uninstall and doctor
// use when the admin names none: what the last install recorded wins over the
// built-in defaults, so that a package's postinst re-running `install` on
// upgrade keeps an `--agent-user` the admin chose, and uninstall or doctor run
// from another copy of the agent look at the binary sshd really runs.
import { defaultBinPath, type InstallState } from './plan.js';

export interface Explicit {
  readonly bin?: string | undefined;
  readonly config?: string | undefined;
  readonly agentUser?: string | undefined;
}

export interface Builtin {
  readonly bin: string;
  readonly config: string;
  readonly agentUser: string;
  /** The running program, for install's run-in-place rule (undefined: not on the real root). */
  readonly running?: { readonly standalone: boolean; readonly path: string } | undefined;
}

export interface Chosen {
  readonly bin: string;
  readonly config: string;
  readonly agentUser: string;
}

/**
 * Explicit options first. Then, for install, a standalone executable already in
 * a program directory is run in place (a package's binary: an upgrade is what
 * sshd runs next); then what the state file recorded; then the built-in default.
 * For uninstall and doctor the recorded binary comes before the run-in-place rule:
 * they are about the install that exists.
 */
export function chooseDefaults(
  command: 'install' | 'uninstall' | 'doctor',
  explicit: Explicit,
  state: Pick<InstallState, 'agentUser' | 'binPath' | 'configPath'> | undefined,
  builtin: Builtin,
): Chosen {
  const inPlace = builtin.running ? defaultBinPath(builtin.running, '') : '';
  const bin =
    explicit.bin ??
    (command === 'install'
      ? inPlace || state?.binPath || builtin.bin
      : state?.binPath || inPlace || builtin.bin);
  return {
    bin,
    config: explicit.config ?? state?.configPath ?? builtin.config,
    agentUser: explicit.agentUser ?? state?.agentUser ?? builtin.agentUser,
  };
}
