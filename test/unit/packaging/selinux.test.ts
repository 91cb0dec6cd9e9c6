// The .rpm's SELinux policy module (packaging/selinux/), compiled as
// `npm run package` compiles it, then linked against a base policy that holds
// the reference policy's kernel classes (selinux-policy-dev's all_perms.spt)
// and only the host types the module may name, all of which exist in the
// Fedora-family policies the .rpm targets. setools' sesearch reads the result.
// What a real enforcing host shows (the transition, AVCs) is not testable here:
// docs/host-agent-binary.md says so.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPaths } from '../../../host-agent/admin/install/plan.js';
import { DEFAULT_CACHE_DIR } from '../../../host-agent/config.js';

const ROOT = new URL('../../..', import.meta.url).pathname;
const SOURCES = join(ROOT, 'packaging/selinux');
const MODULE = 'iam_authorized_keys';
const AGENT = 'iam_authorized_keys_t';
const ALL_PERMS = '/usr/share/selinux/devel/include/support/all_perms.spt';

/** Types of the host policy the module may require (RHEL 9 targeted has each), plus the ones mutations use. */
const HOST_TYPES = [
  'kernel_t',
  'sshd_t',
  'init_t',
  'unconfined_service_t',
  'root_t',
  'usr_t',
  'bin_t',
  'lib_t',
  'ld_so_t',
  'ld_so_cache_t',
  'locale_t',
  'etc_t',
  'net_conf_t',
  'passwd_file_t',
  'var_t',
  'var_run_t',
  'device_t',
  'null_device_t',
  'urandom_device_t',
  'random_device_t',
  'proc_t',
  'sysfs_t',
  'devlog_t',
  'syslogd_t',
  'syslogd_var_run_t',
  'http_port_t',
  'dns_port_t',
  // Named only by the mutations below: what the agent must never get.
  'shell_exec_t',
  'unreserved_port_t',
  'port_t',
  'shadow_t',
];
const HOST_ATTRIBUTES = ['domain', 'file_type', 'non_security_file_type', 'exec_type', 'entry_type'];

/** A base policy module (policy.conf language): every kernel class with its permissions, the host types, MCS. */
function basePolicyConf(): string {
  const spt = readFileSync(ALL_PERMS, 'utf8');
  const classes = [...spt.matchAll(/define\(`all_(\w+)_perms',`\{ ([^}]*) \}'\)/g)].map((m) => ({
    name: m[1] ?? '',
    perms: m[2] ?? '',
  }));
  if (classes.length < 50) throw new Error(`${ALL_PERMS}: found only ${classes.length} classes`);
  return [
    ...classes.map((c) => `class ${c.name}`),
    'sid kernel',
    ...classes.map((c) => `class ${c.name} { ${c.perms} }`),
    'sensitivity s0;',
    'dominance { s0 }',
    'category c0;',
    'level s0:c0;',
    'mlsconstrain file { read } ( h1 dom h2 );',
    ...HOST_ATTRIBUTES.map((a) => `attribute ${a};`),
    ...HOST_TYPES.map((t) => `type ${t};`),
    'role system_r;',
    `role system_r types { ${HOST_TYPES.join(' ')} };`,
    'user system_u roles system_r level s0 range s0 - s0:c0;',
    'sid kernel system_u:system_r:kernel_t:s0',
    '',
  ].join('\n');
}

/** Compiles packaging/selinux/ (or a changed copy) as the package step does and links it into a binary policy. */
function buildPolicy(work: string, te: string = readFileSync(join(SOURCES, `${MODULE}.te`), 'utf8')) {
  const src = mkdtempSync(join(work, 'src-'));
  for (const ext of ['fc', 'if'])
    copyFileSync(join(SOURCES, `${MODULE}.${ext}`), join(src, `${MODULE}.${ext}`));
  writeFileSync(join(src, `${MODULE}.te`), te);
  const pp = execFileSync(process.execPath, [join(ROOT, 'scripts/selinux.mjs'), src, src], {
    encoding: 'utf8',
  }).trim();
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: src, stdio: 'pipe' });
  writeFileSync(join(src, 'base.conf'), basePolicyConf());
  run('checkmodule', ['-M', '-o', 'base.mod', 'base.conf']);
  run('semodule_package', ['-o', 'base.pp', '-m', 'base.mod']);
  run('semodule_link', ['-o', 'linked.lnk', 'base.pp', pp]);
  run('semodule_expand', ['linked.lnk', 'policy.bin']);
  return { pp, policy: join(src, 'policy.bin') };
}

