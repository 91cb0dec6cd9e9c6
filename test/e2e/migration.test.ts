// Migration (docs/migration.md), end to end on this machine:
// - from aws-ec2-ssh: accounts made exactly as its import_users.sh makes them
//   (useradd --user-group --create-home --shell /bin/bash, then usermod -a -G
//   <LOCAL_MARKER_GROUP>) are adopted by our sync-users with the same marker
//   group: none lost, none re-created, the departed one removed; their uids stay
//   aws-ec2-ssh's, so iamUsers mode refuses them until renumbered, while the
//   old command chained next to ours still lets them in;
// - from an S3 publisher whose per-host script copied users/... groups/...
//   objects into a shared account's authorized_keys: the agent's `users` map
//   serves the same principals, and follows IAM.
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RemoveUserFromGroupCommand } from '@aws-sdk/client-iam';
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
import { type Moto, startMoto, TEST_REGION } from '../../dev/moto.js';
import { waitUntilNoProcesses } from '../../dev/processes.js';
import {
  type ClientKey,
  makeClientKey,
  makeTrustedDir,
  removeDir,
  removeLocalUser,
  requireSshd,
  sshLogin,
  startSshd,
} from '../../dev/sshd.js';
import { runAgent, writeConfig as writeConfigFile } from '../helpers/agent.js';
import { importUsersSh, passwd, uidOf } from './fixtures.js';

const run = promisify(execFile);
const BUCKET = 'e2e-migration-keys';
const P = `mg-${RUN_TAG}`;
const DEVS = `${P}-Devs`;
/** aws-ec2-ssh's LOCAL_MARKER_GROUP (its default is iam-synced-users; per run here). */
const MARKER = `mg-synced-${RUN_TAG}`;
const AGENT_USER = `mg-sa-${RUN_TAG}`;
const ANN = `${P}-ann`;
const BEN = `${P}-ben`;
const CID_IAM = `${P}-cid+ops`;
/** aws-ec2-ssh's clean_iam_username, and ours: + -> .plus. */
const CID = `${P}-cid.plus.ops`;
/** Had an account from aws-ec2-ssh; no longer in IAM. */
const DEE = `${P}-dee`;
/** A shared account the old S3 publisher's per-host script filled (not managed by any sync). */
const APP = `${P}-app`;
const ACCOUNTS = [ANN, BEN, CID, DEE, APP];
const UID_BASE = 64000 + (process.pid % 40) * 100;

