// End to end: sync-users creates and removes real local accounts on this
// machine from the published index.json (never IAM), and a created account
// logs in with its IAM key through the real sshd (password field '*').
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RemoveUserFromGroupCommand, UpdateUserCommand } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  awsEnv,
  buildAgent,
  buildCli,
  clients,
  createAgentUser,
  createBucket,
  iamUserWithKey,
  RUN_TAG,
} from '../../dev/host.js';
import { freePort, type Moto, startMoto, TEST_REGION } from '../../dev/moto.js';
import {
  type ClientKey,
  makeClientKey,
  makeTrustedDir,
  removeDir,
  removeLocalUser,
  requireSshd,
  type Sshd,
  sshLogin,
  startSshd,
} from '../../dev/sshd.js';
import { runAgent, writeConfig as writeConfigFile } from '../helpers/agent.js';
import { passwd } from './fixtures.js';

const run = promisify(execFile);
const BUCKET = 'e2e-sync-keys';
const P = `e2es${RUN_TAG}`;
const USERS = [`${P}-alice`, `${P}-bob`, `${P}-carol`, `${P}-dave`, `${P}-erin`, `${P}-erin2`];
const SYNCED = `iake2e-synced-${RUN_TAG}`;
const STAFF = `iake2e-staff-${RUN_TAG}`;
const WHEEL = `iake2e-wheel-${RUN_TAG}`;
const GROUPS = [SYNCED, STAFF, WHEEL];
const AGENT_USER = `iake2e-sa-${RUN_TAG}`;
// Per run too: two runs' moto servers would hand out the same uids.
const UID_BASE = 60000 + (process.pid % 40) * 100;