/** sesearch's rules as one `source target:class perm` string per permission. */
function allowTriples(policy: string): string[] {
  const out = execFileSync('sesearch', ['-A', policy], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.startsWith('allow '))
    .flatMap((l) => {
      const m = /^allow (\S+) (\S+):(\S+) (?:\{ ([^}]*) \}|(\S+));$/.exec(l);
      if (!m) throw new Error(`unexpected sesearch line: ${l}`);
      const perms = (m[4] ?? m[5] ?? '').trim().split(/\s+/);
      return perms.map((p) => `${m[1]} ${m[2]}:${m[3]} ${p}`);
    })
    .sort();
}

/** `source target:class { perms }` rules, expanded the way allowTriples reports them. */
const expand = (rules: readonly string[]) =>
  rules
    .flatMap((r) => {
      const [head, perms] = r.split(' { ');
      return (perms ?? '')
        .replace(' }', '')
        .split(' ')
        .map((p) => `${head} ${p}`);
    })
    .sort();

/** Every rule the module grants, for every source: the agent's domain and the three that start it. */
const EXPECTED = expand([
  // sshd_t runs the AuthorizedKeysCommand and transitions; systemd runs sync-users unconfined.
  'sshd_t iam_authorized_keys_exec_t:file { execute getattr map open read }',
  'sshd_t iam_authorized_keys_t:process { sigkill signal transition }',
  'init_t iam_authorized_keys_exec_t:file { execute getattr map open read }',
  'init_t unconfined_service_t:process { transition }',
  'unconfined_service_t iam_authorized_keys_exec_t:file { entrypoint execute getattr ioctl map open read }',
  // The agent.
  `${AGENT} iam_authorized_keys_exec_t:file { entrypoint execute getattr ioctl map open read }`,
  `${AGENT} sshd_t:fd { use }`,
  `${AGENT} sshd_t:fifo_file { getattr ioctl write }`,
  `${AGENT} sshd_t:process { sigchld }`,
  `${AGENT} ${AGENT}:process { execmem fork getsched setpgid sigchld sigkill signal signull }`,
  `${AGENT} ${AGENT}:fifo_file { getattr ioctl read write }`,
  `${AGENT} ${AGENT}:dir { getattr open read search }`,
  `${AGENT} ${AGENT}:file { getattr open read }`,
  `${AGENT} ${AGENT}:lnk_file { read }`,
  `${AGENT} ${AGENT}:tcp_socket { connect create getattr getopt read setopt shutdown write }`,
  `${AGENT} ${AGENT}:udp_socket { connect create getattr getopt read setopt write }`,
  `${AGENT} ${AGENT}:netlink_route_socket { bind create getattr nlmsg_read read write }`,
  `${AGENT} ${AGENT}:unix_dgram_socket { connect create getattr getopt setopt write }`,
  `${AGENT} root_t:dir { getattr search }`,
  `${AGENT} usr_t:dir { getattr search }`,
  `${AGENT} lib_t:dir { getattr search }`,
  `${AGENT} bin_t:dir { getattr search }`,
  `${AGENT} root_t:lnk_file { read }`,
  `${AGENT} usr_t:lnk_file { read }`,
  `${AGENT} lib_t:lnk_file { read }`,
  `${AGENT} bin_t:lnk_file { read }`,
  `${AGENT} lib_t:file { execute getattr map open read }`,
  `${AGENT} ld_so_t:file { execute getattr map open read }`,
  `${AGENT} ld_so_cache_t:file { getattr map open read }`,
  `${AGENT} locale_t:dir { getattr open read search }`,
  `${AGENT} locale_t:file { getattr map open read }`,
  `${AGENT} locale_t:lnk_file { read }`,
  `${AGENT} bin_t:file { execute execute_no_trans getattr map open read }`,
  `${AGENT} etc_t:dir { getattr open read search }`,
  `${AGENT} etc_t:file { getattr open read }`,
  `${AGENT} etc_t:lnk_file { read }`,
  `${AGENT} net_conf_t:file { getattr open read }`,
  `${AGENT} passwd_file_t:file { getattr open read }`,
  `${AGENT} proc_t:dir { search }`,
  `${AGENT} proc_t:file { getattr open read }`,
  `${AGENT} sysfs_t:dir { getattr open read search }`,
  `${AGENT} sysfs_t:file { getattr open read }`,
  `${AGENT} sysfs_t:lnk_file { read }`,
  `${AGENT} device_t:dir { search }`,
  `${AGENT} urandom_device_t:chr_file { getattr open read }`,
  `${AGENT} random_device_t:chr_file { getattr open read }`,
  `${AGENT} null_device_t:chr_file { getattr ioctl open read write }`,
  `${AGENT} http_port_t:tcp_socket { name_connect }`,
  `${AGENT} dns_port_t:tcp_socket { name_connect }`,
  `${AGENT} var_t:dir { search }`,
  `${AGENT} iam_authorized_keys_cache_t:dir { add_name getattr open read remove_name search write }`,
  `${AGENT} iam_authorized_keys_cache_t:file { create getattr link open read rename setattr unlink write }`,
  `${AGENT} var_run_t:dir { search }`,
  `${AGENT} syslogd_var_run_t:dir { search }`,
  `${AGENT} var_run_t:lnk_file { read }`,
  `${AGENT} devlog_t:lnk_file { read }`,
  `${AGENT} devlog_t:sock_file { write }`,
  `${AGENT} syslogd_t:unix_dgram_socket { sendto }`,
]);

