// The OS packages of `npm run package`: the .deb installed for real with dpkg
// on this machine (root, as CI runs), then `iam-authorized-keys install`, real
// ssh logins through the packaged standalone binary, and `dpkg -r` / `-P`
// putting sshd's configuration back byte for byte; the .rpm's contents,
// requirements and scripts, and an install into a scratch rpm root.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, createAgentUser, createBucket, iamUserWithKey, publish, RUN_TAG } from '../../dev/host.js';
import { type Moto, startMoto, TEST_REGION } from '../../dev/moto.js';
import {
  type ClientKey,
  createLocalUser,
  makeClientKey,
  makeTrustedDir,
  removeDir,
  removeLocalUser,
  requireSshd,
  type Sshd,
  sshLogin,
  startSshd,
} from '../../dev/sshd.js';
import { type SyslogSink, startSyslogSink } from '../../dev/syslog-sink.js';
import { isStandaloneExecutable } from '../../host-agent/admin/install/plan.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const DEB = join(
  ROOT,
  `dist/iam-authorized-keys_${VERSION}_${process.arch === 'arm64' ? 'arm64' : 'amd64'}.deb`,
);
const RPM = (arch: string) => join(ROOT, `dist/iam-authorized-keys-${VERSION}-1.${arch}.rpm`);
const CONFIG = '/etc/iam-authorized-keys.json';
const BIN = '/usr/bin/iam-authorized-keys';
const AGENT_USER = 'iam-authorized-keys';
const BUCKET = 'e2e-package-keys';
const LOCAL = `iake2e-pk-${RUN_TAG}`;
/** Says that the package and config on this machine are this test's (so a later run may clean them up). */
const OWNER_MARK = '/var/lib/iak-e2e-package.owner';

/** Every file under /etc/ssh, with its bytes: what dpkg -r must give back. */
function snapshotSsh(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.set(p, readFileSync(p).toString('base64'));
    }
  };
  walk('/etc/ssh');
  return out;
}