function groupsOf(name: string): string[] {
  return spawnSync('id', ['-nG', name], { encoding: 'utf8' }).stdout.trim().split(/\s+/).sort();
}
function shadowField(name: string): string | undefined {
  return readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`))
    ?.split(':')[1];
}

describe('sync-users on this machine', () => {
  let moto: Moto;
  let dir: string;
  let cli: string;
  let agent: string;
  let configPath: string;
  let sudoers: string;
  let lockFile: string;
  let alice: ClientKey;
  let index: { users: Record<string, { uid: number }> };

  const writeConfig = (endpoint: string) =>
    writeConfigFile(configPath, {
      bucket: BUCKET,
      region: TEST_REGION,
      endpoint,
      iamUsers: { allowGroups: [`${P}-Devs`] },
      cache: { dir: join(dir, 'cache'), ttlSeconds: 0, maxStaleSeconds: 0 },
      syslogSocket: join(dir, 'no-syslog.sock'),
      syncUsers: {
        markerGroup: SYNCED,
        localGroups: [STAFF],
        groupMap: { [`${P}-Admins`]: WHEEL },
        sudoGroups: [`${P}-Admins`],
        removeHome: true,
      },
    });

  const publish = async () => {
    await run(process.execPath, [cli, 'publish', '--bucket', BUCKET, '--uid-base', String(UID_BASE)], {
      env: awsEnv(moto),
    });
  };
  const readIndex = async () => {
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const r = await clients(moto).s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'index.json' }));
    return JSON.parse(await (r.Body as { transformToString(): Promise<string> }).transformToString());
  };
  const sync = (...extra: string[]) =>
    runAgent(
      agent,
      ['sync-users', '--config', configPath, '--sudoers-file', sudoers, '--lock-file', lockFile, ...extra],
      awsEnv(moto),
    );

  beforeAll(async () => {
    requireSshd();
    for (const u of USERS) removeLocalUser(u);
    for (const g of GROUPS) spawnSync('groupdel', [g]);
    moto = await startMoto();
    dir = makeTrustedDir('sync');
    cli = await buildCli();
    agent = await buildAgent(dir);
    configPath = join(dir, 'config.json');
    mkdirSync(join(dir, 'sudoers.d'), { mode: 0o755 });
    lockFile = join(dir, 'sync-users.lock');
    sudoers = join(dir, 'sudoers.d', 'iake2e-synced');
    writeConfig(moto.endpoint);
    const keys = join(dir, 'keys');
    mkdirSync(keys, { mode: 0o700 });
    alice = makeClientKey(keys, 'alice');
    await createBucket(moto, BUCKET);
    await iamUserWithKey(moto, `${P}-alice`, alice.openssh, [`${P}-Devs`, `${P}-Admins`]);
    await iamUserWithKey(moto, `${P}-bob`, makeClientKey(keys, 'bob').openssh, [`${P}-Devs`]);
    await iamUserWithKey(moto, `${P}-carol`, makeClientKey(keys, 'carol').openssh, [`${P}-Other`]);
    await iamUserWithKey(moto, `${P}-dave`, makeClientKey(keys, 'dave').openssh, [`${P}-Devs`]);
    // dave already has a local account nobody asked us to manage.
    await run('useradd', ['-M', '-s', '/bin/sh', `${P}-dave`]);
    await publish();
    index = await readIndex();
  });

  afterAll(async () => {
    await moto?.stop();
    for (const u of USERS) removeLocalUser(u);
    removeLocalUser(AGENT_USER);
    for (const g of GROUPS) spawnSync('groupdel', [g]);
    if (dir) removeDir(dir);
  });

  it('--dry-run shows the plan and changes nothing', async () => {
    const r = await sync('--dry-run');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`would create user ${P}-alice .*uid ${index.users[`${P}-alice`]?.uid}`),
    );
    expect(passwd(`${P}-alice`)).toBeUndefined();
  });

  it('creates allowed users with their index uid, groups, "*" password and the sudoers drop-in', async () => {
    const r = await sync();
    expect(r.stderr).toMatch(new RegExp(`${P}-dave .*not in group ${SYNCED}: left alone`));
    expect(r.code).toBe(0);
    const a = passwd(`${P}-alice`);
    expect(a?.[2]).toBe(String(index.users[`${P}-alice`]?.uid));
    expect(Number(a?.[2])).toBeGreaterThanOrEqual(UID_BASE);
    expect(shadowField(`${P}-alice`)).toBe('*');
    expect(groupsOf(`${P}-alice`)).toEqual([`${P}-alice`, STAFF, SYNCED, WHEEL].sort());
    expect(groupsOf(`${P}-bob`)).toEqual([`${P}-bob`, STAFF, SYNCED].sort());
    expect(passwd(`${P}-carol`)).toBeUndefined();
    expect(groupsOf(`${P}-dave`)).toEqual([`${P}-dave`]);
    expect(readFileSync(sudoers, 'utf8')).toMatch(new RegExp(`^#${a?.[2]} ALL=\\(ALL\\) NOPASSWD:ALL$`, 'm'));
    expect(readFileSync(sudoers, 'utf8')).not.toMatch(/bob/);
    expect(statSync(sudoers).mode & 0o777).toBe(0o440);
    // A second run is a no-op.
    expect((await sync()).stdout).toMatch(/sync-users: 0 changes, 0 failures/);
    expect(existsSync(lockFile)).toBe(false); // released
  });

  it('refuses with one line while another run holds the lock, and changes nothing', async () => {
    const before = [readFileSync('/etc/passwd', 'utf8'), readFileSync('/etc/group', 'utf8')];
    writeFileSync(lockFile, '1\n'); // pid 1 is alive
    try {
      const r = await sync();
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `iam-authorized-keys sync-users: another sync-users is running (pid 1, lock ${lockFile})\n`,
      );
      expect(r.stdout).toBe('');
      expect([readFileSync('/etc/passwd', 'utf8'), readFileSync('/etc/group', 'utf8')]).toEqual(before);
    } finally {
      rmSync(lockFile, { force: true });
    }
  });

  /** Logs in through a real sshd running the agent in iamUsers mode (the agent user exists from the first login test on). */
  const sshAs = async (user: string, key: ClientKey, command: string) => {
    let sshd: Sshd | undefined;
    try {
      sshd = await startSshd({
        dir,
        authorizedKeysCommand: `${agent} --config ${configPath} %u %f`,
        authorizedKeysCommandUser: AGENT_USER,
      });
      return await sshLogin(sshd.port, user, key, command);
    } finally {
      await sshd?.stop();
    }
  };

  it('a created account logs in with its IAM key through sshd (iamUsers mode)', async () => {
    const ids = await createAgentUser(AGENT_USER, join(dir, 'agent-home'));
    mkdirSync(join(dir, 'cache'), { mode: 0o700 });
    chownSync(join(dir, 'cache'), ids.uid, ids.gid);
    const r = await sshAs(`${P}-alice`, alice, 'id -un');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`${P}-alice`);
  });

  it('removes a managed account whose IAM user left the allowed group, with its home', async () => {
    const home = passwd(`${P}-bob`)?.[5] as string;
    expect(existsSync(home)).toBe(true);
    await clients(moto).iam.send(
      new RemoveUserFromGroupCommand({ GroupName: `${P}-Devs`, UserName: `${P}-bob` }),
    );
    await publish();
    const r = await sync();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`remove user ${P}-bob and its home`));
    expect(passwd(`${P}-bob`)).toBeUndefined();
    expect(existsSync(home)).toBe(false);
    expect(passwd(`${P}-alice`)).toBeDefined();
  });

  it('changes nothing when directory.json cannot be read (S3 down)', async () => {
    await clients(moto).iam.send(
      new RemoveUserFromGroupCommand({ GroupName: `${P}-Devs`, UserName: `${P}-alice` }),
    );
    await publish();
    writeConfig(`http://127.0.0.1:${await freePort()}`);
    const r = await sync('--allow-mass-removal');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot read directory.json: .*nothing changed/);
    expect(passwd(`${P}-alice`)).toBeDefined();
    writeConfig(moto.endpoint);
  });

  it('removes the last managed account without --allow-mass-removal (1 of 1: small hosts offboard from cron)', async () => {
    const r = await sync();
    expect(r.code).toBe(0);
    expect(passwd(`${P}-alice`)).toBeUndefined();
    expect(readFileSync(sudoers, 'utf8')).not.toMatch(/alice/);
    expect(passwd(`${P}-dave`)).toBeDefined();
  });

  it('follows an IAM rename: the account is renamed (usermod -l), keeps its uid and home files, logs in under the new name', async () => {
    const erin = makeClientKey(join(dir, 'keys'), 'erin');
    await iamUserWithKey(moto, `${P}-erin`, erin.openssh, [`${P}-Devs`]);
    await publish();
    expect((await sync()).code).toBe(0);
    const before = passwd(`${P}-erin`);
    const [uid, gid, home] = [Number(before?.[2]), Number(before?.[3]), before?.[5] as string];
    expect(uid).toBe((await readIndex()).users[`${P}-erin`]?.uid);
    writeFileSync(join(home, 'notes.txt'), 'mine\n');
    chownSync(join(home, 'notes.txt'), uid, gid);

    await clients(moto).iam.send(new UpdateUserCommand({ UserName: `${P}-erin`, NewUserName: `${P}-erin2` }));
    await publish();
    expect((await readIndex()).users[`${P}-erin2`]?.uid).toBe(uid);
    const r = await sync();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`rename user ${P}-erin to ${P}-erin2 .*uid ${uid}`));
    expect(r.stdout).toMatch(new RegExp(`rename group ${P}-erin to ${P}-erin2`));
    expect(r.stdout).not.toMatch(/remove user|create user/);

    expect(passwd(`${P}-erin`)).toBeUndefined();
    const after = passwd(`${P}-erin2`);
    const newHome = join(home, '..', `${P}-erin2`);
    expect(after?.slice(2, 6)).toEqual([String(uid), String(gid), `IAM user ${P}-erin2`, newHome]);
    expect(existsSync(home)).toBe(false);
    expect(readFileSync(join(newHome, 'notes.txt'), 'utf8')).toBe('mine\n');
    expect(statSync(join(newHome, 'notes.txt')).uid).toBe(uid);
    expect(groupsOf(`${P}-erin2`)).toEqual([`${P}-erin2`, STAFF, SYNCED].sort());
    expect((await sync()).stdout).toMatch(/sync-users: 0 changes, 0 failures/);

    const login = await sshAs(`${P}-erin2`, erin, 'id -un; id -u; cat notes.txt');
    expect(login.stderr).toBe('');
    expect(login.stdout).toBe(`${P}-erin2\n${uid}\nmine\n`);
  });
});
