// End to end: `iam-authorized-keys install` into a temp root whose sshd_config
// already runs another AuthorizedKeysCommand (an EC2 Instance Connect stand-in
// in a drop-in read before ours), checked by the real sshd, then real logins
// with both keys; `uninstall` puts everything back byte for byte.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_KIND } from '../../dev/agent-kind.js';
import {
  awsEnv,
  buildAgent,
  buildCli,
  createAgentUser,
  createBucket,
  iamUserWithKey,
  publish,
  RUN_TAG,
} from '../../dev/host.js';
import { type Moto, startMoto, TEST_REGION } from '../../dev/moto.js';
import {
  type ClientKey,
  createLocalUser,
  makeClientKey,
  makeTrustedDir,
  removeDir,
  removeLocalUser,
  requireSshd,
  SSHD,
  type Sshd,
  sshLogin,
  startSshd,
  writeHostKey,
} from '../../dev/sshd.js';
import { type SyslogSink, startSyslogSink } from '../../dev/syslog-sink.js';
import { waitFor } from '../../dev/wait.js';
import { DISABLED_MARK } from '../../host-agent/admin/install/plan.js';
import { runAgent } from '../helpers/agent.js';
import { putParameter } from './fixtures.js';

const run = promisify(execFile);
const BUCKET = 'e2e-install-keys';
const LOCAL = `iake2e-io-${RUN_TAG}`;
const AGENT_USER = `iake2e-ia-${RUN_TAG}`;

interface Snapshot {
  [path: string]: string | null;
}

