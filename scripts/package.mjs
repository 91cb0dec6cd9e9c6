// `npm run package`: .deb (amd64, arm64) and .rpm (x86_64, aarch64) of the
// standalone host agent, with Debian's own tools (dpkg-deb; rpmbuild from
// Debian's rpm package), offline. Each holds the binary, an example config,
// the sync-users, ship-audit and sessions systemd units (not enabled), the man page and the maintainer
// scripts in packaging/; the .rpm also the SELinux policy module built from
// packaging/selinux/ (scripts/selinux.mjs). Run `npm run build` first (it
// makes the binaries).
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildSelinuxModule, MODULE as SELINUX_MODULE } from './selinux.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const PKG = join(ROOT, 'packaging');
const DIST = join(ROOT, 'dist');
const NAME = 'iam-authorized-keys';
const { version, description, license } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const ARCHES = [
  { bin: 'linux-x64', deb: 'amd64', rpm: 'x86_64' },
  { bin: 'linux-arm64', deb: 'arm64', rpm: 'aarch64' },
];
/** Installed paths (the package owns them; /usr/local is the admin's, not a package's). */
const FILES = [
  { to: `usr/bin/${NAME}`, mode: 0o755 },
  { to: `usr/share/doc/${NAME}/examples/${NAME}.json`, from: 'example-config.json', mode: 0o644 },
  {
    to: `usr/lib/systemd/system/${NAME}-sync-users.service`,
    from: `systemd/${NAME}-sync-users.service`,
    mode: 0o644,
  },
  {
    to: `usr/lib/systemd/system/${NAME}-sync-users.timer`,
    from: `systemd/${NAME}-sync-users.timer`,
    mode: 0o644,
  },
  ...['service', 'timer'].map((ext) => ({
    to: `usr/lib/systemd/system/${NAME}-ship-audit.${ext}`,
    from: `systemd/${NAME}-ship-audit.${ext}`,
    mode: 0o644,
  })),
  ...['service', 'timer'].map((ext) => ({
    to: `usr/lib/systemd/system/${NAME}-sessions.${ext}`,
    from: `systemd/${NAME}-sessions.${ext}`,
    mode: 0o644,
  })),
  { to: `usr/share/man/man8/${NAME}.8.gz`, from: `${NAME}.8`, gzip: true, mode: 0o644 },
];
/** The .rpm's SELinux policy module (packaging/selinux/load.sh loads it from here). */
const SELINUX_PP = `usr/share/selinux/packages/${SELINUX_MODULE}.pp`;

function need(tool, pkg) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${tool} not found: apt-get install ${pkg}`);
  }
}

/** The file tree of one architecture, as it lands on the host. */
function stage(dir, arch) {
  const binary = join(DIST, `${NAME}-${arch.bin}`);
  if (!existsSync(binary)) throw new Error(`${binary} missing: run \`npm run build\` first`);
  for (const f of FILES) {
    const to = join(dir, f.to);
    mkdirSync(join(to, '..'), { recursive: true, mode: 0o755 });
    const from = f.from ? join(PKG, f.from) : binary;
    // The binary is copied as it is: stripping it would cut off the embedded program.
    if (f.gzip) writeFileSync(to, gzipSync(readFileSync(from), { level: 9 }));
    else copyFileSync(from, to);
    chmodSync(to, f.mode);
  }
}

/**
 * One maintainer script, for either package manager: the shared definitions
 * (packaging/scripts/common.sh), then `body` (packaging/scripts/<body>.sh) when
 * `condition` holds (each manager says "install", "upgrade" or "remove" its own
 * way), then `after` (shell run in every case); `before` goes right after the
 * definitions.
 */
function maintainerScript(condition, body, after = '', before = '') {
  const part = (name) => readFileSync(join(PKG, 'scripts', `${name}.sh`), 'utf8').trim();
  return [part('common'), before, `if ${condition}; then`, part(body), 'fi', after, 'exit 0', '']
    .filter(Boolean)
    .join('\n');
}

