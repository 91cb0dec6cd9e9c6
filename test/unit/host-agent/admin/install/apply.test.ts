import { describe, expect, it } from 'vitest';
import { install } from '../../../../../host-agent/admin/install/apply.js';
import { DISABLED_MARK, type SysDeps, sha256 } from '../../../../../host-agent/admin/install/plan.js';
import type { ProcessRunner } from '../../../../../host-agent/admin/sys.js';
import { CONFIG, DROP, EIC, eicHost, fakeHost, INCLUDE, installedHost, opts, paths } from './fixtures.js';

describe('install executor', () => {
  it('creates the system user without shell or home, and rolls it back when sshd -t fails', async () => {
    const calls: string[] = [];
    const files = new Map<string, string>([
      ['/etc/ssh/sshd_config', INCLUDE],
      [paths.configPath, CONFIG],
    ]);
    const run: ProcessRunner = async (cmd, args) => {
      calls.push([cmd, ...args].join(' '));
      if (cmd === paths.sshdBinary && args[0] === '-t')
        return { code: 255, stdout: '', stderr: 'line 3: Bad option' };
      return { code: 0, stdout: '', stderr: '' };
    };
    const out: string[] = [];
    const sys: SysDeps = {
      run,
      out: (l) => out.push(l),
      readText: async (p) => files.get(p),
      readBytes: async (p) => {
        const t = files.get(p);
        return t === undefined ? undefined : Buffer.from(t);
      },
      writeAtomic: async (p, c) => {
        files.set(p, c.toString());
      },
      remove: async (p) => {
        files.delete(p);
      },
      mkdirp: async () => {},
      ensurePrivateDir: async () => true,
      createRuntimeDir: async () => {
        throw new Error('not expected');
      },
      removeTree: async (p) => {
        calls.push(`rm -r ${p}`);
      },
      listMatches: async () => [],
      userExists: async () => false,
      dirExists: async () => false,
      stat: () => ({ uid: 0, mode: 0o755, isDirectory: () => true, isFile: () => true }),
    };
    const before = new Map(files);
    const r = await install(opts, sys, false);
    expect(r.code).toBe(1);
    expect(calls[0]).toBe(
      'useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin iam-authorized-keys',
    );
    expect(calls).toContain('rm -r /var/cache/iam-authorized-keys');
    expect(calls.at(-1)).toBe('userdel iam-authorized-keys');
    expect(files).toEqual(before);
    expect(out.at(-1)).toMatch(
      /FAIL: sshd -t rejected the configuration: line 3: Bad option; every change was rolled back/,
    );
  });
});

describe('install checks what sshd -T says for the audit settings', () => {
  // Values from where the plan cannot see them (sshd's -o options, a Match-free file sshd reads that we did not).
  it.each([
    [
      'loglevel SILENT',
      /FAIL: sshd -T: LogLevel is SILENT: sshd would not log .*; every change was rolled back/,
    ],
    ['loglevel ERROR', /LogLevel is ERROR/],
    [
      'permituserenvironment yes',
      /FAIL: sshd -T: PermitUserEnvironment is yes: users could set other variables/,
    ],
  ])('%s: refused, every change rolled back', async (line, want) => {
    const h = eicHost();
    const before = new Map(h.files);
    const out: string[] = [];
    const run: ProcessRunner = async (cmd, args) => {
      const r = await h.sys.run(cmd, args);
      return cmd === paths.sshdBinary && args[0] === '-T' ? { ...r, stdout: `${r.stdout}${line}\n` } : r;
    };
    const r = await install(opts, { ...h.sys, run, out: (l) => out.push(l) }, false);
    expect(r.code).toBe(1);
    expect(out.at(-1)).toMatch(want);
    expect(h.files).toEqual(before);
  });

  it('accepts what the drop-in sets (and INFO, and PermitUserEnvironment no)', async () => {
    for (const extra of [
      'permituserenvironment SSH_KEY_OWNER\nloglevel VERBOSE\n',
      'permituserenvironment no\nloglevel INFO\n',
    ]) {
      const h = eicHost();
      const run: ProcessRunner = async (cmd, args) => {
        const r = await h.sys.run(cmd, args);
        return cmd === paths.sshdBinary && args[0] === '-T' ? { ...r, stdout: `${r.stdout}${extra}` } : r;
      };
      expect((await install(opts, { ...h.sys, run }, false)).code).toBe(0);
    }
  });
});

describe('install keeps sshd files as they were (mode, owner)', () => {
  it('install rewrites a 0600 sshd file as 0600 with its owner; new files get their own mode, root', async () => {
    const h = eicHost();
    expect((await install(opts, h.sys, false)).code).toBe(0);
    expect(h.files.get(EIC)).toMatchObject({ mode: 0o600, uid: 0, gid: 42 });
    expect(h.files.get(EIC)?.text).toContain(DISABLED_MARK);
    expect(h.files.get(paths.configPath)).toMatchObject({ mode: 0o640, gid: 7 });
    expect(h.files.get(DROP)).toMatchObject({ mode: 0o644, uid: 0, gid: 0 });
    expect(h.files.get(paths.binPath)).toMatchObject({ mode: 0o755, uid: 0, gid: 0 });
  });

  it('a privilege-separation dir that cannot be created fails the check and rolls back', async () => {
    const h = fakeHost(
      {
        '/etc/ssh/sshd_config': { text: INCLUDE, mode: 0o644 },
        [paths.configPath]: { text: CONFIG, mode: 0o644 },
      },
      [],
      { privsepMissing: true },
    );
    const out: string[] = [];
    const sys: SysDeps = {
      ...h.sys,
      out: (l) => out.push(l),
      createRuntimeDir: async () => {
        throw new Error('/run is read-only');
      },
    };
    expect((await install(opts, sys, false)).code).toBe(1);
    expect(out.at(-1)).toMatch(
      /FAIL: sshd -t rejected the configuration: Missing privilege separation directory: \/run\/sshd \(creating \/run\/sshd failed: \/run is read-only\); every change was rolled back/,
    );
    expect(h.files.has(DROP)).toBe(false);
    expect(h.files.has(paths.binPath)).toBe(false);
  });

  it('records what install wrote', async () => {
    const h = await installedHost();
    const state = JSON.parse(h.files.get(paths.stateFile)?.text ?? '{}');
    expect(state.files.find((f: { path: string }) => f.path === EIC).written).toBe(
      sha256(h.files.get(EIC)?.text ?? ''),
    );
  });
});