describe('install and uninstall against a real sshd', () => {
  let moto: Moto;
  let root: string;
  let build: string;
  let agent: string;
  let alice: ClientKey;
  let eic: ClientKey;
  let bob: ClientKey;
  let agentIds: { uid: number; gid: number };
  let syslog: SyslogSink;
  const p = (rel: string) => join(root, rel);
  const tracked = () => [
    p('etc/ssh/sshd_config'),
    p('etc/ssh/sshd_config.d/40-ec2-instance-connect.conf'),
    p('etc/ssh/sshd_config.d/60-iam-authorized-keys.conf'),
    p('etc/iam-authorized-keys.json'),
    p('usr/local/bin/iam-authorized-keys'),
    p('var/lib/iam-authorized-keys/install.json'),
  ];
  const snapshot = (): Snapshot =>
    Object.fromEntries(tracked().map((f) => [f, existsSync(f) ? readFileSync(f, 'utf8') : null]));
  /** Runs the agent with a root-like PATH; `withAws` adds moto's endpoint and credentials (for SSM). */
  const agentCmd = (args: string[], withAws = false) =>
    runAgent(agent, args, { ...(withAws ? awsEnv(moto) : {}), PATH: '/usr/bin:/bin:/usr/sbin:/sbin' });
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
  // The test made AGENT_USER (credentials for moto in its home): install did not create it.
  const installArgs = () => ['--agent-user-shared-ok', ...common()];

  beforeAll(async () => {
    requireSshd();
    moto = await startMoto();
    root = makeTrustedDir('install');
    build = makeTrustedDir('install-build');
    agent = await buildAgent(build);
    const cli = await buildCli();
    const keys = join(build, 'keys');
    mkdirSync(keys, { mode: 0o700 });
    alice = makeClientKey(keys, 'alice');
    eic = makeClientKey(keys, 'eic');
    bob = makeClientKey(keys, 'bob');
    await createBucket(moto, BUCKET);
    await iamUserWithKey(moto, 'alice', alice.openssh, []);
    await iamUserWithKey(moto, 'bob', bob.openssh, []);
    await publish(cli, moto, BUCKET);
    createLocalUser(LOCAL);
    agentIds = await createAgentUser(AGENT_USER, join(build, 'agent-home'));
    syslog = await startSyslogSink(build);

    for (const d of ['etc/ssh/sshd_config.d', 'opt/aws/bin', 'var/cache'])
      mkdirSync(p(d), { recursive: true, mode: 0o755 });
    const hostKey = writeHostKey(p('etc/ssh'));
    writeFileSync(
      p('etc/ssh/sshd_config'),
      [
        `Include ${p('etc/ssh/sshd_config.d')}/*.conf`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        'AuthorizedKeysFile none',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'MaxStartups 100:30:200',
        '',
      ].join('\n'),
    );
    // The EC2 Instance Connect stand-in: prints one key for our local account.
    writeFileSync(
      p('opt/aws/bin/eic_run_authorized_keys'),
      `#!/bin/sh\n[ "$1" = "${LOCAL}" ] && echo "${eic.openssh} eic"\nexit 0\n`,
      { mode: 0o755 },
    );
    writeFileSync(
      p('etc/ssh/sshd_config.d/40-ec2-instance-connect.conf'),
      `AuthorizedKeysCommand ${p('opt/aws/bin/eic_run_authorized_keys')} %u %f\nAuthorizedKeysCommandUser nobody\n`,
      { mode: 0o600 }, // CIS-hardened: install and uninstall must keep it so
    );
    writeFileSync(
      p('etc/iam-authorized-keys.json'),
      `${JSON.stringify(
        {
          bucket: BUCKET,
          region: TEST_REGION,
          endpoint: moto.endpoint,
          users: { [LOCAL]: ['users/alice'] },
          cache: { dir: p('var/cache/iam-authorized-keys'), ttlSeconds: 0, maxStaleSeconds: 0 },
          syslogSocket: syslog.socket,
        },
        null,
        2,
      )}\n`,
      { mode: 0o644 },
    );
  });

  afterAll(async () => {
    await moto?.stop();
    syslog?.stop();
    removeLocalUser(LOCAL);
    removeLocalUser(AGENT_USER);
    if (root) removeDir(root);
    if (build) removeDir(build);
  });

  it('refuses with a clear reason and changes nothing when sshd_config has no Include for the drop-in dir', async () => {
    const main = p('etc/ssh/sshd_config');
    const text = readFileSync(main, 'utf8');
    writeFileSync(main, text.replace(/^Include .*\n/, ''));
    const before = snapshot();
    const r = await agentCmd(['install', ...installArgs()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has no "Include .*sshd_config\.d\/\*\.conf"/);
    expect(snapshot()).toEqual(before);
    writeFileSync(main, text);
  });

  it.each([
    [
      'nobody',
      [],
      /agent user nobody already exists and install did not create it: .*--agent-user-shared-ok/,
    ],
    ['root', ['--agent-user-shared-ok'], /--agent-user root is root: the agent never needs root/],
  ])('refuses --agent-user %s (%j) and changes nothing', async (user, extra, message) => {
    const before = snapshot();
    const args = common().map((a) => (a === AGENT_USER ? user : a));
    const r = await agentCmd(['install', ...extra, ...args]);
    expect(r.code).toBe(1);
    expect(`${r.stdout}${r.stderr}`).toMatch(message);
    expect(snapshot()).toEqual(before);
    expect(existsSync(p('var/cache/iam-authorized-keys'))).toBe(false);
  });

  it.each([
    ['etc/ssh/sshd_config', 'LogLevel QUIET', /sshd_config line 1 is read before .* LogLevel is QUIET/],
    [
      'etc/ssh/sshd_config.d/40-ec2-instance-connect.conf',
      'PermitUserEnvironment yes',
      /40-ec2-instance-connect\.conf line 1 is read before .* PermitUserEnvironment is yes/,
    ],
  ])(
    'refuses a setting in %s read before the drop-in that undoes it (%s), and changes nothing',
    async (rel, line, message) => {
      const file = p(rel);
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, `${line}\n${text}`);
      try {
        const before = snapshot();
        const r = await agentCmd(['install', ...installArgs()]);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(message);
        expect(snapshot()).toEqual(before);
      } finally {
        writeFileSync(file, text);
      }
    },
  );

  it('--dry-run lists the changes and makes none', async () => {
    const before = snapshot();
    const r = await agentCmd(['install', ...installArgs(), '--dry-run']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/chaining the existing AuthorizedKeysCommand/);
    expect(r.stdout).toMatch(/would write .*60-iam-authorized-keys\.conf \(sshd drop-in/);
    expect(r.stdout).toMatch(/would write .*40-ec2-instance-connect\.conf \(comment out 2/);
    expect(snapshot()).toEqual(before);
  });

  it('install --principals-from: a parameter that cannot be read stops install before any change', async () => {
    const before = snapshot();
    const r = await agentCmd(
      ['install', ...installArgs(), '--principals-from', 'ssm:/IAM/none/principals'],
      true,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^iam-authorized-keys install: principals not resolved, nothing was installed: .*ParameterNotFound/,
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(snapshot()).toEqual(before);
  });

  it('install --principals-from ssm:NAME --dry-run shows the users it would set and writes nothing', async () => {
    putParameter(moto, '/IAM/e2e-install/principals', 'groups/e2e-ops,users/alice');
    const before = snapshot();
    const r = await agentCmd(
      [
        'install',
        ...installArgs(),
        '--dry-run',
        '--principals-from',
        'ssm:/IAM/e2e-install/principals',
        '--local-user',
        LOCAL,
      ],
      true,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`would set users .*${LOCAL} <- groups/e2e-ops,users/alice`));
    expect(r.stdout).toMatch(/would write .*60-iam-authorized-keys\.conf \(sshd drop-in/);
    expect(snapshot()).toEqual(before);
  });

  it('install --principals-from: when install then fails, the config gets its old principals back', async () => {
    putParameter(moto, '/IAM/e2e-install/other', 'users/bob');
    const main = p('etc/ssh/sshd_config');
    const text = readFileSync(main, 'utf8');
    writeFileSync(main, text.replace(/^Include .*\n/, '')); // install will refuse: no Include
    const before = snapshot();
    try {
      const r = await agentCmd(
        [
          'install',
          ...installArgs(),
          '--principals-from',
          'ssm:/IAM/e2e-install/other',
          '--local-user',
          LOCAL,
        ],
        true,
      );
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`users set from SSM parameter .*${LOCAL} <- users/bob`)); // written...
      expect(r.stdout).toMatch(/restored .*iam-authorized-keys\.json: the new principals are not kept/); // ...and undone
      expect(snapshot()).toEqual(before);
    } finally {
      writeFileSync(main, text);
    }
  });

  it('rolls every change back when sshd -t rejects the result', async () => {
    const broken = p('etc/ssh/sshd_config.d/99-broken.conf');
    writeFileSync(broken, 'NoSuchOption yes\n');
    const before = snapshot();
    const r = await agentCmd(['install', ...installArgs()]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL: sshd -t rejected the configuration.*every change was rolled back/s);
    expect(snapshot()).toEqual(before);
    expect(existsSync(p('var/cache/iam-authorized-keys'))).toBe(false);
    removeDir(broken);
  });

  let sshd: Sshd;
  let original: Snapshot;

  it('installs: binary, drop-in, cache dir, chain; sshd -t accepts it', async () => {
    original = snapshot();
    const r = await agentCmd(['install', ...installArgs()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const bin = p('usr/local/bin/iam-authorized-keys');
    if (AGENT_KIND === 'standalone') expect(readFileSync(bin).equals(readFileSync(agent))).toBe(true);
    else expect(readFileSync(bin, 'utf8').split('\n')[0]).toBe(`#!${process.execPath}`);
    expect(statSync(bin).mode & 0o7777).toBe(0o755);
    const dropIn = readFileSync(p('etc/ssh/sshd_config.d/60-iam-authorized-keys.conf'), 'utf8');
    const cmd = `${bin} --config ${p('etc/iam-authorized-keys.json')} -- %u %f`;
    expect(dropIn).toContain(`AuthorizedKeysCommand ${cmd}\nAuthorizedKeysCommandUser ${AGENT_USER}\n`);
    expect(dropIn).toContain('PermitUserEnvironment SSH_KEY_OWNER\n');
    expect(dropIn).not.toMatch(/PermitUserEnvironment yes/);
    expect(readFileSync(p('etc/ssh/sshd_config.d/40-ec2-instance-connect.conf'), 'utf8')).toBe(
      `${DISABLED_MARK}AuthorizedKeysCommand ${p('opt/aws/bin/eic_run_authorized_keys')} %u %f\n${DISABLED_MARK}AuthorizedKeysCommandUser nobody\n`,
    );
    expect(statSync(p('etc/ssh/sshd_config.d/40-ec2-instance-connect.conf')).mode & 0o7777).toBe(0o600);
    const cfg = JSON.parse(readFileSync(p('etc/iam-authorized-keys.json'), 'utf8'));
    expect(cfg.chain).toEqual([p('opt/aws/bin/eic_run_authorized_keys'), '%u', '%f']);
    const cache = statSync(p('var/cache/iam-authorized-keys'));
    expect([cache.uid, cache.mode & 0o7777]).toEqual([agentIds.uid, 0o700]);
    expect(statSync(p('var/lib/iam-authorized-keys/install.json')).mode & 0o777).toBe(0o600);
    const t = await run(SSHD, ['-t', '-f', p('etc/ssh/sshd_config')]);
    expect(t.stderr).toBe('');
    const T = await run(SSHD, ['-T', '-f', p('etc/ssh/sshd_config')]);
    expect(T.stdout).toContain(`authorizedkeyscommand ${cmd}\n`);
    expect(T.stdout).toContain(`authorizedkeyscommanduser ${AGENT_USER}\n`);
  });

  it('a second install changes nothing', async () => {
    const before = snapshot();
    const r = await agentCmd(['install', ...installArgs()]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/^write /m);
    expect(snapshot()).toEqual(before);
  });

  it('logs in with the IAM key (S3) and with the chained command key; refuses others', async () => {
    sshd = await startSshd({ dir: build, configPath: p('etc/ssh/sshd_config') });
    expect((await sshLogin(sshd.port, LOCAL, alice)).code).toBe(0);
    expect((await sshLogin(sshd.port, LOCAL, eic)).code).toBe(0);
    expect((await sshLogin(sshd.port, LOCAL, bob)).code).toBe(255);
  });

  it('doctor passes every check on the installed host', async () => {
    const r = await runAgent(agent, ['doctor', '--root', root, '--sshd', SSHD], awsEnv(moto));
    const lines = r.stdout.trim().split('\n');
    expect(
      lines.map((l) => l.split(':')[0]),
      r.stdout,
    ).toEqual([
      'ok   config',
      'ok   endpoints',
      'ok   credentials',
      'ok   bucket',
      'ok   sshd',
      'ok   binary',
      'ok   agent user',
      'ok   self-test',
      'ok   audit',
      'ok   cache dir',
    ]);
    // doctor's test line went through logger, as the agent user, to the configured socket.
    const doctorLines = () => syslog.lines().filter((l) => l.includes('doctor: audit channel check'));
    await waitFor(() => doctorLines().length > 0, { what: "doctor's audit line" });
    expect(doctorLines()).toHaveLength(1);
    // Two lines: alice's from S3 and the chained command's.
    expect(r.stdout).toMatch(
      new RegExp(`^ok   self-test: as the agent user, "${LOCAL}" gets 2 key line\\(s\\)$`, 'm'),
    );
    // Caching is off (maxStaleSeconds 0): the heartbeat is judged against the default day.
    expect(r.stdout).toMatch(
      /^ok {3}bucket: heartbeat.json: the publisher's last run was \d+s ago \(limit 86400s\)$/m,
    );
    expect(r.code).toBe(0);
  });

  it('doctor fails the agent user check while another process runs as it', async () => {
    const other = spawn('/bin/sleep', ['60'], { uid: agentIds.uid, gid: agentIds.gid, stdio: 'ignore' });
    try {
      await new Promise((r) => other.once('spawn', r));
      const r = await runAgent(agent, ['doctor', '--root', root, '--sshd', SSHD], awsEnv(moto));
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(
        new RegExp(
          `^FAIL agent user: 1 other process\\(es\\) run as ${AGENT_USER}: ${other.pid} \\(/bin/sleep\\)`,
          'm',
        ),
      );
    } finally {
      other.kill();
    }
  });

  it('uninstall restores every file byte for byte; the other command works alone again', async () => {
    const r = await agentCmd([
      'uninstall',
      ...common().filter((a, i, all) => a !== '--source' && all[i - 1] !== '--source'),
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(snapshot()).toEqual(original);
    expect(statSync(p('etc/ssh/sshd_config.d/40-ec2-instance-connect.conf')).mode & 0o7777).toBe(0o600);
    expect(existsSync(p('var/cache/iam-authorized-keys'))).toBe(false);
    // The binary goes only after sshd's files are back, checked and reloaded.
    const lines = r.stdout.split('\n');
    expect(lines.findIndex((l) => l.startsWith('not reloading sshd'))).toBeLessThan(
      lines.indexOf(`remove ${p('usr/local/bin/iam-authorized-keys')}`),
    );
    await sshd.reload();
    expect((await sshLogin(sshd.port, LOCAL, alice)).code).toBe(255);
    expect((await sshLogin(sshd.port, LOCAL, eic)).code).toBe(0);
    await sshd.stop();
  });

  it('creates its own system user when absent, and uninstall removes it again', async () => {
    const user = `iake2e-in-${RUN_TAG}`;
    removeLocalUser(user);
    const args = common().map((a) => (a === AGENT_USER ? user : a));
    try {
      const r = await agentCmd(['install', ...args]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const entry = spawnSync('getent', ['passwd', user], { encoding: 'utf8' }).stdout.trim().split(':');
      expect([entry[5], entry[6]]).toEqual(['/nonexistent', '/usr/sbin/nologin']);
      expect(Number(entry[2])).toBeLessThan(1000); // a system uid
      expect(statSync(p('var/cache/iam-authorized-keys')).uid).toBe(Number(entry[2]));
      const u = await agentCmd(['uninstall', ...args.slice(0, -2)]);
      expect(u.code).toBe(0);
      expect(u.stdout).toMatch(new RegExp(`remove system user ${user}`));
      expect(spawnSync('getent', ['passwd', user]).status).not.toBe(0);
      expect(snapshot()).toEqual(original);
    } finally {
      removeLocalUser(user);
    }
  });

  it('doctor fails the sshd check once uninstalled', async () => {
    const r = await runAgent(
      agent,
      ['doctor', '--root', root, '--sshd', SSHD, '--agent-user', AGENT_USER],
      awsEnv(moto),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^FAIL sshd: AuthorizedKeysCommand is ".*eic_run_authorized_keys %u %f", expected/m,
    );
  });
});
