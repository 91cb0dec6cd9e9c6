import { describe, expect, it } from 'vitest';
import {
  DISABLED_MARK,
  InstallRefusedError,
  type InstallState,
  type Observed,
  planInstall,
  rewriteShebang,
} from '../../../../../host-agent/admin/install/plan.js';
import { flattenConfig, renderDropIn } from '../../../../../host-agent/admin/install/sshd-config.js';
import { reenableLines } from '../../../../../host-agent/admin/install/uninstall.js';
import { globToRegExp } from '../../../../../host-agent/secure-path.js';
import { AGENT, CONFIG, DROP, EIC, INCLUDE, opts, paths } from './fixtures.js';

/** A state file as an earlier install of the default agent user left it. */
const STATE: InstallState = {
  version: 1,
  agentUser: 'iam-authorized-keys',
  createdUser: false,
  cacheDir: '/var/cache/iam-authorized-keys',
  createdCacheDir: true,
  files: [],
};

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
    binary: undefined,
    dropInText: undefined,
    state: undefined,
    ...over,
  };
}

describe('planInstall: the agent user', () => {
  const main = { '/etc/ssh/sshd_config': INCLUDE };
  it.each([
    // what exists, state, --agent-user, --agent-user-shared-ok -> refused (RegExp) or shared (boolean)
    ['absent: install creates it', {}, 'iam-authorized-keys', false, false],
    ['root, even forced', { agentUserExists: true, agentUserUid: 0 }, 'root', true, /is root/],
    ['uid 0 under another name', { agentUserExists: true, agentUserUid: 0 }, 'toor', true, /is root/],
    [
      'nobody',
      { agentUserExists: true, agentUserUid: 65534 },
      'nobody',
      false,
      /already exists and install did not create it/,
    ],
    ['nobody, forced', { agentUserExists: true, agentUserUid: 65534 }, 'nobody', true, true],
    [
      'an existing account',
      { agentUserExists: true, agentUserUid: 998 },
      'iam-authorized-keys',
      false,
      /pass --agent-user-shared-ok/,
    ],
    [
      'created by an earlier install',
      { agentUserExists: true, state: { ...STATE, createdUser: true } },
      'iam-authorized-keys',
      false,
      false,
    ],
    [
      'created earlier, but for another user',
      { agentUserExists: true, state: { ...STATE, createdUser: true } },
      'www-data',
      false,
      /www-data already exists/,
    ],
    [
      'forced at an earlier install (a package upgrade re-runs install)',
      { agentUserExists: true, state: { ...STATE, agentUserSharedOk: true } },
      'iam-authorized-keys',
      false,
      true,
    ],
  ] as [string, Partial<Observed>, string, boolean, RegExp | boolean][])(
    '%s',
    (_n, over, agentUser, force, want) => {
      const run = () => planInstall(observed(main, over), { ...opts, agentUser, agentUserSharedOk: force });
      if (want instanceof RegExp) expect(run).toThrow(want);
      else {
        const plan = run();
        expect(plan.agentUserShared).toBe(want);
        if (want) expect(plan.notes.join('\n')).toMatch(/can forge the agent's cache/);
      }
    },
  );
});

describe('planInstall: settings read before the drop-in', () => {
  it.each([
    [
      'PermitUserEnvironment yes',
      /sshd_config line 1 is read before 60-iam-authorized-keys.conf and wins: PermitUserEnvironment is yes/,
    ],
    ['PermitUserEnvironment SSH_KEY_OWNER,LD_PRELOAD', /PermitUserEnvironment is SSH_KEY_OWNER,LD_PRELOAD/],
    ['LogLevel QUIET', /line 1 .* LogLevel is QUIET: sshd would not log the "Accepted publickey" lines/],
    ['loglevel error', /LogLevel is ERROR/],
    ['LogLevel FATAL', /LogLevel is FATAL/],
    ['PermitUserEnvironment no', undefined],
    ['LogLevel INFO', undefined],
    ['LogLevel DEBUG3', undefined],
  ])('%s', (line, want) => {
    const run = () => planInstall(observed({ '/etc/ssh/sshd_config': `${line}\n${INCLUDE}` }), opts);
    if (want) expect(run).toThrow(want);
    else expect(run).not.toThrow();
  });

  it('a value read after the drop-in loses, so it is no reason to refuse', () => {
    expect(() =>
      planInstall(
        observed({ '/etc/ssh/sshd_config': `${INCLUDE}LogLevel QUIET\nPermitUserEnvironment yes\n` }),
        opts,
      ),
    ).not.toThrow();
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
    expect(cfg && 'content' in cfg && JSON.parse(cfg.content.toString()).chain).toEqual(plan.chain);
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
    expect(reenableLines(step && 'content' in step ? step.content.toString() : '')).toBe(
      o.fileTexts.get(EIC),
    );
  });

  it.each([
    ['/opt/authorized_keys_command.sh', ['/opt/authorized_keys_command.sh', '%u'], /with %u/],
    ['/opt/authorized_keys_command.sh %u', ['/opt/authorized_keys_command.sh', '%u'], /^(?!.*with %u)/],
    ['/opt/x %f', ['/opt/x', '%f'], /^(?!.*with %u)/],
    ['"/opt/my tools/keys" \'%u\' a\\ b', ['/opt/my tools/keys', '%u', 'a b'], /^(?!.*with %u)/],
  ])('chains %j as sshd runs it: %j', (line, chain, note) => {
    // sshd gives a command line without arguments the user name (aws-ec2-ssh relies on it).
    const o = observed({ '/etc/ssh/sshd_config': `${INCLUDE}AuthorizedKeysCommand ${line}\n` });
    const plan = planInstall(o, opts);
    expect(plan.chain).toEqual(chain);
    expect(plan.notes[0]).toMatch(note);
  });

  it.each<[string, RegExp]>([
    [
      '/opt/x %u %k',
      /cannot chain the existing AuthorizedKeysCommand "\/opt\/x %u %k": chain argument 2: %k \(the key itself\)/,
    ],
    ['/opt/x %t', /%t \(the key type\)/],
    ['/opt/x "%u', /unclosed "/],
  ])('refuses to chain %j, which the agent could not run as sshd would', (line, message) => {
    const o = observed({ '/etc/ssh/sshd_config': `${INCLUDE}AuthorizedKeysCommand ${line}\n` });
    expect(() => planInstall(o, opts)).toThrow(message);
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
        state: { ...STATE, createdUser: true },
        binary: Buffer.from(rewriteShebang(AGENT, '/usr/bin/node')),
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
});
