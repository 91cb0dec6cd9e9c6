// A run lock for sync-users: two runs at once (a timer and a manual run) would
// race on useradd/userdel and the sudoers file. A pid file created with O_EXCL
// in a root-only directory (/run: no other user can squat the name); a lock
// whose pid is gone (a crashed run) is taken over.
import { closeSync, constants, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { errorMessage } from '../../contract/errors.js';

export class LockedError extends Error {
  override name = 'LockedError';
}

export interface LockDeps {
  readonly pid: number;
  /** True while a process with this pid exists. */
  readonly isAlive: (pid: number) => boolean;
}

export const realLockDeps: LockDeps = {
  pid: process.pid,
  isAlive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      // EPERM: it exists, owned by someone else.
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};

function create(path: string, pid: number): void {
  const fd = openSync(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    writeSync(fd, `${pid}\n`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Takes the lock or throws LockedError naming the running pid. Returns the
 * release function (removes the file only while it still holds our pid).
 */
export function acquireLock(path: string, deps: LockDeps = realLockDeps): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      create(path, deps.pid);
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(deps.pid)) unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new LockedError(`cannot create lock ${path}: ${errorMessage(e)}`, { cause: e });
      }
    }
    let text: string;
    try {
      text = readFileSync(path, 'utf8').trim();
    } catch (e) {
      throw new LockedError(`cannot read lock ${path}: ${errorMessage(e)}`, { cause: e });
    }
    const holder = /^\d{1,10}$/.test(text) ? Number(text) : undefined;
    if (holder !== undefined && holder !== deps.pid && deps.isAlive(holder)) {
      throw new LockedError(`another sync-users is running (pid ${holder}, lock ${path})`);
    }
    // Stale (its process is gone) or garbage: remove it and try once more.
    unlinkSync(path);
  }
  throw new LockedError(`lock ${path} was taken by another run while replacing a stale one`);
}