const sh = (cmd: string, args: string[]) =>
  run(cmd, args, { env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', DEBIAN_FRONTEND: 'noninteractive' } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

/** dpkg-query's format field (a literal ${...} for dpkg, not for JavaScript). */
const DPKG_STATUS = ['$', '{Status}'].join('');

const dpkgInstalled = () =>
  spawnSync('dpkg-query', ['-W', `-f=${DPKG_STATUS}`, 'iam-authorized-keys'], {
    encoding: 'utf8',
  }).stdout.includes('install ok installed');

beforeAll(() => {
  // Built once here (its figures are in docs/host-agent-binary.md); the binaries come from global setup's build.
  const t0 = Date.now();
  execFileSync(process.execPath, [join(ROOT, 'scripts/package.mjs')], { cwd: ROOT, stdio: 'ignore' });
  console.log(`npm run package (packages only): ${Date.now() - t0} ms`);
}, 180_000);

describe('the .deb, installed for real', () => {
  let moto: Moto;
  let dir: string;
  let sshd: Sshd | undefined;
  let syslog: SyslogSink;
  let alice: ClientKey;
  let bob: ClientKey;
  let before: Map<string, string>;

  const writeAgentConfig = () =>
    writeFileSync(
      CONFIG,
      `${JSON.stringify({
        bucket: BUCKET,
        region: TEST_REGION,
        endpoint: moto.endpoint,
        users: { [LOCAL]: ['users/alice'] },
        syslogSocket: syslog.socket,
      })}\n`,
      { mode: 0o644 },
    );

  beforeAll(async () => {
    requireSshd();
    // This test owns the machine's real paths for a while: never over someone's real install. What an
    // earlier run of this test left behind (a run cut short) carries its marker and is cleaned up first.
    if (existsSync('/run/systemd/system')) {
      // The package's scripts would reload this machine's running sshd with the test's configuration.
      throw new Error(
        'test/e2e/package.test.ts installs the .deb for real: run it on a throwaway machine without a running systemd (as CI does)',
      );
    }
    if (existsSync(OWNER_MARK)) {
      if (dpkgInstalled()) await sh('dpkg', ['--purge', 'iam-authorized-keys']);
      rmSync(CONFIG, { force: true });
      rmSync('/var/lib/iam-authorized-keys', { recursive: true, force: true });
    } else {
      const found = [
        dpkgInstalled() ? 'the iam-authorized-keys package' : '',
        ...[
          CONFIG,
          '/var/lib/iam-authorized-keys/install.json',
          '/etc/ssh/sshd_config.d/60-iam-authorized-keys.conf',
        ].filter((f) => existsSync(f)),
        spawnSync('getent', ['passwd', AGENT_USER]).status === 0 ? `the user ${AGENT_USER}` : '',
      ].filter(Boolean);
      if (found.length > 0) {
        throw new Error(
          `iam-authorized-keys is installed here (${found.join(', ')}): refusing to replace it`,
        );
      }
    }
    writeFileSync(OWNER_MARK, `${process.pid}\n`);
    moto = await startMoto();
    dir = makeTrustedDir('package');
    const keys = join(dir, 'keys');
    mkdirSync(keys, { mode: 0o700 });
    alice = makeClientKey(keys, 'alice');
    bob = makeClientKey(keys, 'bob');
    await createBucket(moto, BUCKET);
    await iamUserWithKey(moto, 'alice', alice.openssh, []);
    await iamUserWithKey(moto, 'bob', bob.openssh, []);
    await publish(await buildCli(), moto, BUCKET);
    createLocalUser(LOCAL);
    // The agent user with credentials for moto in its home (sshd gives the command no AWS_* variables);
    // install keeps an existing user, and uninstall leaves a user it did not create.
    await createAgentUser(AGENT_USER, join(dir, 'agent-home'));
    syslog = await startSyslogSink(dir);
    before = snapshotSsh();
  });

  afterAll(async () => {
    await sshd?.stop();
    if (dpkgInstalled()) await sh('dpkg', ['--purge', 'iam-authorized-keys']);
    rmSync(CONFIG, { force: true });
    rmSync(OWNER_MARK, { force: true });
    syslog?.stop();
    await moto?.stop();
    removeLocalUser(LOCAL);
    removeLocalUser(AGENT_USER);
    if (dir) removeDir(dir);
  });

  it('declares no Node.js (or any) dependency and holds the standalone binary, units, man page, example', async () => {
    const info = (await sh('dpkg-deb', ['-f', DEB])).stdout;
    expect(info).not.toMatch(/^(Pre-)?Depends:/m);
    expect(info).not.toMatch(/node/i);
    const files = (await sh('dpkg-deb', ['-c', DEB])).stdout;
    for (const f of [
      './usr/bin/iam-authorized-keys',
      './usr/lib/systemd/system/iam-authorized-keys-sessions.service',
      './usr/lib/systemd/system/iam-authorized-keys-sessions.timer',
      './usr/lib/systemd/system/iam-authorized-keys-sync-users.service',
      './usr/lib/systemd/system/iam-authorized-keys-sync-users.timer',
      './usr/lib/systemd/system/iam-authorized-keys-ship-audit.service',
      './usr/lib/systemd/system/iam-authorized-keys-ship-audit.timer',
      './usr/share/man/man8/iam-authorized-keys.8.gz',
      './usr/share/doc/iam-authorized-keys/examples/iam-authorized-keys.json',
    ])
      expect(files).toContain(f);
    expect(files).toMatch(/^-rwxr-xr-x root\/root .* \.\/usr\/bin\/iam-authorized-keys$/m);
  });

  it('dpkg -i without an agent config leaves sshd alone and says what to do', async () => {
    const r = await sh('dpkg', ['-i', DEB]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/sshd is not configured yet\. Write \/etc\/iam-authorized-keys\.json/);
    expect(snapshotSsh()).toEqual(before);
    expect(isStandaloneExecutable(readFileSync(BIN))).toBe(true);
    expect(statSync(BIN).mode & 0o7777).toBe(0o755);
    // The units are valid as shipped (not enabled: no symlink in any .wants directory).
    const v = await sh('systemd-analyze', [
      'verify',
      '--man=no',
      '/usr/lib/systemd/system/iam-authorized-keys-sessions.service',
      '/usr/lib/systemd/system/iam-authorized-keys-sessions.timer',
      '/usr/lib/systemd/system/iam-authorized-keys-sync-users.service',
      '/usr/lib/systemd/system/iam-authorized-keys-sync-users.timer',
      '/usr/lib/systemd/system/iam-authorized-keys-ship-audit.service',
      '/usr/lib/systemd/system/iam-authorized-keys-ship-audit.timer',
    ]);
    expect(v.stderr).toBe('');
    expect(existsSync('/etc/systemd/system/timers.target.wants/iam-authorized-keys-sync-users.timer')).toBe(
      false,
    );
  });

  it('iam-authorized-keys install runs the packaged binary in place; real logins go through it', async () => {
    writeAgentConfig();
    // The test made the agent user (credentials for moto in its home): install did not create it.
    const r = await sh(BIN, ['install', '--no-reload', '--agent-user-shared-ok']);
    expect(r.stderr).toBe('');
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).not.toMatch(/agent binary/); // nothing copied to /usr/local/bin
    expect(existsSync('/usr/local/bin/iam-authorized-keys')).toBe(false);
    expect(readFileSync('/etc/ssh/sshd_config.d/60-iam-authorized-keys.conf', 'utf8')).toContain(
      `AuthorizedKeysCommand ${BIN} -- %u %f\n`,
    );
    sshd = await startSshd({
      dir,
      configPath: '/etc/ssh/sshd_config',
      // The machine's own sshd_config (with our drop-in), on loopback, as the other e2e tests run sshd.
      options: ['ListenAddress=127.0.0.1', 'UsePAM=no'],
    });
    expect((await sshLogin(sshd.port, LOCAL, alice)).code).toBe(0);
    expect((await sshLogin(sshd.port, LOCAL, bob)).code).toBe(255);
    expect(sshd.log()).toMatch(
      new RegExp(`Accepted publickey for ${LOCAL} .* ED25519 ${alice.fingerprint.replace(/[+/]/g, '.')}`),
    );
    await sshd.stop();
    sshd = undefined;
  });

  it('dpkg -r runs uninstall: sshd configuration back byte for byte; -P removes cache and state', async () => {
    const r = await sh('dpkg', ['-r', 'iam-authorized-keys']);
    expect(r.code, r.stderr).toBe(0);
    expect(snapshotSsh()).toEqual(before);
    expect(existsSync(BIN)).toBe(false);
    expect(existsSync('/var/lib/iam-authorized-keys/install.json')).toBe(false);
    const p = await sh('dpkg', ['-P', 'iam-authorized-keys']);
    expect(p.code, p.stderr).toBe(0);
    expect(existsSync('/var/cache/iam-authorized-keys')).toBe(false);
    expect(existsSync('/var/lib/iam-authorized-keys')).toBe(false);
  });

  it('with the config written first and an agent user it did not create, dpkg -i leaves sshd alone and says why', async () => {
    const r = await sh('dpkg', ['-i', DEB]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/agent user iam-authorized-keys already exists and install did not create it/);
    expect(snapshotSsh()).toEqual(before);
    expect((await sh('dpkg', ['-P', 'iam-authorized-keys'])).code).toBe(0);
  });

  it('with the config written first, dpkg -i configures sshd itself, and -P undoes it', async () => {
    // No agent user yet (as on a new host): install creates it, and -P removes it again.
    removeLocalUser(AGENT_USER);
    const r = await sh('dpkg', ['-i', DEB]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /sshd configuration checked \(sshd -t, sshd -T\): AuthorizedKeysCommand is \/usr\/bin\/iam-authorized-keys/,
    );
    expect(existsSync('/etc/ssh/sshd_config.d/60-iam-authorized-keys.conf')).toBe(true);
    expect((await sh('dpkg', ['-P', 'iam-authorized-keys'])).code).toBe(0);
    expect(snapshotSsh()).toEqual(before);
    expect(spawnSync('getent', ['passwd', AGENT_USER]).status).not.toBe(0);
  });
});

describe('the .deb and an install it did not make', () => {
  const STATE = '/var/lib/iam-authorized-keys/install.json';
  beforeAll(() => {
    // Runs after the suite above; the same marker says these leftovers are a test's.
    writeFileSync(OWNER_MARK, `${process.pid}\n`);
  });
  afterAll(async () => {
    if (dpkgInstalled()) await sh('dpkg', ['--purge', 'iam-authorized-keys']);
    rmSync('/var/lib/iam-authorized-keys', { recursive: true, force: true });
    rmSync(OWNER_MARK, { force: true });
  });

  it('dpkg -r and -P leave an install of another copy of the agent (state, cache) as it is', async () => {
    rmSync(CONFIG, { force: true });
    expect((await sh('dpkg', ['-i', DEB])).code).toBe(0);
    // What `install` run from a copy in /usr/local/bin records (sshd runs that copy, not the package's).
    const foreign = `${JSON.stringify(
      {
        version: 1,
        agentUser: 'ops-keys',
        createdUser: false,
        cacheDir: '/var/cache/iam-authorized-keys',
        createdCacheDir: false,
        files: [],
        binPath: '/usr/local/bin/iam-authorized-keys',
        configPath: CONFIG,
      },
      null,
      2,
    )}\n`;
    mkdirSync('/var/lib/iam-authorized-keys', { recursive: true, mode: 0o755 });
    writeFileSync(STATE, foreign, { mode: 0o600 });
    const r = await sh('dpkg', ['-r', 'iam-authorized-keys']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/records an install of another copy of the agent: left as it is/);
    const p = await sh('dpkg', ['-P', 'iam-authorized-keys']);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stderr).toMatch(/install\.json remains \(another install\): not purging/);
    expect(readFileSync(STATE, 'utf8')).toBe(foreign);
  });
});