describe('migration from aws-ec2-ssh and from an S3-publisher script', () => {
  let moto: Moto;
  let dir: string;
  let cli: string;
  let agent: string;
  let configPath: string;
  let ann: ClientKey;
  let ben: ClientKey;
  let index: { users: Record<string, { uid: number; localName: string | null }> };
  const before = new Map<string, string[] | undefined>();

  const writeConfig = (extra: Record<string, unknown>) =>
    writeConfigFile(configPath, {
      bucket: BUCKET,
      region: TEST_REGION,
      endpoint: moto.endpoint,
      iamUsers: { allowGroups: [DEVS] },
      cache: { dir: join(dir, 'cache'), ttlSeconds: 0, maxStaleSeconds: 0 },
      syslogSocket: join(dir, 'no-syslog.sock'),
      syncUsers: { markerGroup: MARKER },
      ...extra,
    });
  const publish = () =>
    run(process.execPath, [cli, 'publish', '--bucket', BUCKET, '--uid-base', String(UID_BASE)], {
      env: awsEnv(moto),
    });
  const sync = (...extra: string[]) =>
    runAgent(
      agent,
      [
        'sync-users',
        '--config',
        configPath,
        '--sudoers-file',
        join(dir, 'sudoers'),
        '--lock-file',
        join(dir, 'sync.lock'),
        ...extra,
      ],
      awsEnv(moto),
    );
  /**
   * One login through a real sshd that runs the agent (and, with a file, also reads ~/.ssh/authorized_keys).
   * UsePAM yes, as Amazon Linux and Ubuntu ship it: aws-ec2-ssh's accounts have a '!' password field,
   * which sshd without PAM refuses whatever the key.
   */
  const login = async (user: string, key: ClientKey, command: string, authorizedKeysFile?: string) => {
    const sshd = await startSshd({
      dir,
      options: ['UsePAM=yes'],
      authorizedKeysCommand: `${agent} --config ${configPath} %u %f`,
      authorizedKeysCommandUser: AGENT_USER,
      ...(authorizedKeysFile ? { authorizedKeysFile } : {}),
    });
    try {
      return await sshLogin(sshd.port, user, key, command);
    } finally {
      await sshd.stop();
    }
  };

  beforeAll(async () => {
    requireSshd();
    for (const u of [...ACCOUNTS, AGENT_USER]) removeLocalUser(u);
    spawnSync('groupdel', [MARKER]);
    moto = await startMoto();
    dir = makeTrustedDir('migration');
    configPath = join(dir, 'config.json');
    [cli, agent] = await Promise.all([buildCli(), buildAgent(dir)]);
    const keys = join(dir, 'keys');
    mkdirSync(keys, { mode: 0o700 });
    ann = makeClientKey(keys, 'ann');
    ben = makeClientKey(keys, 'ben');
    await createBucket(moto, BUCKET);
    await iamUserWithKey(moto, ANN, ann.openssh, [DEVS]);
    await iamUserWithKey(moto, BEN, ben.openssh, [DEVS]);
    await iamUserWithKey(moto, CID_IAM, makeClientKey(keys, 'cid').openssh, [DEVS]);
    await publish();
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const r = await clients(moto).s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'index.json' }));
    index = JSON.parse(await (r.Body as { transformToString(): Promise<string> }).transformToString());

    // The host as aws-ec2-ssh left it.
    await run('groupadd', [MARKER]);
    for (const u of [ANN, BEN, CID, DEE]) await importUsersSh(u, MARKER);
    writeFileSync(join('/home', ANN, 'notes.txt'), 'mine\n');
    chownSync(join('/home', ANN, 'notes.txt'), uidOf(ANN), uidOf(ANN));
    // The shared account, and the file the old per-host script wrote from groups/<Devs>/authorized_keys.
    await run('useradd', ['-m', '-s', '/bin/sh', '-p', '*', APP]);
    mkdirSync(join('/home', APP, '.ssh'), { mode: 0o700 });
    writeFileSync(join('/home', APP, '.ssh', 'authorized_keys'), `${ben.openssh}\n`, { mode: 0o600 });
    await run('chown', ['-R', `${APP}:${APP}`, join('/home', APP, '.ssh')]);
    for (const u of ACCOUNTS) before.set(u, passwd(u));

    const ids = await createAgentUser(AGENT_USER, join(dir, 'agent-home'));
    mkdirSync(join(dir, 'cache'), { mode: 0o700 });
    chownSync(join(dir, 'cache'), ids.uid, ids.gid);
  });

  afterAll(async () => {
    await moto?.stop();
    for (const u of [...ACCOUNTS, AGENT_USER]) removeLocalUser(u);
    spawnSync('groupdel', [MARKER]);
    removeDir(join('/home', DEE)); // userdel without -r (removeHome false) leaves it
    if (dir) removeDir(dir);
  });

  it('local names are the ones aws-ec2-ssh gives (cid+ops -> cid.plus.ops); its uids are not the published ones', () => {
    expect(index.users[CID_IAM]?.localName).toBe(CID);
    for (const [iam, local] of [
      [ANN, ANN],
      [CID_IAM, CID],
    ] as const) {
      expect(uidOf(local)).toBeLessThan(UID_BASE);
      expect(index.users[iam]?.uid).toBeGreaterThanOrEqual(UID_BASE);
    }
  });

  it('sync-users --dry-run: adopts the marked accounts (no re-creation), removes only the departed one, names every uid left as is', async () => {
    writeConfig({});
    const r = await sync('--dry-run');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/would create user/);
    expect(r.stdout.trim().split('\n')).toEqual([`would remove user ${DEE}`]);
    for (const [iam, local] of [
      [ANN, ANN],
      [BEN, BEN],
      [CID_IAM, CID],
    ] as const) {
      expect(r.stderr).toContain(
        `managed account ${local} has uid ${uidOf(local)}, index says ${index.users[iam]?.uid}: uid left as is`,
      );
    }
  });

  it('sync-users: no account lost or changed but the departed one; the unmarked account untouched; a second run changes nothing', async () => {
    const r = await sync();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`remove user ${DEE}\\n`));
    expect(passwd(DEE)).toBeUndefined();
    for (const u of [ANN, BEN, CID, APP]) expect(passwd(u)).toEqual(before.get(u));
    expect(readFileSync(join('/home', ANN, 'notes.txt'), 'utf8')).toBe('mine\n');
    // Still what aws-ec2-ssh expects (rollback): the same names in the same marker group.
    const members = spawnSync('getent', ['group', MARKER], { encoding: 'utf8' }).stdout.trim().split(':')[3];
    expect(members?.split(',').sort()).toEqual([ANN, BEN, CID].sort());
    expect((await sync()).stdout).toMatch(/sync-users: 0 changes, 0 failures/);
  });

  it("an adopted account keeps aws-ec2-ssh's uid: iamUsers mode refuses it; the old command chained next to ours (with %u) still lets it in", async () => {
    // A stand-in for aws-ec2-ssh's authorized_keys_command.sh (which asks IAM): like it, exit 1 without a user
    // argument (sshd passes the user when the command line has no tokens; our chain passes only what it lists).
    const old = join(dir, 'old-authorized-keys-command');
    writeFileSync(
      old,
      `#!/bin/sh\n[ -z "$1" ] && exit 1\n[ "$1" = "${ANN}" ] && echo '${ann.openssh}'\nexit 0\n`,
      {
        mode: 0o755,
      },
    );
    // A hand-written chain of the bare command (install adds %u to such a line, see plan.test.ts): no user argument.
    writeConfig({ chain: [old] });
    const bare = await login(ANN, ann, 'id -un');
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toMatch(/Permission denied/);

    writeConfig({ chain: [old, '%u'] });
    const side = await login(ANN, ann, 'id -un');
    expect(side.stderr).toBe('');
    expect(side.stdout.trim()).toBe(ANN);

    writeConfig({});
    const asSshd = await runAgent(agent, ['--config', configPath, '--', ANN], awsEnv(moto));
    expect(asSshd).toMatchObject({ code: 0, stdout: '' });
    expect(asSshd.stderr).toContain(
      `local account ${ANN} has uid ${uidOf(ANN)}, not the published uid ${index.users[ANN]?.uid}: not mapped`,
    );
    const alone = await login(ANN, ann, 'id -un');
    expect(alone.code).not.toBe(0);
    expect(alone.stderr).toMatch(/Permission denied/);
  });

  it('renumbered to the published uid (usermod -u), it logs in through iamUsers alone and still owns its files', async () => {
    const uid = index.users[ANN]?.uid as number;
    // The earlier logins' sshd session processes must be gone, or usermod calls ann busy.
    await waitUntilNoProcesses(uidOf(ANN));
    await run('usermod', ['-u', String(uid), ANN]);
    expect(statSync(join('/home', ANN, 'notes.txt')).uid).toBe(uid);
    const r = await login(ANN, ann, 'id -u; cat notes.txt');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${uid}\nmine\n`);
    expect((await sync()).stdout).toMatch(/sync-users: 0 changes, 0 failures/);
  });

  it('from an S3-publisher script: the users map serves the same groups/ principal instead of a per-host authorized_keys copy', async () => {
    writeConfig({});
    const oldWay = await login(APP, ben, 'id -un', '.ssh/authorized_keys');
    expect(oldWay.stdout.trim()).toBe(APP);

    writeConfig({ users: { [APP]: [`groups/${DEVS}`] } });
    const r = await runAgent(agent, ['--config', configPath, '--', APP], awsEnv(moto));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(ben.blob);
    // The copy is gone (AuthorizedKeysFile none): the keys come from the bucket only.
    expect(existsSync(join('/home', APP, '.ssh', 'authorized_keys'))).toBe(true);
    const newWay = await login(APP, ben, 'id -un');
    expect(newWay.stderr).toBe('');
    expect(newWay.stdout.trim()).toBe(APP);

    // It follows IAM with no per-host step: ben leaves the group, one publish later he is out.
    await clients(moto).iam.send(new RemoveUserFromGroupCommand({ GroupName: DEVS, UserName: BEN }));
    await publish();
    const after = await login(APP, ben, 'id -un');
    expect(after.code).not.toBe(0);
  });
});
