// The sudoers drop-in of sync-users: names users by uid, and reaches its final
// name only once `visudo -c` accepts it.

import type { PasswdEntry } from '../../passwd.js';
import type { ProcessRunner } from '../sys.js';
import type { SudoUser } from './plan.js';

export const DEFAULT_SUDOERS_PATH = '/etc/sudoers.d/iam-synced-users';

/**
 * The sudoers drop-in, rewritten whole each run. Users are named by uid
 * (`#20001`), never by name: an IAM user called `ALL`, or one in capitals
 * (read as an alias), would otherwise grant sudo to far more than itself.
 */
export function renderSudoers(users: readonly SudoUser[]): string {
  const lines = users.map((u) => `#${u.uid} ALL=(ALL) NOPASSWD:ALL`);
  const names = users.length ? `# uids: ${users.map((u) => `${u.uid}=${u.name}`).join(' ')}\n` : '';
  return `# Managed by iam-authorized-keys sync-users: rewritten on every run.\n${names}${lines.join('\n')}${lines.length ? '\n' : ''}`;
}

/**
 * Keeps the sudo users whose account really exists with that uid (creation may
 * have failed); a renumbering that failed keeps the line of the previous uid.
 */
export function existingSudoUsers(users: readonly SudoUser[], passwd: readonly PasswdEntry[]): SudoUser[] {
  const has = (name: string, uid: number | undefined) => passwd.some((p) => p.name === name && p.uid === uid);
  return users.flatMap((u) =>
    has(u.name, u.uid)
      ? [{ name: u.name, uid: u.uid }]
      : has(u.name, u.previousUid)
        ? [{ name: u.name, uid: u.previousUid as number }]
        : [],
  );
}

export class SudoersInvalidError extends Error {
  override name = 'SudoersInvalidError';
}

export interface SudoersDeps {
  readonly run: ProcessRunner;
  readonly visudo: string;
  readonly readFile: (path: string) => Promise<string | undefined>;
  readonly writeTemp: (path: string, content: string) => Promise<void>;
  readonly rename: (from: string, to: string) => Promise<void>;
  readonly remove: (path: string) => Promise<void>;
}

/**
 * Installs the sudoers drop-in: written to a temp name sudo ignores (it holds
 * a '.'), checked with `visudo -cf`, then renamed into place, mode 0440. A
 * file that fails the check never reaches its final name (a broken sudoers
 * drop-in disables sudo for everyone). Returns whether the file changed.
 */
export async function installSudoers(path: string, content: string, deps: SudoersDeps): Promise<boolean> {
  if ((await deps.readFile(path)) === content) return false;
  const tmp = `${path}.iam-tmp`;
  await deps.writeTemp(tmp, content);
  const check = await deps.run(deps.visudo, ['-cf', tmp]);
  if (check.code !== 0) {
    await deps.remove(tmp);
    throw new SudoersInvalidError(
      `visudo rejected the sudoers drop-in, not installed: ${(check.stderr || check.stdout).trim()}`,
    );
  }
  await deps.rename(tmp, path);
  return true;
}
