import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentCommandLine,
  DISABLED_MARK,
  defaultPaths,
  flattenConfig,
  InstallRefusedError,
  install,
  type Observed,
  parseSshdConfig,
  parseSshdT,
  planInstall,
  reenableLines,
  renderDropIn,
  rewriteShebang,
  type SysDeps,
  sha256,
  uninstall,
} from '../../../../host-agent/admin/install.js';
import { privsepNote } from '../../../../host-agent/admin/sshd-runtime.js';
import { type ProcessRunner, realRunner, realSystemFs } from '../../../../host-agent/admin/sys.js';
import { globToRegExp, securePathProblems } from '../../../../host-agent/secure-path.js';

const paths = defaultPaths('/');
const DROP = '/etc/ssh/sshd_config.d/60-iam-authorized-keys.conf';
const EIC = '/etc/ssh/sshd_config.d/40-ec2-instance-connect.conf';
const AGENT = Buffer.from('#!/usr/bin/env node\nconsole.log(1)\n');
const opts = {
  paths,
  agentUser: 'iam-authorized-keys',
  source: AGENT,
  nodePath: '/usr/bin/node',
  nologin: '/usr/sbin/nologin',
};
const CONFIG = '{"bucket":"bkt","region":"eu-west-1"}';

function observed(files: Record<string, string>, over: Partial<Observed> = {}): Observed {
  const main = files['/etc/ssh/sshd_config'] ?? '';
  const dropIns = Object.keys(files)
    .filter((f) => f.startsWith('/etc/ssh/sshd_config.d/'))
    .concat(DROP)
    .sort();
  const texts = new Map(Object.entries(files));
  texts.set(DROP, renderDropIn(paths.binPath, paths.configPath, 'iam-authorized-keys'));
  const directives = flattenConfig('/etc/ssh/sshd_config', main, texts, (pat) =>
    dropIns.filter((f) => globToRegExp(pat).test(f)),
  );
  return {
    sshdConfigText: main,
    directives,
    fileTexts: texts,
    agentConfigText: CONFIG,
    agentUserExists: false,
    cacheDirExists: false,
    binaryText: undefined,
    dropInText: undefined,
    state: undefined,
    ...over,
  };
}

const INCLUDE = 'Include /etc/ssh/sshd_config.d/*.conf\n';

describe('sshd config reading', () => {
  it.each([
    ['Port 22\n', [['port', '22']]],
    ['  AuthorizedKeysCommand=/x %u\n# c\n', [['authorizedkeyscommand', '/x %u']]],
    ['A b\nMatch User x\nAuthorizedKeysCommand /y\n', [['a', 'b']]],
  ])('parseSshdConfig(%j)', (text, expected) => {
    expect(parseSshdConfig('/f', text).map((d) => [d.keyword, d.value])).toEqual(expected);
  });

  it.each([
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/60-x.conf', true],
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/sub/60-x.conf', false],
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/60-x.conf.bak', false],
    ['/etc/ssh/sshd_config.d/6?-x.conf', '/etc/ssh/sshd_config.d/60-x.conf', true],
  ])('glob %s matches %s: %s', (pattern, path, expected) => {
    expect(globToRegExp(pattern).test(path)).toBe(expected);
  });

  it('flattens Include in place and resolves relative patterns against the config dir', () => {
    const files = new Map([['/etc/ssh/d/a.conf', 'X 1\n']]);
    const flat = flattenConfig('/etc/ssh/sshd_config', 'A 0\nInclude d/*.conf\nB 2\n', files, (p) =>
      p === '/etc/ssh/d/*.conf' ? ['/etc/ssh/d/a.conf'] : [],
    );
    expect(flat.map((d) => `${d.path}:${d.keyword}`)).toEqual([
      '/etc/ssh/sshd_config:a',
      '/etc/ssh/d/a.conf:x',
      '/etc/ssh/sshd_config:b',
    ]);
  });

  it('parseSshdT keeps the first value of each keyword', () => {
    expect(parseSshdT('authorizedkeyscommand /a %u %f\nport 22\nport 23\n').get('port')).toBe('22');
  });
});