const WRITES = new Set([
  'write',
  'append',
  'create',
  'unlink',
  'rename',
  'link',
  'setattr',
  'add_name',
  'remove_name',
]);
const FILE_CLASSES = new Set(['file', 'dir', 'lnk_file', 'chr_file', 'blk_file', 'sock_file']);

/**
 * Rules the agent's domain must never have, whatever the expected list says:
 * a port other than HTTP(S) and DNS, a capability, a shell, files written
 * outside its cache, the install state, a transition anywhere.
 */
function violations(triples: readonly string[]): string[] {
  return triples.filter((t) => {
    const m = /^(\S+) (\S+):(\S+) (\S+)$/.exec(t);
    const [, source, target, cls, perm] = m ?? [];
    if (source !== AGENT) return false;
    if (perm === 'name_connect' || perm === 'name_bind')
      return !['http_port_t', 'dns_port_t'].includes(target ?? '');
    if (cls?.startsWith('capability') || cls === 'cap_userns') return true;
    if (perm === 'execute' || perm === 'execute_no_trans')
      return !['iam_authorized_keys_exec_t', 'bin_t', 'lib_t', 'ld_so_t'].includes(target ?? '');
    if (target === 'iam_authorized_keys_var_lib_t' || target === 'shadow_t') return true;
    if (perm === 'transition' || perm === 'dyntransition' || perm === 'setexec' || perm === 'setcurrent')
      return true;
    if (FILE_CLASSES.has(cls ?? '') && WRITES.has(perm ?? ''))
      return !(
        target === 'iam_authorized_keys_cache_t' ||
        (target === 'null_device_t' && perm === 'write') ||
        (target === 'devlog_t' && cls === 'sock_file' && perm === 'write')
      );
    return false;
  });
}

