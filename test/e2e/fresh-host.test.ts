// Guard for a host where sshd has never run (an AMI or container image being
// built, a fresh CI machine): Debian's sshd refuses `sshd -t` and `sshd -T`
// until its privilege-separation dir /run/sshd exists, which only its service
// unit creates. Every command here runs in a private mount namespace whose
// /run is a new, empty tmpfs: that host, whatever this machine's /run holds
// (other test files' sshd create /run/sshd) and in any file order.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withoutNode } from '../../dev/agent-kind.js';
import { buildAgent, RUN_TAG } from '../../dev/host.js';
import { removeDir, removeLocalUser, requireSshd, SSHD, writeHostKey } from '../../dev/sshd.js';
import { privsepNote } from '../../host-agent/admin/sshd-runtime.js';
import { runCommand } from '../helpers/agent.js';

const AGENT_USER = `iake2e-fr-${RUN_TAG}`;
const PRIVSEP = '/run/sshd';

/** Runs a command with an empty /run of its own: sshd has never run on this "host". */
function inFreshRun(command: string, commandArgs: string[]) {
  // With the standalone kind, also where node does not exist.
  const [cmd, args] = withoutNode(command, commandArgs);
  return runCommand(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      'mount -t tmpfs -o mode=0755 tmpfs /run && exec "$@"',
      'fresh-run',
      cmd,
      ...args,
    ],
    { PATH: '/usr/bin:/bin:/usr/sbin:/sbin' },
  );
}

describe('install, doctor and uninstall on a host where sshd has never run', () => {
  let root: string;
  let agent: string;
  const p = (rel: string) => join(root, rel);
  const common = () => [
    '--root',
    root,
    '--agent-user',
    AGENT_USER,
    '--sshd',
    SSHD,
    '--no-reload',
    '--source',
    agent,
  ];

  beforeAll(async () => {
    requireSshd();
    removeLocalUser(AGENT_USER);
    // Not under /run (hidden in the namespace): /var/lib is root-owned 0755, as sshd wants the command's parents.
    root = mkdtempSync('/var/lib/iam-ssh-keys-e2e-fresh-');
    chmodSync(root, 0o755);
    mkdirSync(p('build'), { mode: 0o755 });
    agent = await buildAgent(p('build'));
    mkdirSync(p('etc/ssh/sshd_config.d'), { recursive: true, mode: 0o755 });
    const hostKey = writeHostKey(p('etc/ssh'));
    writeFileSync(
      p('etc/ssh/sshd_config'),
      [
        `Include ${p('etc/ssh/sshd_config.d')}/*.conf`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        'AuthorizedKeysFile none',
        'UsePAM no',
        '',
      ].join('\n'),
    );
    writeFileSync(
      p('etc/iam-authorized-keys.json'),
      `${JSON.stringify({
        bucket: 'fresh-host-keys',
        region: 'us-east-1',
        endpoint: 'http://127.0.0.1:9',
        users: {},
        cache: { dir: p('var/cache/iam-authorized-keys') },
        syslogSocket: p('log.sock'),
      })}\n`,
    );
  });

  afterAll(() => {
    removeLocalUser(AGENT_USER);
    if (root) removeDir(root);
  });

  it('control: in such a namespace sshd itself refuses the configuration', async () => {
    const r = await inFreshRun(SSHD, ['-t', '-f', p('etc/ssh/sshd_config')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`Missing privilege separation directory: ${PRIVSEP}`);
  });

  it('install creates the privilege-separation dir as sshd.service would, says so, and installs', async () => {
    const r = await inFreshRun(agent, ['install', ...common()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(privsepNote(PRIVSEP));
    expect(r.stdout).toMatch(/sshd configuration checked \(sshd -t, sshd -T\)/);
    expect(readFileSync(p('etc/ssh/sshd_config.d/60-iam-authorized-keys.conf'), 'utf8')).toContain(
      `AuthorizedKeysCommandUser ${AGENT_USER}\n`,
    );
  });

  it('doctor does the same and then checks sshd', async () => {
    const r = await inFreshRun(agent, ['doctor', ...common().slice(0, -2)]);
    expect(r.stdout).toContain(`ok   sshd runtime dir: ${privsepNote(PRIVSEP)}`);
    expect(r.stdout).toMatch(
      new RegExp(`^ok {3}sshd: runs ".*iam-authorized-keys.*" as ${AGENT_USER}$`, 'm'),
    );
  });

  it('uninstall too: every file install wrote is gone again', async () => {
    const r = await inFreshRun(agent, ['uninstall', ...common().slice(0, -2)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(privsepNote(PRIVSEP));
    expect(existsSync(p('etc/ssh/sshd_config.d/60-iam-authorized-keys.conf'))).toBe(false);
    expect(existsSync(p('usr/local/bin/iam-authorized-keys'))).toBe(false);
  });
});
