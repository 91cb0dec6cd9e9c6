import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingPrivsepDir, privsepNote, runSshd } from '../../../../host-agent/admin/sshd-runtime.js';
import { type ProcessRunner, realRunner, realSystemFs } from '../../../../host-agent/admin/sys.js';

describe('missingPrivsepDir', () => {
  it.each([
    ['Missing privilege separation directory: /run/sshd\r\n', '/run/sshd'],
    ['sshd: fatal: Missing privilege separation directory: /var/empty', '/var/empty'],
    ['Missing privilege separation directory: /usr/share/empty.sshd\n', '/usr/share/empty.sshd'],
    ['Missing privilege separation directory: run/sshd', undefined],
    ['Missing privilege separation directory: /run/../etc', undefined],
    ['/etc/ssh/sshd_config line 3: Bad configuration option: Foo', undefined],
    ['Privilege separation user sshd does not exist', undefined],
    ['', undefined],
  ])('%j -> %s', (stderr, dir) => {
    expect(missingPrivsepDir(stderr)).toBe(dir);
  });
});

describe('runSshd', () => {
  const MISSING = { code: 255, stdout: '', stderr: 'Missing privilege separation directory: /run/sshd\n' };
  const fake = (answers: { code: number; stdout: string; stderr: string }[]) => {
    const calls: string[] = [];
    const run: ProcessRunner = async (cmd, args) => {
      calls.push([cmd, ...args].join(' '));
      return answers.shift() ?? { code: 0, stdout: 'second', stderr: '' };
    };
    return { calls, run };
  };

  it('creates the missing dir, runs again and says what it did', async () => {
    const f = fake([MISSING]);
    const created: string[] = [];
    const r = await runSshd('/usr/sbin/sshd', ['-T'], {
      run: f.run,
      createRuntimeDir: async (p) => {
        created.push(p);
      },
    });
    expect(created).toEqual(['/run/sshd']);
    expect(f.calls).toEqual(['/usr/sbin/sshd -T', '/usr/sbin/sshd -T']);
    expect(r.result.stdout).toBe('second');
    expect(r.note).toBe(privsepNote('/run/sshd'));
  });

  it('leaves any other failure alone (nothing created, one run)', async () => {
    const f = fake([{ code: 255, stdout: '', stderr: 'line 3: Bad option' }]);
    const r = await runSshd('/usr/sbin/sshd', ['-t'], {
      run: f.run,
      createRuntimeDir: async () => {
        throw new Error('not expected');
      },
    });
    expect(f.calls).toHaveLength(1);
    expect(r.result.code).toBe(255);
    expect(r.note).toBeUndefined();
  });

  it('reports a dir it could not create in the failure, and does not run again', async () => {
    const f = fake([MISSING]);
    const r = await runSshd('/usr/sbin/sshd', ['-t'], {
      run: f.run,
      createRuntimeDir: async () => {
        throw new Error('read-only file system');
      },
    });
    expect(f.calls).toHaveLength(1);
    expect(r.result.code).toBe(255);
    expect(r.result.stderr).toMatch(/\/run\/sshd \(creating \/run\/sshd failed: read-only file system\)/);
  });
});

describe('realSystemFs.createRuntimeDir (real file system, as root)', () => {
  const fsys = realSystemFs(realRunner);
  let base: string;
  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error('these tests create root-owned dirs: run them as root');
    // /run: root-owned 0755 like the parent of sshd's real privsep dir (/tmp is 1777 and refused below).
    base = mkdtempSync('/run/iak-rtd-');
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('creates the dir root-owned with mode 0755 whatever the umask', async () => {
    const old = process.umask(0o077);
    try {
      await fsys.createRuntimeDir(join(base, 'sshd'));
    } finally {
      process.umask(old);
    }
    const st = statSync(join(base, 'sshd'));
    expect([st.isDirectory(), st.uid, st.gid, st.mode & 0o7777]).toEqual([true, 0, 0, 0o755]);
  });

  it('refuses under a parent others can write (e.g. /tmp), and a relative path', async () => {
    const tmp = mkdtempSync('/tmp/iak-rtd-');
    try {
      await expect(fsys.createRuntimeDir(join(tmp, 'sshd'))).rejects.toThrow(
        /\/tmp is group- or world-writable/,
      );
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    await expect(fsys.createRuntimeDir('run/sshd')).rejects.toThrow(/not an absolute path/);
  });

  it('fails on a path that exists as a file', async () => {
    writeFileSync(join(base, 'file'), '');
    await expect(fsys.createRuntimeDir(join(base, 'file'))).rejects.toThrow(/EEXIST/);
  });
});