let work: string;
let built: { pp: string; policy: string };
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'iak-selinux-test-'));
  built = buildPolicy(work);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the SELinux policy module', () => {
  it('grants exactly the expected rules, for every source (nothing more, nothing less)', () => {
    const actual = allowTriples(built.policy);
    expect(actual.filter((t) => !EXPECTED.includes(t))).toEqual([]);
    expect(EXPECTED.filter((t) => !actual.includes(t))).toEqual([]);
    expect(violations(actual)).toEqual([]);
  });

  it('sshd_t transitions into the agent domain on its executable; systemd runs it unconfined', () => {
    const tt = execFileSync('sesearch', ['-T', built.policy], { encoding: 'utf8' }).trim().split('\n').sort();
    expect(tt).toEqual([
      'type_transition init_t iam_authorized_keys_exec_t:process unconfined_service_t;',
      'type_transition sshd_t iam_authorized_keys_exec_t:process iam_authorized_keys_t;',
    ]);
    // Entered only from its executable.
    const entry = execFileSync(
      'sesearch',
      ['-A', '-t', 'iam_authorized_keys_exec_t', '-p', 'entrypoint', built.policy],
      {
        encoding: 'utf8',
      },
    );
    expect(
      entry
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[1])
        .sort(),
    ).toEqual([AGENT, 'unconfined_service_t']);
  });

  it("the module's types carry the attributes the host policy's generic rules use (admins, restorecon, domains)", () => {
    const attrs = (type: string) =>
      (
        /type \S+, ([^;]*);/.exec(
          execFileSync('seinfo', [built.policy, '-t', type, '-x'], { encoding: 'utf8' }),
        )?.[1] ?? ''
      )
        .split(', ')
        .sort();
    expect(attrs(AGENT)).toEqual(['domain']);
    expect(attrs('iam_authorized_keys_exec_t')).toEqual([
      'entry_type',
      'exec_type',
      'file_type',
      'non_security_file_type',
    ]);
    expect(attrs('iam_authorized_keys_cache_t')).toEqual(['file_type', 'non_security_file_type']);
    expect(attrs('iam_authorized_keys_var_lib_t')).toEqual(['file_type', 'non_security_file_type']);
  });

  it('labels the packaged binary, the cache and the install state dir at the paths the agent uses', () => {
    const fc = join(work, 'unpacked.fc');
    execFileSync('semodule_unpackage', [built.pp, join(work, 'unpacked.mod'), fc]);
    // The Makefile's m4 pass adds comment lines.
    const lines = readFileSync(fc, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.trim().split(/\s+/));
    const bin = /^BIN=(\S+)$/m.exec(readFileSync(join(ROOT, 'packaging/scripts/common.sh'), 'utf8'))?.[1];
    expect(lines).toEqual([
      [bin, '--', 'system_u:object_r:iam_authorized_keys_exec_t:s0'],
      [`${DEFAULT_CACHE_DIR}(/.*)?`, 'system_u:object_r:iam_authorized_keys_cache_t:s0'],
      [`${dirname(defaultPaths().stateFile)}(/.*)?`, 'system_u:object_r:iam_authorized_keys_var_lib_t:s0'],
    ]);
    // Each label is a type the module declares (seinfo POLICY -t NAME lists it once).
    for (const context of lines.map((l) => l.at(-1) ?? '')) {
      const type = context.split(':')[2] ?? '';
      expect(execFileSync('seinfo', [built.policy, '-t', type], { encoding: 'utf8' })).toMatch(
        new RegExp(`Types: 1\\n\\s+${type}\\n`),
      );
    }
  });

  it('requires no host type outside the list every targeted policy has (linking fails on an unknown one)', () => {
    const te = readFileSync(join(SOURCES, `${MODULE}.te`), 'utf8');
    const bad = te.replace(
      'type http_port_t, dns_port_t;',
      'type http_port_t, dns_port_t, syslogd_runtime_t;',
    );
    expect(bad).not.toBe(te);
    expect(() => buildPolicy(work, bad)).toThrow(/syslogd_runtime_t/);
  });

  // Each grant too many must be caught both by the exact list and by the invariants.
  it.each([
    [
      'any unreserved port',
      'type unreserved_port_t;',
      `allow ${AGENT} unreserved_port_t:tcp_socket name_connect;`,
    ],
    ['any port', 'type port_t;', `allow ${AGENT} port_t:tcp_socket name_connect;`],
    ['writing /etc', 'type etc_t;', `allow ${AGENT} etc_t:file write;`],
    [
      'running a shell',
      'type shell_exec_t;',
      `allow ${AGENT} shell_exec_t:file { execute execute_no_trans };`,
    ],
    ['a capability', 'class capability dac_override;', `allow ${AGENT} self:capability dac_override;`],
    ['the install state', 'type etc_t;', `allow ${AGENT} iam_authorized_keys_var_lib_t:file read;`],
    ['reading /etc/shadow', 'type shadow_t;', `allow ${AGENT} shadow_t:file read;`],
  ])('a module that also allows %s fails the checks', (_, require, rule) => {
    const te = `${readFileSync(join(SOURCES, `${MODULE}.te`), 'utf8')}\nrequire { ${require} }\n${rule}\n`;
    const actual = allowTriples(buildPolicy(work, te).policy);
    const extra = actual.filter((t) => !EXPECTED.includes(t));
    expect(extra.length).toBeGreaterThan(0);
    expect(violations(extra)).toEqual(extra);
  });

  it('the build says which Debian packages to install when a tool is missing', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/selinux.mjs'), work], {
      encoding: 'utf8',
      env: { PATH: '/nonexistent' },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(
      /SELinux policy module cannot be built: apt-get install make m4 checkpolicy semodule-utils/,
    );
  });
});
