import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../../dev/wait.js';
import {
  ensurePrivateDirAs,
  findOwnedFile,
  processesOf,
  realRunner,
  realSystemFs,
  writeFileAtomic,
} from '../../../../host-agent/admin/sys.js';

describe('realSystemFs.listMatches (real directory, the glob install uses)', () => {
  const fsys = realSystemFs(realRunner);
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iak-glob-'));
    for (const f of [
      '60-a.conf',
      '61-b.conf',
      '60-a.conf.bak',
      'x.conf',
      '.h.conf',
      'a+b.conf',
      'aXb.conf',
    ]) {
      writeFileSync(join(dir, f), '');
    }
    mkdirSync(join(dir, 'sub.conf'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['*.conf', ['.h.conf', '60-a.conf', '61-b.conf', 'a+b.conf', 'aXb.conf', 'sub.conf', 'x.conf']],
    ['6?-*.conf', ['60-a.conf', '61-b.conf']],
    ['a+b.conf', ['a+b.conf']],
    ['a?b.conf', ['a+b.conf', 'aXb.conf']],
    ['60-a.conf', ['60-a.conf']],
  ])('%s', async (pattern, names) => {
    expect(await fsys.listMatches(join(dir, pattern))).toEqual(names.map((n) => join(dir, n)));
  });

  it('a missing directory matches nothing', async () => {
    expect(await fsys.listMatches(join(dir, 'nope', '*.conf'))).toEqual([]);
  });
});

