import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, LockedError, realLockDeps } from '../../../../host-agent/admin/lock.js';

describe('acquireLock (real file system)', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'iak-lock-'));
    path = join(dir, 'sync.lock');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A pid that existed and is gone now. */
  const deadPid = () => {
    const r = spawnSync('/bin/sh', ['-c', 'echo $$']);
    return Number(r.stdout.toString().trim());
  };

  it('creates a 0600 pid file and removes it on release', () => {
    const release = acquireLock(path);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    release();
    expect(existsSync(path)).toBe(false);
  });

  it('refuses while another live process holds it, naming that pid, and leaves its lock alone', () => {
    writeFileSync(path, '1\n'); // pid 1 always exists
    const err = (() => {
      try {
        acquireLock(path);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(LockedError);
    expect((err as Error).message).toBe(`another sync-users is running (pid 1, lock ${path})`);
    expect(readFileSync(path, 'utf8')).toBe('1\n');
  });

  it.each([
    ['a crashed run (pid gone)', (dead: number) => `${dead}\n`],
    ['garbage', () => 'not a pid\n'],
    ['empty', () => ''],
  ])('takes over a stale lock: %s', (_name, content) => {
    const dead = deadPid();
    expect(realLockDeps.isAlive(dead)).toBe(false);
    writeFileSync(path, content(dead));
    const release = acquireLock(path);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    release();
  });

  it('release leaves a lock that another run has taken since', () => {
    const release = acquireLock(path, { pid: 424242, isAlive: () => false });
    writeFileSync(path, '1\n');
    release();
    expect(readFileSync(path, 'utf8')).toBe('1\n');
  });

  it('a symlink at the lock path is never written through', () => {
    const target = join(dir, 'target');
    writeFileSync(target, 'keep');
    symlinkSync(target, path);
    // The link's content is not a pid: treated as stale, the link itself is removed, never followed for writing.
    const release = acquireLock(path);
    expect(readFileSync(target, 'utf8')).toBe('keep');
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    release();
  });

  it('fails with a clear error when the directory does not exist', () => {
    expect(() => acquireLock(join(dir, 'missing', 'x.lock'))).toThrow(/cannot create lock .*ENOENT/);
  });
});