describe('planInstall', () => {
  const kinds = (o: Observed) =>
    planInstall(o, opts).steps.map((s) =>
      s.kind === 'write-file' ? `write ${s.path}` : `${s.kind} ${'user' in s ? s.user : s.path}`,
    );

  it('refuses when sshd_config has no Include covering the drop-in', () => {
    expect(() => planInstall(observed({ '/etc/ssh/sshd_config': 'Port 22\n' }), opts)).toThrow(
      /has no "Include \/etc\/ssh\/sshd_config.d\/\*.conf"/,
    );
  });

  it('refuses an Include that only applies inside a Match block', () => {
    expect(() => planInstall(observed({ '/etc/ssh/sshd_config': `Match User x\n${INCLUDE}` }), opts)).toThrow(
      InstallRefusedError,
    );
  });

  it('refuses without an agent config', () => {
    expect(() =>
      planInstall(observed({ '/etc/ssh/sshd_config': INCLUDE }, { agentConfigText: undefined }), opts),
    ).toThrow(/write the agent config first/);
  });

  it('fresh install: user, binary, cache dir, drop-in; no chain', () => {
    const o = observed({ '/etc/ssh/sshd_config': INCLUDE });
    expect(kinds(o)).toEqual([
      'create-user iam-authorized-keys',
      'write /usr/local/bin/iam-authorized-keys',
      'mkdir-private /var/cache/iam-authorized-keys',
      `write ${DROP}`,
    ]);
    expect(planInstall(o, opts).chain).toBeUndefined();
  });

  it('chains an existing command set after the Include (ours wins without editing the main file)', () => {
    const o = observed({
      '/etc/ssh/sshd_config': `${INCLUDE}AuthorizedKeysCommand /opt/aws/bin/eic_run_authorized_keys %u %f\nAuthorizedKeysCommandUser ec2-instance-connect\n`,
    });
    const plan = planInstall(o, opts);
    expect(plan.chain).toEqual(['/opt/aws/bin/eic_run_authorized_keys', '%u', '%f']);
    expect(plan.notes[0]).toMatch(/was run as ec2-instance-connect/);
    const cfg = plan.steps.find((s) => s.kind === 'write-file' && s.path === paths.configPath);
    expect(cfg && 'content' in cfg && JSON.parse(cfg.content).chain).toEqual(plan.chain);
    expect(plan.steps.some((s) => s.kind === 'write-file' && s.path === '/etc/ssh/sshd_config')).toBe(false);
  });

  it('comments out a command read before our drop-in (an earlier drop-in)', () => {
    const o = observed({
      '/etc/ssh/sshd_config': INCLUDE,
      [EIC]:
        '# eic\nAuthorizedKeysCommand /opt/aws/bin/eic_run_authorized_keys %u %f\nAuthorizedKeysCommandUser ec2-instance-connect\n',
    });
    const step = planInstall(o, opts).steps.find((s) => s.kind === 'write-file' && s.path === EIC);
    expect(step && 'content' in step && step.content).toBe(
      `# eic\n${DISABLED_MARK}AuthorizedKeysCommand /opt/aws/bin/eic_run_authorized_keys %u %f\n${DISABLED_MARK}AuthorizedKeysCommandUser ec2-instance-connect\n`,
    );
    expect(reenableLines(step && 'content' in step ? step.content : '')).toBe(o.fileTexts.get(EIC));
  });

  it('refuses when the config already chains a different command', () => {
    const o = observed(
      { '/etc/ssh/sshd_config': `${INCLUDE}AuthorizedKeysCommand /other %u\n` },
      { agentConfigText: '{"bucket":"bkt","region":"eu-west-1","chain":["/x"]}' },
    );
    expect(() => planInstall(o, opts)).toThrow(/already chains/);
  });

  it('re-install with everything in place only re-checks the cache dir', () => {
    const o = observed(
      { '/etc/ssh/sshd_config': INCLUDE },
      {
        agentUserExists: true,
        binaryText: rewriteShebang(AGENT, '/usr/bin/node'),
        dropInText: renderDropIn(paths.binPath, paths.configPath, 'iam-authorized-keys'),
      },
    );
    expect(kinds(o)).toEqual(['mkdir-private /var/cache/iam-authorized-keys']);
  });

  it.each([
    ['/', /fewer than 3 path components/],
    ['/var/cache', /fewer than 3 path components/],
    ['/var/cache/', /fewer than 3 path components/],
    ['/var/cache/x/../..', /fewer than 3 path components/],
    ['/usr/local/bin', /is a system directory/],
    ['/etc/ssh/sshd_config.d/', /is a system directory/],
    ['/proc/self/cwd', /is a system directory/],
    ['var/cache/iak', /cache.dir must be an absolute path/],
  ])('refuses cache.dir %j (install would chown it to the agent user)', (dir, why) => {
    const o = observed(
      { '/etc/ssh/sshd_config': INCLUDE },
      { agentConfigText: JSON.stringify({ bucket: 'bkt', region: 'eu-west-1', cache: { dir } }) },
    );
    expect(() => planInstall(o, opts)).toThrow(InstallRefusedError);
    expect(() => planInstall(o, opts)).toThrow(why);
  });

  it('validates the config with the login path parser (a typo is refused, not skipped)', () => {
    const o = observed(
      { '/etc/ssh/sshd_config': INCLUDE },
      { agentConfigText: '{"bucket":"bkt","region":"eu-west-1","cach":{"dir":"/"}}' },
    );
    expect(() => planInstall(o, opts)).toThrow(/unknown setting "cach"/);
  });

  it('uses a valid dedicated cache.dir', () => {
    const o = observed(
      { '/etc/ssh/sshd_config': INCLUDE },
      { agentConfigText: '{"bucket":"bkt","region":"eu-west-1","cache":{"dir":"/srv/iak/cache"}}' },
    );
    expect(planInstall(o, opts).cacheDir).toBe('/srv/iak/cache');
  });

  it('does not chain our own command', () => {
    const o = observed({
      '/etc/ssh/sshd_config': `${INCLUDE}AuthorizedKeysCommand ${paths.binPath} %u %f\n`,
    });
    expect(planInstall(o, opts).chain).toBeUndefined();
  });
});

