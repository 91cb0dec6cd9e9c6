// sshd on a host where it has never run (an image build, a container, a fresh
// AMI before first boot): Debian's sshd refuses every check (`sshd -t`,
// `sshd -T`) until its privilege-separation directory exists, and only its
// service unit creates it when sshd starts (RuntimeDirectory=sshd, mode 0755;
// the SysV script does the same). install, uninstall and doctor create it the
// same way and say so, instead of failing on a configuration that is fine.

import { errorMessage } from '../../contract/errors.js';
import type { ProcessRunner, RunResult } from './sys.js';

const MISSING_PRIVSEP = /Missing privilege separation directory: (\/[^\s'"]+)/;

/** The directory sshd says is missing, or undefined when that is not why it failed. */
export function missingPrivsepDir(stderr: string): string | undefined {
  const dir = MISSING_PRIVSEP.exec(stderr)?.[1];
  // Only a plain absolute path, as sshd's compiled-in default is (/run/sshd, /var/empty...).
  if (!dir || dir.split('/').some((part) => part === '..' || part === '.')) return undefined;
  return dir;
}

export interface SshdRunDeps {
  readonly run: ProcessRunner;
  /** Creates one directory root-owned, mode 0755, below an existing root-owned parent. */
  readonly createRuntimeDir: (path: string) => Promise<void>;
}

export interface SshdRun {
  readonly result: RunResult;
  /** What was done before the run could succeed (shown to the admin), if anything. */
  readonly note?: string;
}

export function privsepNote(dir: string): string {
  return `created ${dir} (sshd's privilege-separation directory, root, mode 0755), as sshd's service unit does when sshd starts: sshd has not run on this host yet`;
}

/**
 * Runs sshd (`-t`, `-T`); when it stops only because its privilege-separation
 * directory is missing, creates that directory and runs it once more.
 */
export async function runSshd(
  sshdBinary: string,
  args: readonly string[],
  deps: SshdRunDeps,
): Promise<SshdRun> {
  const first = await deps.run(sshdBinary, args);
  if (first.code === 0) return { result: first };
  const dir = missingPrivsepDir(first.stderr);
  if (!dir) return { result: first };
  try {
    await deps.createRuntimeDir(dir);
  } catch (e) {
    return {
      result: {
        ...first,
        stderr: `${first.stderr.trim()} (creating ${dir} failed: ${errorMessage(e)})\n`,
      },
    };
  }
  return { result: await deps.run(sshdBinary, args), note: privsepNote(dir) };
}