function buildDeb(work, arch) {
  const root = join(work, `deb-${arch.deb}`);
  stage(root, arch);
  const debian = join(root, 'DEBIAN');
  mkdirSync(debian, { mode: 0o755 });
  const installedKb = Math.ceil(FILES.reduce((n, f) => n + statSync(join(root, f.to)).size, 0) / 1024);
  writeFileSync(
    join(debian, 'control'),
    [
      `Package: ${NAME}`,
      `Version: ${version}`,
      `Architecture: ${arch.deb}`,
      'Maintainer: iam-ssh-keys <security@iam-ssh-keys.invalid>',
      `Installed-Size: ${installedKb}`,
      'Section: admin',
      'Priority: optional',
      // No Node.js: the binary is standalone. Everything else it runs is in essential packages (coreutils, bsdutils, login, passwd).
      'Recommends: openssh-server',
      `Description: ${description.split(':')[0]}`,
      ' Standalone sshd AuthorizedKeysCommand serving the SSH keys kept in AWS IAM,',
      ' published to S3 by iam-ssh-keys, with a local cache; no IAM call at login.',
      '',
    ].join('\n'),
  );
  const scripts = {
    postinst: maintainerScript('[ "$1" = configure ]', 'configure'),
    prerm: maintainerScript('[ "$1" = remove ] || [ "$1" = deconfigure ]', 'remove'),
    postrm: maintainerScript('[ "$1" = purge ]', 'purge', 'daemon_reload'),
  };
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(join(debian, name), `#!/bin/sh\nset -e\n${body}`);
    chmodSync(join(debian, name), 0o755);
  }
  const out = join(DIST, `${NAME}_${version}_${arch.deb}.deb`);
  // gzip: every dpkg reads it (xz of 100 MB takes much longer for a few MB less).
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z6', '--build', root, out], {
    stdio: 'ignore',
  });
  return out;
}

/** The .rpm's SELinux scriptlet parts (packaging/selinux/<name>.sh). */
const selinuxPart = (name) => readFileSync(join(PKG, 'selinux', `${name}.sh`), 'utf8').trim();

function buildRpm(work, arch, selinuxPp) {
  const top = join(work, `rpm-${arch.rpm}`);
  const buildroot = join(top, 'stage');
  stage(buildroot, arch);
  mkdirSync(join(buildroot, SELINUX_PP, '..'), { recursive: true, mode: 0o755 });
  copyFileSync(selinuxPp, join(buildroot, SELINUX_PP));
  chmodSync(join(buildroot, SELINUX_PP), 0o644);
  // rpmbuild expands macros in scriptlets: a literal % must be %%.
  const script = (...a) =>
    maintainerScript(...a)
      .trim()
      .replaceAll('%', '%%');
  const spec = [
    `Name: ${NAME}`,
    `Version: ${version}`,
    'Release: 1',
    `Summary: ${description.split(':')[0]}`,
    `License: ${license}`,
    // Nothing is compiled here, and the binary must not be stripped (it carries the program at its end).
    'AutoReqProv: no',
    '%global debug_package %{nil}',
    '%global __os_install_post %{nil}',
    '%global _build_id_links none',
    '%description',
    'Standalone sshd AuthorizedKeysCommand serving the SSH keys kept in AWS IAM,',
    'published to S3 by iam-ssh-keys, with a local cache; no IAM call at login.',
    '%install',
    `cp -a ${buildroot}/. %{buildroot}/`,
    '%files',
    '%defattr(-,root,root,-)',
    `%dir /usr/share/doc/${NAME}`,
    `%dir /usr/share/doc/${NAME}/examples`,
    ...FILES.map((f) => `%attr(${f.mode.toString(8).padStart(4, '0')},root,root) /${f.to}`),
    `%attr(0644,root,root) /${SELINUX_PP}`,
    // %post runs on install and on upgrade; %preun and %postun with $1 = 0 only on erase.
    // SELinux: the module is loaded and the binary labelled before install can run it; the
    // directories install makes are labelled after it.
    '%post',
    script('true', 'configure', selinuxPart('relabel'), selinuxPart('load')),
    '%preun',
    script('[ "$1" -eq 0 ]', 'remove'),
    '%postun',
    script('[ "$1" -eq 0 ]', 'purge', `daemon_reload\n${selinuxPart('unload')}`),
    '',
  ].join('\n');
  const specFile = join(top, `${NAME}.spec`);
  writeFileSync(specFile, spec);
  execFileSync(
    'rpmbuild',
    [
      '-bb',
      '--target',
      `${arch.rpm}-linux`,
      '--define',
      `_topdir ${top}`,
      '--define',
      `_rpmdir ${top}/out`,
      specFile,
    ],
    { stdio: 'ignore' },
  );
  const built = join(top, 'out', arch.rpm, `${NAME}-${version}-1.${arch.rpm}.rpm`);
  const out = join(DIST, `${NAME}-${version}-1.${arch.rpm}.rpm`);
  copyFileSync(built, out);
  return out;
}

need('dpkg-deb', 'dpkg');
need('rpmbuild', 'rpm');
const work = join(ROOT, '.tmp', 'package');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
// First, so that missing tools stop the build before anything is made. No .rpm without its
// SELinux module (logins would fail on an enforcing host), and no option to build one.
const selinuxPp = buildSelinuxModule(work);
for (const arch of ARCHES) {
  for (const make of [buildDeb, buildRpm]) {
    const t0 = Date.now();
    const out = make(work, arch, selinuxPp);
    console.log(
      `${out.slice(ROOT.length)}  ${(statSync(out).size / 2 ** 20).toFixed(1)} MiB  ${Date.now() - t0} ms`,
    );
  }
}
rmSync(work, { recursive: true, force: true });
