import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realRunner, realSystemFs } from '../../../../host-agent/admin/sys.js';

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
});