describe('the .rpm packages', () => {
  it.each(['x86_64', 'aarch64'])('%s: contents, requirements (no node) and scripts', async (arch) => {
    const files = (await sh('rpm', ['-qpl', RPM(arch)])).stdout.trim().split('\n');
    expect(files).toEqual([
      '/usr/bin/iam-authorized-keys',
      '/usr/lib/systemd/system/iam-authorized-keys-sessions.service',
      '/usr/lib/systemd/system/iam-authorized-keys-sessions.timer',
      '/usr/lib/systemd/system/iam-authorized-keys-ship-audit.service',
      '/usr/lib/systemd/system/iam-authorized-keys-ship-audit.timer',
      '/usr/lib/systemd/system/iam-authorized-keys-sync-users.service',
      '/usr/lib/systemd/system/iam-authorized-keys-sync-users.timer',
      '/usr/share/doc/iam-authorized-keys',
      '/usr/share/doc/iam-authorized-keys/examples',
      '/usr/share/doc/iam-authorized-keys/examples/iam-authorized-keys.json',
      '/usr/share/man/man8/iam-authorized-keys.8.gz',
      '/usr/share/selinux/packages/iam_authorized_keys.pp',
    ]);
    const requires = (await sh('rpm', ['-qpR', RPM(arch)])).stdout;
    expect(requires).not.toMatch(/node/i);
    expect(requires.split('\n').filter((l) => l && !l.startsWith('rpmlib(') && l !== '/bin/sh')).toEqual([]);
    expect((await sh('rpm', ['-qp', '--qf', '%{ARCH}', RPM(arch)])).stdout).toBe(arch);
    const scripts = (await sh('rpm', ['-qp', '--scripts', RPM(arch)])).stdout;
    expect(scripts).toMatch(/BIN=\/usr\/bin\/iam-authorized-keys\n/);
    expect(scripts).toMatch(/postinstall scriptlet[\s\S]*"\$BIN" install --no-reload/);
    expect(scripts).toMatch(
      /preuninstall scriptlet[\s\S]*if \[ "\$1" -eq 0 \]; then[\s\S]*"\$BIN" uninstall --no-reload/,
    );
    expect(scripts).toMatch(
      /postuninstall scriptlet[\s\S]*rm -rf \/var\/cache\/iam-authorized-keys \/var\/lib\/iam-authorized-keys/,
    );
    // SELinux: module loaded and binary labelled before install runs, directories labelled after it;
    // removed in %postun on erase only.
    expect(scripts).toMatch(
      /postinstall scriptlet[\s\S]*semodule -i "\$SELINUX_MODULE"[\s\S]*restorecon -F "\$BIN"[\s\S]*"\$BIN" install --no-reload[\s\S]*restorecon -RF "\$dir"[\s\S]*preuninstall scriptlet/,
    );
    expect(scripts).toMatch(
      /postuninstall scriptlet[\s\S]*if \[ "\$1" -eq 0 \] && [^\n]*\n\s*semodule -r iam_authorized_keys/,
    );
  });

  describe('SELinux scriptlets (run from the .rpm, paths moved under a scratch root; stub SELinux tools log their calls)', () => {
    /** The scriptlet as rpm would run it, with every path it touches moved under `root`. */
    const scriptlet = async (tag: 'POSTIN' | 'POSTUN', root: string) => {
      let text = (await sh('rpm', ['-qp', '--qf', `%{${tag}}`, RPM('x86_64')])).stdout;
      for (const p of [
        '/usr/bin/iam-authorized-keys',
        '/etc/iam-authorized-keys.json',
        '/var/cache/iam-authorized-keys',
        '/var/lib/iam-authorized-keys',
        '/usr/share/selinux/packages',
      ]) {
        text = text.replaceAll(p, `${root}${p}`);
      }
      expect(text).not.toMatch(/[ ="](\/var\/(cache|lib)|\/etc)\/iam-authorized-keys/);
      return text;
    };
    /** selinuxenabled, semodule and restorecon that log their arguments; behaviour from the environment. */
    const stubs = (dir: string) => {
      const stub = (name: string, body: string) =>
        writeFileSync(join(dir, name), `#!/bin/sh\necho "${name} $*" >> "$STUB_LOG"\n${body}\n`, {
          mode: 0o755,
        });
      stub('selinuxenabled', 'exit "$SELINUX_ENABLED"');
      stub(
        'semodule',
        '[ "$1" = -l ] && printf "%s\\n" $SEMODULE_LIST; [ "$1" = -i ] && exit "$SEMODULE_I"; exit 0',
      );
      stub('restorecon', 'exit 0');
    };
    const runScriptlet = async (tag: 'POSTIN' | 'POSTUN', arg: string, env: Record<string, string>) => {
      const root = mkdtempSync(join(tmpdir(), 'iak-rpm-scriptlet-'));
      try {
        mkdirSync(join(root, 'stubs'));
        stubs(join(root, 'stubs'));
        mkdirSync(join(root, 'usr/bin'), { recursive: true });
        writeFileSync(join(root, 'usr/bin/iam-authorized-keys'), '');
        mkdirSync(join(root, 'var/cache/iam-authorized-keys'), { recursive: true });
        const log = join(root, 'log');
        writeFileSync(log, '');
        const r = spawnSync('sh', ['-c', await scriptlet(tag, root), 'scriptlet', arg], {
          encoding: 'utf8',
          env: {
            PATH: `${root}/stubs:/usr/bin:/bin`,
            STUB_LOG: log,
            SEMODULE_LIST: '',
            SEMODULE_I: '0',
            ...env,
          },
        });
        return {
          code: r.status,
          stderr: r.stderr,
          calls: readFileSync(log, 'utf8')
            .replaceAll(root, '<root>')
            .split('\n')
            .map((l) => l.trim())
            .filter(Boolean),
        };
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    };

    interface ScriptletCase {
      readonly name: string;
      readonly tag: 'POSTIN' | 'POSTUN';
      readonly arg: string;
      readonly env: Record<string, string>;
      readonly calls: readonly string[];
      readonly stderr?: RegExp;
    }
    it.each<ScriptletCase>([
      {
        name: '%post, SELinux enabled: module in, binary then existing directories relabelled',
        tag: 'POSTIN',
        arg: '1',
        env: { SELINUX_ENABLED: '0' },
        calls: [
          'selinuxenabled',
          'semodule -i <root>/usr/share/selinux/packages/iam_authorized_keys.pp',
          'restorecon -F <root>/usr/bin/iam-authorized-keys',
          'restorecon -RF <root>/var/cache/iam-authorized-keys',
        ],
      },
      {
        name: '%post, SELinux disabled: nothing',
        tag: 'POSTIN',
        arg: '1',
        env: { SELINUX_ENABLED: '1' },
        calls: ['selinuxenabled'],
      },
      {
        name: '%post, semodule -i fails: warned, nothing relabelled, the install goes on',
        tag: 'POSTIN',
        arg: '2',
        env: { SELINUX_ENABLED: '0', SEMODULE_I: '1' },
        calls: ['selinuxenabled', 'semodule -i <root>/usr/share/selinux/packages/iam_authorized_keys.pp'],
        stderr: /semodule -i .* failed \(above\): sshd runs the agent without the module's domain/,
      },
      {
        name: '%postun on erase: module removed',
        tag: 'POSTUN',
        arg: '0',
        env: { SELINUX_ENABLED: '0', SEMODULE_LIST: 'base iam_authorized_keys ssh' },
        calls: ['semodule -l', 'semodule -r iam_authorized_keys'],
      },
      {
        name: '%postun on erase, module not loaded: not removed',
        tag: 'POSTUN',
        arg: '0',
        env: { SELINUX_ENABLED: '0', SEMODULE_LIST: 'base iam_authorized_keys_old' },
        calls: ['semodule -l'],
      },
      {
        name: '%postun on upgrade: module kept',
        tag: 'POSTUN',
        arg: '1',
        env: { SELINUX_ENABLED: '0', SEMODULE_LIST: 'iam_authorized_keys' },
        calls: [],
      },
    ])('$name', async ({ tag, arg, env, calls, stderr }) => {
      const r = await runScriptlet(tag, arg, env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.calls).toEqual(calls);
      if (stderr) expect(r.stderr).toMatch(stderr);
    });
  });

  it('installs into a scratch rpm root and erases cleanly', async () => {
    const root = mkdtempSync(join(tmpdir(), 'iak-rpmroot-'));
    try {
      const rpm = (...args: string[]) => sh('rpm', ['--root', root, ...args]);
      expect((await rpm('--initdb')).code).toBe(0);
      // No scripts: they would configure this machine's sshd, not the scratch root's.
      const i = await rpm('-i', '--nodeps', '--noscripts', '--ignorearch', RPM('x86_64'));
      expect(i.code, i.stderr).toBe(0);
      const bin = join(root, 'usr/bin/iam-authorized-keys');
      expect(isStandaloneExecutable(readFileSync(bin))).toBe(true);
      expect(statSync(bin).mode & 0o7777).toBe(0o755);
      // The SELinux module is the one packaging/selinux/ builds (same bytes: the build is reproducible).
      execFileSync(process.execPath, [join(ROOT, 'scripts/selinux.mjs'), root]);
      expect(
        readFileSync(join(root, 'usr/share/selinux/packages/iam_authorized_keys.pp')).equals(
          readFileSync(join(root, 'iam_authorized_keys.pp')),
        ),
      ).toBe(true);
      rmSync(join(root, 'iam_authorized_keys.pp'));
      expect((await rpm('-V', '--nodeps', 'iam-authorized-keys')).stdout).toBe('');
      expect((await rpm('-e', '--noscripts', 'iam-authorized-keys')).code).toBe(0);
      expect(existsSync(bin)).toBe(false);
      expect(existsSync(join(root, 'usr/share/doc/iam-authorized-keys'))).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
