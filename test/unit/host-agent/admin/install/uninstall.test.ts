import { describe, expect, it } from 'vitest';
import { install } from '../../../../../host-agent/admin/install/apply.js';
import { uninstall } from '../../../../../host-agent/admin/install/uninstall.js';
import { privsepNote } from '../../../../../host-agent/admin/sshd-runtime.js';
import type { ProcessRunner } from '../../../../../host-agent/admin/sys.js';
import { CONFIG, DROP, EIC, EIC_TEXT, fakeHost, INCLUDE, installedHost, opts, paths } from './fixtures.js';

describe('uninstall keeps sshd files as they were (mode, owner) and goes in a safe order', () => {
  it('uninstall: sshd files, sshd -t/-T, reload, and only then the binary; modes kept', async () => {
    const h = await installedHost();
    const log: string[] = [];
    const run: ProcessRunner = async (cmd, args) => {
      log.push([cmd, ...args].join(' '));
      return { code: 0, stdout: '', stderr: '' };
    };
    const sys = { ...h.sys, run };
    const wrap =
      <A extends unknown[]>(name: string, f: (...a: A) => Promise<void>) =>
      async (...a: A) => {
        log.push(`${name} ${a[0]}`);
        await f(...a);
      };
    const code = await uninstall(
      paths,
      { ...sys, writeAtomic: wrap('write', sys.writeAtomic), remove: wrap('rm', sys.remove) },
      false,
    );
    expect(code).toBe(0);
    expect(log).toEqual([
      `write ${EIC}`,
      `rm ${DROP}`,
      `${paths.sshdBinary} -t -f ${paths.sshdConfig}`,
      `${paths.sshdBinary} -T -f ${paths.sshdConfig}`,
      'systemctl try-reload-or-restart sshd',
      `rm ${paths.binPath}`,
      `write ${paths.configPath}`,
      'userdel iam-authorized-keys', // install created it
      `rm ${paths.stateFile}`,
    ]);
    expect(h.files.get(EIC)).toMatchObject({ text: EIC_TEXT, mode: 0o600, gid: 42 });
    expect(h.files.get(paths.configPath)).toMatchObject({ mode: 0o640, gid: 7 });
    expect(JSON.parse(h.files.get(paths.configPath)?.text ?? '')).toEqual(JSON.parse(CONFIG));
  });

  it('a failed reload keeps the binary and the state file (sshd still runs the command until reloaded)', async () => {
    const h = await installedHost(['systemctl try-reload-or-restart']);
    expect(await uninstall(paths, h.sys, false)).toBe(1);
    expect(h.files.has(DROP)).toBe(false);
    expect(h.files.get(EIC)?.text).toBe(EIC_TEXT);
    expect(h.files.has(paths.binPath)).toBe(true);
    expect(h.files.has(paths.stateFile)).toBe(true);
    // Run again once sshd reloads: finishes the job.
    h.fail.length = 0;
    expect(await uninstall(paths, h.sys, false)).toBe(0);
    expect(h.files.has(paths.binPath)).toBe(false);
    expect(h.files.has(paths.stateFile)).toBe(false);
  });

  it('a failed sshd check puts the sshd files back and removes nothing else', async () => {
    const h = await installedHost([`${paths.sshdBinary} -t`]);
    const before = new Map([...h.files].map(([p, f]) => [p, f.text]));
    expect(await uninstall(paths, h.sys, false)).toBe(1);
    expect(new Map([...h.files].map(([p, f]) => [p, f.text]))).toEqual(before);
    expect(h.files.get(EIC)).toMatchObject({ mode: 0o600, gid: 42 });
  });

  it('on a host where sshd never ran: creates its privilege-separation dir once, says so, installs and uninstalls', async () => {
    const h = fakeHost(
      {
        '/etc/ssh/sshd_config': { text: INCLUDE, mode: 0o644 },
        [paths.configPath]: { text: CONFIG, mode: 0o644 },
      },
      [],
      { privsepMissing: true },
    );
    const out: string[] = [];
    expect((await install(opts, { ...h.sys, out: (l) => out.push(l) }, false)).code).toBe(0);
    expect(h.log.filter((l) => l.startsWith('mkdir'))).toEqual(['mkdir /run/sshd']);
    expect(out).toContain(privsepNote('/run/sshd'));
    expect(out.at(-1)).toMatch(/reloaded sshd/);
    h.dirs.clear(); // a reboot empties /run
    out.length = 0;
    expect(await uninstall(paths, { ...h.sys, out: (l) => out.push(l) }, false)).toBe(0);
    expect(out).toContain(privsepNote('/run/sshd'));
    expect(h.files.has(DROP)).toBe(false);
  });
});

describe('uninstall when sshd itself is gone', () => {
  it('restores the files and finishes without checking or reloading sshd', async () => {
    const h = await installedHost([], true);
    const log: string[] = [];
    const out: string[] = [];
    const sys = {
      ...h.sys,
      run: (async (cmd, args) => {
        log.push([cmd, ...args].join(' '));
        return { code: 127, stdout: '', stderr: `spawn ${cmd} ENOENT` };
      }) as ProcessRunner,
      stat: (p: string) => (p === paths.sshdBinary ? undefined : h.sys.stat(p)),
      out: (l: string) => out.push(l),
    };
    expect(await uninstall(paths, sys, false)).toBe(0);
    expect(log.filter((l) => l.startsWith(paths.sshdBinary) || l.startsWith('systemctl'))).toEqual([]);
    expect(out).toContain(`${paths.sshdBinary} is not installed: nothing to check or reload`);
    expect(h.files.get(EIC)?.text).toBe(EIC_TEXT);
    expect(h.files.has(DROP)).toBe(false);
    expect(h.files.has(paths.binPath)).toBe(false);
  });
});
