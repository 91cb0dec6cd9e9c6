// sshd runs AuthorizedKeysCommand only when the file and every parent directory
// are owned by root and not writable by group or others; the same must hold
// for the node interpreter named in the shebang (sshd does not check that one).
import { dirname, isAbsolute, normalize } from 'node:path';
import type { StatLike } from './private-dir.js';

// The login path's part (no node:path: ~1 ms and 2.5 MiB of every login under Bun) lives in private-dir.ts.
export { privateDirProblem, type StatLike } from './private-dir.js';

/** Returns one problem per offending path component (empty: the path is safe). */
export function securePathProblems(path: string, stat: (p: string) => StatLike | undefined): string[] {
  const problems: string[] = [];
  let p = path;
  for (;;) {
    const st = stat(p);
    if (!st) problems.push(`${p} does not exist`);
    else {
      if (st.uid !== 0) problems.push(`${p} is owned by uid ${st.uid}, not root`);
      if (st.mode & 0o022)
        problems.push(`${p} is group- or world-writable (mode ${(st.mode & 0o7777).toString(8)})`);
    }
    const parent = dirname(p);
    if (parent === p) return problems;
    p = parent;
  }
}

/**
 * sshd checks where the command's path really leads (realpath, then every
 * parent): the same test for a symlinked path's target. Empty when the path is
 * not a symlink or cannot be resolved (securePathProblems reports that).
 */
export function resolvedPathProblems(
  path: string,
  stat: (p: string) => StatLike | undefined,
  realpath: ((p: string) => string | undefined) | undefined,
): string[] {
  const real = realpath?.(path);
  if (!real || real === path) return [];
  return securePathProblems(real, stat).map((p) => `${path} resolves to ${real}: ${p}`);
}

/**
 * Whether only root can change which file a name in `dir` leads to: `dir` is
 * root-owned and not writable by group or others, and so is every directory
 * above it, except that one above may be world-writable with the sticky bit
 * (/tmp: others cannot rename its root-owned entries). `dir` must be a real
 * path (symlinks resolved): then no name on the way can be swapped for a
 * symlink by anyone but root. Admin commands run as root write and chown
 * below such a directory only. Returns one problem per offending directory.
 */
export function trustedDirProblems(dir: string, stat: (p: string) => StatLike | undefined): string[] {
  const problems: string[] = [];
  let p = dir;
  for (let first = true; ; first = false) {
    const st = stat(p);
    if (!st) problems.push(`${p} does not exist`);
    else if (!st.isDirectory()) problems.push(`${p} is not a directory`);
    else {
      const mode = (st.mode & 0o7777).toString(8);
      if (st.uid !== 0) problems.push(`${p} is owned by uid ${st.uid}, not root`);
      else if (st.mode & 0o022 && (first || !(st.mode & 0o1000))) {
        problems.push(`${p} is writable by group or others (mode ${mode})`);
      }
    }
    const parent = dirname(p);
    if (parent === p) return problems;
    p = parent;
  }
}

/** glob(3) subset sshd's Include uses: '*', '?' within one path component. */
export function globToRegExp(pattern: string): RegExp {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${re}$`);
}

// Directories whose owner and mode the system depends on: install never chowns them.
const SYSTEM_DIRS = new Set([
  '/etc/ssh',
  '/etc/ssh/sshd_config.d',
  '/etc/sudoers.d',
  '/etc/cron.d',
  '/etc/systemd/system',
  '/usr/local/bin',
  '/usr/local/sbin',
  '/usr/local/lib',
  '/usr/local/share',
  '/usr/local/etc',
  '/usr/lib/systemd',
  '/var/lib/dpkg',
  '/var/lib/rpm',
  '/var/lib/apt',
  '/var/lib/systemd',
  '/var/cache/apt',
  '/var/cache/dnf',
  '/var/cache/yum',
  '/var/spool/cron',
  '/var/empty/sshd',
  '/run/sshd',
  '/var/run/sshd',
]);
// Trees that are never the place for a cache (kernel, devices, system config).
const SYSTEM_TREES = ['/proc/', '/sys/', '/dev/', '/boot/', '/root/'];

/**
 * Why `dir` must not become the agent's cache directory (install chowns it to
 * the agent user, mode 0700), or undefined when it may. Refuses relative
 * paths, paths with fewer than 3 components (`/`, `/var`, `/var/cache`) and
 * well-known system directories.
 */
export function cacheDirPathProblem(dir: string): string | undefined {
  if (!isAbsolute(dir)) return 'is not an absolute path';
  const norm = normalize(dir).replace(/\/+$/, '') || '/';
  const parts = norm.split('/').filter(Boolean);
  if (parts.length < 3) return 'has fewer than 3 path components (a system directory?)';
  if (SYSTEM_DIRS.has(norm) || SYSTEM_TREES.some((t) => `${norm}/`.startsWith(t))) {
    return 'is a system directory';
  }
  return undefined;
}