describe('realSystemFs.ensurePrivateDir (real file system, as root)', () => {
  const fsys = realSystemFs(realRunner);
  let base: string;
  beforeAll(() => {
    if (process.getuid?.() !== 0) throw new Error('these tests chown: run them as root');
    base = mkdtempSync(join(tmpdir(), 'iak-epd-'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('refuses an existing non-empty directory owned by someone else, and leaves it as it was', async () => {
    const dir = join(base, 'typo');
    mkdirSync(dir, { mode: 0o755 });
    writeFileSync(join(dir, 'daemon-data'), 'x');
    await expect(fsys.ensurePrivateDir(dir, 'nobody')).rejects.toThrow(
      /is not empty and is not owned by nobody: refusing/,
    );
    const st = statSync(dir);
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o755]);
  });

  it('takes over an empty directory, and keeps one the agent user already owns', async () => {
    const nobody = 65534;
    const empty = join(base, 'empty');
    mkdirSync(empty, { mode: 0o755 });
    expect(await fsys.ensurePrivateDir(empty, 'nobody')).toBe(false);
    expect([statSync(empty).uid, statSync(empty).mode & 0o777]).toEqual([nobody, 0o700]);
    writeFileSync(join(empty, 'entry'), 'x');
    chmodSync(empty, 0o755);
    expect(await fsys.ensurePrivateDir(empty, 'nobody')).toBe(false);
    expect(statSync(empty).mode & 0o777).toBe(0o700);
  });

  it('creates a missing directory 0700', async () => {
    const dir = join(base, 'new', 'cache');
    expect(await fsys.ensurePrivateDir(dir, 'nobody')).toBe(true);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('refuses a path that resolves into a system directory through a symlink', async () => {
    symlinkSync('/usr/local', join(base, 'link'));
    await expect(fsys.ensurePrivateDir(join(base, 'link', 'bin'), 'nobody')).rejects.toThrow(
      /resolves to \/usr\/local\/bin, which is a system directory/,
    );
  });

  it('refuses a short path before looking at it', async () => {
    await expect(fsys.ensurePrivateDir('/var/cache', 'nobody')).rejects.toThrow(
      /fewer than 3 path components/,
    );
  });

  it.each([
    ['owned by another user', 65534, 0o755],
    ['world-writable without the sticky bit', 0, 0o777],
    ['world-writable with the sticky bit (it is the parent: its entries can be swapped)', 0, 0o1777],
    ['group-writable', 0, 0o775],
  ])('refuses a cache dir whose parent is %s, and chowns nothing', async (_what, uid, mode) => {
    const parent = join(base, `p-${uid}-${mode.toString(8)}`);
    const dir = join(parent, 'cache');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chownSync(parent, uid, uid);
    chmodSync(parent, mode);
    await expect(fsys.ensurePrivateDir(dir, 'nobody')).rejects.toThrow(
      /not creating or chowning it: .* (is owned by uid 65534, not root|is writable by group or others)/,
    );
    expect([statSync(dir).uid, statSync(dir).mode & 0o777]).toEqual([0, 0o755]);
  });

  it('refuses to create a cache dir below a missing parent whose existing ancestor another user owns', async () => {
    const theirs = join(base, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, 65534, 65534);
    await expect(fsys.ensurePrivateDir(join(theirs, 'a', 'cache'), 'nobody')).rejects.toThrow(
      /theirs is owned by uid 65534, not root/,
    );
    expect(readdirSync(theirs)).toEqual([]);
  });

  it('accepts a sticky world-writable directory above the parent (/tmp itself)', async () => {
    const sticky = join(base, 'sticky');
    mkdirSync(join(sticky, 'app'), { recursive: true, mode: 0o755 });
    chmodSync(sticky, 0o1777);
    expect(await fsys.ensurePrivateDir(join(sticky, 'app', 'cache'), 'nobody')).toBe(true);
    expect(statSync(join(sticky, 'app', 'cache')).uid).toBe(65534);
  });

  it('a cache dir name that is a symlink (swapped in before the open) is refused; its target keeps owner and mode', async () => {
    const parent = join(base, 'swap');
    const victim = join(base, 'victim');
    mkdirSync(parent, { mode: 0o755 });
    mkdirSync(victim, { mode: 0o755 });
    symlinkSync(victim, join(parent, 'cache'));
    await expect(
      ensurePrivateDirAs(join(parent, 'cache'), 'nobody', { uid: 65534, gid: 65534 }),
    ).rejects.toThrow(/cache dir .*cache: exists and is not a directory/);
    expect([statSync(victim).uid, statSync(victim).mode & 0o777]).toEqual([0, 0o755]);
  });
});

describe('writeFileAtomic (real file system, as root)', () => {
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'iak-wfa-'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('writes the exact mode and owner into a directory only root can change', async () => {
    const f = join(base, 'sudoers-like');
    await writeFileAtomic(f, 'x\n', { mode: 0o440, uid: 0, gid: 0 });
    expect([statSync(f).mode & 0o777, statSync(f).uid]).toEqual([0o440, 0]);
  });

  it.each([
    ['owned by another user', 65534, 0o755],
    ['world-writable, even sticky', 0, 0o1777],
  ])('refuses a directory %s (the temp name could be swapped before the rename)', async (_w, uid, mode) => {
    const dir = join(base, `d-${uid}-${mode.toString(8)}`);
    mkdirSync(dir);
    chownSync(dir, uid, uid);
    chmodSync(dir, mode);
    await expect(writeFileAtomic(join(dir, 'state.json'), '{}', { mode: 0o600 })).rejects.toThrow(
      /not writing .*state\.json: .*(not root|writable by group or others)/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('what the agent user runs and owns (doctor), as root', () => {
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'iak-own-'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('processesOf finds a process running as that uid, with its resolved exe and argv', async () => {
    const child = spawn('/bin/sleep', ['30'], { uid: 65534, gid: 65534, stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const found = (await processesOf(65534)).find((p) => p.pid === child.pid);
      expect(found?.argv).toEqual(['/bin/sleep', '30']);
      expect(found?.exe).toMatch(/\/sleep$/);
      expect((await processesOf(0)).some((p) => p.pid === child.pid)).toBe(false);
    } finally {
      child.kill();
    }
  });

  it('processesOf leaves out a zombie of that uid (it runs nothing; no one has reaped it yet)', async () => {
    // `true` exits at once; its parent execs into sleep, which never reaps it.
    const child = spawn('/bin/sh', ['-c', 'true & exec /bin/sleep 30'], {
      uid: 65534,
      gid: 65534,
      stdio: 'ignore',
    });
    try {
      await new Promise((r) => child.once('spawn', r));
      const zombieOfChild = () =>
        readdirSync('/proc')
          .filter((e) => /^\d+$/.test(e))
          .find((e) => {
            try {
              const st = readFileSync(`/proc/${e}/status`, 'utf8');
              return /^State:\s+Z/m.test(st) && new RegExp(`^PPid:\\s+${child.pid}$`, 'm').test(st);
            } catch {
              return false;
            }
          });
      const zombie = Number(await waitFor(zombieOfChild, { what: 'the zombie child' }));
      const pids = (await processesOf(65534)).map((p) => p.pid);
      expect(pids).toContain(child.pid);
      expect(pids).not.toContain(zombie);
    } finally {
      child.kill();
    }
  });

  it('findOwnedFile finds a file of that uid, but not in the excluded dirs', async () => {
    for (const d of ['cache', 'home', 'elsewhere']) mkdirSync(join(base, d));
    for (const d of ['cache', 'home']) {
      writeFileSync(join(base, d, 'f'), '');
      chownSync(join(base, d, 'f'), 65534, 65534);
    }
    const roots = [base];
    const exclude = [join(base, 'cache'), join(base, 'home')];
    expect(await findOwnedFile(realRunner, 65534, exclude, roots)).toBeUndefined();
    writeFileSync(join(base, 'elsewhere', 'data'), '');
    chownSync(join(base, 'elsewhere', 'data'), 65534, 65534);
    expect(await findOwnedFile(realRunner, 65534, exclude, roots)).toBe(join(base, 'elsewhere', 'data'));
  });
});