describe('rendering', () => {
  it('rewriteShebang names the absolute node (sshd runs the command with a minimal PATH)', () => {
    expect(rewriteShebang(AGENT, '/opt/node/bin/node')).toBe('#!/opt/node/bin/node\nconsole.log(1)\n');
    expect(rewriteShebang(Buffer.from('x\n'), '/n')).toBe('#!/n\nx\n');
    expect(() => rewriteShebang(AGENT, 'node')).toThrow(InstallRefusedError);
  });

  it('the drop-in never says PermitUserEnvironment yes, and passes --config only when not the default', () => {
    const d = renderDropIn('/usr/local/bin/iam-authorized-keys', '/etc/iam-authorized-keys.json', 'u');
    expect(d).toMatch(/^PermitUserEnvironment SSH_KEY_OWNER$/m);
    expect(d).toMatch(/^AuthorizedKeysCommand \/usr\/local\/bin\/iam-authorized-keys %u %f$/m);
    expect(d).toMatch(/^ExposeAuthInfo yes$/m);
    expect(d).toMatch(/^LogLevel VERBOSE$/m);
    expect(agentCommandLine('/b', '/c.json')).toBe('/b --config /c.json %u %f');
  });
});

describe('securePathProblems', () => {
  const tree: Record<string, { uid: number; mode: number }> = {
    '/': { uid: 0, mode: 0o755 },
    '/usr': { uid: 0, mode: 0o755 },
    '/usr/bin': { uid: 0, mode: 0o755 },
    '/usr/bin/ok': { uid: 0, mode: 0o755 },
    '/tmp': { uid: 0, mode: 0o1777 },
    '/tmp/x': { uid: 0, mode: 0o755 },
    '/home': { uid: 0, mode: 0o755 },
    '/home/u': { uid: 1000, mode: 0o755 },
    '/home/u/node': { uid: 1000, mode: 0o775 },
  };
  const stat = (p: string) => {
    const t = tree[p];
    return t && { ...t, isDirectory: () => true, isFile: () => false };
  };
  it.each([
    ['/usr/bin/ok', []],
    ['/tmp/x', ['/tmp is group- or world-writable (mode 1777)']],
    [
      '/home/u/node',
      [
        '/home/u/node is owned by uid 1000, not root',
        '/home/u/node is group- or world-writable (mode 775)',
        '/home/u is owned by uid 1000, not root',
      ],
    ],
    ['/usr/bin/missing', ['/usr/bin/missing does not exist']],
  ])('%s', (path, expected) => {
    expect(securePathProblems(path, stat)).toEqual(expected);
  });
});

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
      writeAtomic: async (p, c) => {
        files.set(p, c);
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

/** An in-memory host: files with mode and owner, and a log of every change and command in order. */
function fakeHost(
  initial: Record<string, { text: string; mode: number; gid?: number }>,
  fail: string[] = [],
  /** sshd has never run: its privilege-separation dir is missing until created. */
  opts2: { privsepMissing?: boolean } = {},
) {
  const files = new Map(Object.entries(initial).map(([p, f]) => [p, { uid: 0, gid: 0, ...f }]));
  const log: string[] = [];
  const dirs = new Set<string>(opts2.privsepMissing ? [] : ['/run/sshd']);
  const run: ProcessRunner = async (cmd, args) => {
    const line = [cmd, ...args].join(' ');
    log.push(line);
    if (fail.some((f) => line.startsWith(f))) return { code: 1, stdout: '', stderr: 'failed' };
    if (cmd === paths.sshdBinary && !dirs.has('/run/sshd'))
      return { code: 255, stdout: '', stderr: 'Missing privilege separation directory: /run/sshd\r\n' };
    // sshd -T: our command is in force while our drop-in exists.
    const effective = files.has(DROP)
      ? `authorizedkeyscommand ${agentCommandLine(paths.binPath, paths.configPath)}\nauthorizedkeyscommanduser iam-authorized-keys\n`
      : '';
    return { code: 0, stdout: args[0] === '-T' ? effective : '', stderr: '' };
  };
  const sys: SysDeps = {
    run,
    out: () => {},
    readText: async (p) => files.get(p)?.text,
    writeAtomic: async (p, text, mode, owner) => {
      log.push(`write ${p} ${mode.toString(8)} ${owner ? `${owner.uid}:${owner.gid}` : 'root'}`);
      files.set(p, { text, mode, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0 });
    },
    remove: async (p) => {
      log.push(`rm ${p}`);
      files.delete(p);
    },
    mkdirp: async () => {},
    ensurePrivateDir: async () => false,
    createRuntimeDir: async (p) => {
      log.push(`mkdir ${p}`);
      dirs.add(p);
    },
    removeTree: async (p) => {
      log.push(`rm -r ${p}`);
    },
    listMatches: async (pat) => [...files.keys()].filter((f) => globToRegExp(pat).test(f)).sort(),
    userExists: async () => true,
    dirExists: async () => true,
    stat: (p) => {
      const f = files.get(p);
      if (f)
        return {
          uid: f.uid,
          gid: f.gid,
          mode: 0o100000 | f.mode,
          isDirectory: () => false,
          isFile: () => true,
        };
      return { uid: 0, mode: 0o40755, isDirectory: () => true, isFile: () => false };
    },
  };
  return { files, log, sys, fail, dirs };
}

describe('install and uninstall keep sshd files as they were (mode, owner) and uninstall in a safe order', () => {
  const EIC_TEXT = 'AuthorizedKeysCommand /opt/aws/bin/eic_run_authorized_keys %u %f\n';
  const host = () =>
    fakeHost({
      '/etc/ssh/sshd_config': { text: INCLUDE, mode: 0o600 },
      [EIC]: { text: EIC_TEXT, mode: 0o600, gid: 42 },
      [paths.configPath]: { text: CONFIG, mode: 0o640, gid: 7 },
    });
  const installed = async (fail: string[] = []) => {
    const h = host();
    expect((await install(opts, h.sys, false)).code).toBe(0);
    h.fail.push(...fail);
    return h;
  };

  it('install rewrites a 0600 sshd file as 0600 with its owner; new files get their own mode, root', async () => {
    const h = host();
    expect((await install(opts, h.sys, false)).code).toBe(0);
    expect(h.files.get(EIC)).toMatchObject({ mode: 0o600, uid: 0, gid: 42 });
    expect(h.files.get(EIC)?.text).toContain(DISABLED_MARK);
    expect(h.files.get(paths.configPath)).toMatchObject({ mode: 0o640, gid: 7 });
    expect(h.files.get(DROP)).toMatchObject({ mode: 0o644, uid: 0, gid: 0 });
    expect(h.files.get(paths.binPath)).toMatchObject({ mode: 0o755, uid: 0, gid: 0 });
  });

  it('uninstall: sshd files, sshd -t/-T, reload, and only then the binary; modes kept', async () => {
    const h = await installed();
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
      'systemctl reload sshd',
      `rm ${paths.binPath}`,
      `write ${paths.configPath}`,
      `rm ${paths.stateFile}`,
    ]);
    expect(h.files.get(EIC)).toMatchObject({ text: EIC_TEXT, mode: 0o600, gid: 42 });
    expect(h.files.get(paths.configPath)).toMatchObject({ mode: 0o640, gid: 7 });
    expect(JSON.parse(h.files.get(paths.configPath)?.text ?? '')).toEqual(JSON.parse(CONFIG));
  });

  it('a failed reload keeps the binary and the state file (sshd still runs the command until reloaded)', async () => {
    const h = await installed(['systemctl reload']);
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
    const h = await installed([`${paths.sshdBinary} -t`]);
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
    const h = await installed();
    const state = JSON.parse(h.files.get(paths.stateFile)?.text ?? '{}');
    expect(state.files.find((f: { path: string }) => f.path === EIC).written).toBe(
      sha256(h.files.get(EIC)?.text ?? ''),
    );
  });
});
