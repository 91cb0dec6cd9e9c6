// sync-users --renumber (docs/migration.md, docs/host-agent.md "Renumbering
// adopted accounts"), end to end on this machine: accounts made exactly as
// aws-ec2-ssh's import_users.sh makes them, with whatever uid useradd picks,
// are given the uid published for their IAM user (private group and home files
// along), so a real ssh login through iamUsers works with no old command
// chained; an account with a running process is reported and left alone, and
// renumbered by the next run once the process is gone; an account whose
// published uid another account holds is refused.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
const BUCKET = 'e2e-renumber-keys';
const P = `rn-${RUN_TAG}`;
const DEVS = `${P}-Devs`;
/** aws-ec2-ssh's LOCAL_MARKER_GROUP (per run here). */
const MARKER = `rn-synced-${RUN_TAG}`;
const AGENT_USER = `rn-sa-${RUN_TAG}`;
/** Renumbered at the first run. */
const ANN = `${P}-ann`;
/** Has a process running at the first run. */
const BEA = `${P}-bea`;
/** Its published uid is held by SVC, an account nobody manages. */
const CY = `${P}-cy`;
const SVC = `${P}-svc`;
const ACCOUNTS = [ANN, BEA, CY, SVC];
// Offset 50: never one of the uids sync-users.test.ts (60000 + n*100) or migration.test.ts (64000 + n*100) publishes.
const UID_BASE = 62050 + (process.pid % 40) * 100;

const gidOf = (name: string) => Number(passwd(name)?.[3]);
const owner = (path: string) => {
  const st = statSync(path);
  return [st.uid, st.gid];
};

describe('sync-users --renumber: adopted aws-ec2-ssh accounts get their published uid', () => {
  let moto: Moto;
  let dir: string;
  let agent: string;
  let configPath: string;
  let ann: ClientKey;
  let bea: ClientKey;
  let published: Record<string, number>;
  /** The uids and gids aws-ec2-ssh's useradd gave them (its gids are numbered apart from the uids). */
  const old: Record<string, number> = {};
  const oldGid: Record<string, number> = {};
  let busy: ChildProcess | undefined;

  const writeConfig = (syncUsers: Record<string, unknown> = {}) =>
    writeConfigFile(configPath, {
      bucket: BUCKET,
      region: TEST_REGION,
      endpoint: moto.endpoint,
      iamUsers: { allowGroups: [DEVS] },
      cache: { dir: join(dir, 'cache'), ttlSeconds: 0, maxStaleSeconds: 0 },
      syslogSocket: join(dir, 'no-syslog.sock'),
      syncUsers: { markerGroup: MARKER, sudoGroups: [DEVS], ...syncUsers },
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
  /** One login through a real sshd running the agent, no chain (UsePAM yes: aws-ec2-ssh's accounts have '!'). */
  const login = async (user: string, key: ClientKey, command: string) => {
    const sshd = await startSshd({
      dir,
      options: ['UsePAM=yes'],
      authorizedKeysCommand: `${agent} --config ${configPath} %u %f`,
      authorizedKeysCommandUser: AGENT_USER,
    });
    try {
      return await sshLogin(sshd.port, user, key, command);
    } finally {
      await sshd.stop();
    }
  };
  const stopBusy = async () => {
    if (!busy || busy.exitCode !== null || busy.signalCode !== null) return;
    const exited = new Promise((resolve) => busy?.once('exit', resolve));
    busy.kill('SIGKILL');
    await exited;
  };

  beforeAll(async () => {
    requireSshd();
    for (const u of [...ACCOUNTS, AGENT_USER]) removeLocalUser(u);
    spawnSync('groupdel', [MARKER]);
    moto = await startMoto();
    dir = makeTrustedDir('renumber');
    configPath = join(dir, 'config.json');
    const [cli, built] = await Promise.all([buildCli(), buildAgent(dir)]);
    agent = built;
    const keys = join(dir, 'keys');
    mkdirSync(keys, { mode: 0o700 });
    ann = makeClientKey(keys, 'ann');
    bea = makeClientKey(keys, 'bea');
    await createBucket(moto, BUCKET);
    await iamUserWithKey(moto, ANN, ann.openssh, [DEVS]);
    await iamUserWithKey(moto, BEA, bea.openssh, [DEVS]);
    await iamUserWithKey(moto, CY, makeClientKey(keys, 'cy').openssh, [DEVS]);
    await run(process.execPath, [cli, 'publish', '--bucket', BUCKET, '--uid-base', String(UID_BASE)], {
      env: awsEnv(moto),
    });
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const r = await clients(moto).s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'index.json' }));
    const index = JSON.parse(
      await (r.Body as { transformToString(): Promise<string> }).transformToString(),
    ) as {
      users: Record<string, { uid: number }>;
    };
    published = Object.fromEntries(Object.entries(index.users).map(([n, u]) => [n, u.uid]));

    // The host as aws-ec2-ssh left it, plus a service account that happens to hold cy's published uid.
    await run('groupadd', [MARKER]);
    for (const u of [ANN, BEA, CY]) {
      await importUsersSh(u, MARKER);
      old[u] = uidOf(u);
      oldGid[u] = gidOf(u);
    }
    await run('useradd', ['-M', '-u', String(published[CY]), '-s', '/usr/sbin/nologin', SVC]);
    writeFileSync(join('/home', ANN, 'notes.txt'), 'mine\n');
    chownSync(join('/home', ANN, 'notes.txt'), old[ANN] as number, oldGid[ANN] as number);
    // Files outside the home: the mail spool (usermod -u re-owns it) and any other file (it does not).
    writeFileSync(join('/var/mail', ANN), '', { mode: 0o660 });
    chownSync(join('/var/mail', ANN), old[ANN] as number, 8);
    writeFileSync(join(dir, 'ann-outside'), 'elsewhere\n');
    chownSync(join(dir, 'ann-outside'), old[ANN] as number, oldGid[ANN] as number);

    const ids = await createAgentUser(AGENT_USER, join(dir, 'agent-home'));
    mkdirSync(join(dir, 'cache'), { mode: 0o700 });
    chownSync(join(dir, 'cache'), ids.uid, ids.gid);
    writeConfig();
  });

  afterAll(async () => {
    await stopBusy();
    await moto?.stop();
    for (const u of [...ACCOUNTS, AGENT_USER]) removeLocalUser(u);
    spawnSync('groupdel', [MARKER]);
    if (dir) removeDir(dir);
  });

  it("before: aws-ec2-ssh's uids are not the published ones, so iamUsers alone refuses the login", async () => {
    for (const u of [ANN, BEA, CY]) expect(old[u]).not.toBe(published[u]);
    const r = await login(ANN, ann, 'id -un');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
  });

  it('--dry-run --renumber shows each renumbering and each refusal, and changes nothing', async () => {
    const r = await sync('--dry-run', '--renumber');
    expect(r.code).toBe(0);
    const [a, ag, pa, b, bg, pb] = [
      old[ANN],
      oldGid[ANN],
      published[ANN],
      old[BEA],
      oldGid[BEA],
      published[BEA],
    ];
    expect(r.stdout.trim().split('\n')).toEqual([
      `would renumber user ${ANN} from uid ${a} to ${pa} (IAM ${ANN}; files outside /home/${ANN} keep uid ${a})`,
      `would renumber group ${ANN} from gid ${ag} to ${pa}`,
      `would give files of gid ${ag} in /home/${ANN} gid ${pa}`,
      `would renumber user ${BEA} from uid ${b} to ${pb} (IAM ${BEA}; files outside /home/${BEA} keep uid ${b})`,
      `would renumber group ${BEA} from gid ${bg} to ${pb}`,
      `would give files of gid ${bg} in /home/${BEA} gid ${pb}`,
      `would write ${join(dir, 'sudoers')} for: ${ANN}, ${BEA}, ${CY}`,
      'sync-users --dry-run: would renumber 2 accounts',
    ]);
    expect(r.stderr).toContain(
      `sync-users: managed account ${CY} has uid ${old[CY]}, index says ${published[CY]}: not renumbered, uid ${published[CY]} is used by local account ${SVC}`,
    );
    for (const u of [ANN, BEA, CY]) expect(uidOf(u)).toBe(old[u]);
  });

  it('a run: the idle account is renumbered (group, home files and mail spool along); the busy one is reported and left as is', async () => {
    // The earlier login's sshd session process must be gone, or ann is busy too.
    await waitUntilNoProcesses(old[ANN] as number);
    busy = spawn('sleep', ['300'], { uid: old[BEA] as number, gid: oldGid[BEA] as number, stdio: 'ignore' });
    const r = await sync('--renumber');
    expect(r.code).toBe(1);
    const pa = published[ANN] as number;
    expect(r.stdout).toContain(`renumber user ${ANN} from uid ${old[ANN]} to ${pa}`);
    expect(r.stderr).toMatch(
      new RegExp(
        `FAILED renumber user ${BEA} from uid ${old[BEA]} to ${published[BEA]} .*user ${BEA} is currently used by process ${busy.pid}; the next run tries again`,
      ),
    );
    expect(r.stderr).toContain(`FAILED renumber group ${BEA} from gid ${oldGid[BEA]}`);
    expect(r.stdout).toContain(
      'sync-users: 3 changes, 3 failures, 1 skipped, 0 removals refused, 1 renumbered',
    );

    expect([uidOf(ANN), gidOf(ANN)]).toEqual([pa, pa]);
    expect(owner(join('/home', ANN))).toEqual([pa, pa]);
    expect(owner(join('/home', ANN, 'notes.txt'))).toEqual([pa, pa]);
    expect(owner(join('/var/mail', ANN))[0]).toBe(pa);
    // Outside the home and the mail spool, files keep the old uid (documented: find / -xdev -uid OLD).
    expect(owner(join(dir, 'ann-outside'))).toEqual([old[ANN], oldGid[ANN]]);
    expect([uidOf(BEA), gidOf(BEA)]).toEqual([old[BEA], oldGid[BEA]]);
    expect(uidOf(CY)).toBe(old[CY]);
    // Sudo lines by uid: the new one for ann, the one bea really has for bea.
    const sudoers = readFileSync(join(dir, 'sudoers'), 'utf8');
    expect(sudoers).toContain(`#${pa} ALL=(ALL) NOPASSWD:ALL`);
    expect(sudoers).toContain(`#${old[BEA]} ALL=(ALL) NOPASSWD:ALL`);
    expect(sudoers).not.toContain(`#${old[ANN]} ALL`);
  });

  it('the renumbered account logs in through iamUsers alone and owns its files; the busy one is still refused', async () => {
    const pa = published[ANN] as number;
    const r = await login(ANN, ann, 'id -u; id -g; cat notes.txt');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${pa}\n${pa}\nmine\n`);
    const b = await login(BEA, bea, 'id -un');
    expect(b.code).not.toBe(0);
  });

  it('once the process is gone, the next run (syncUsers.renumber in the config) renumbers it; then nothing is left to do', async () => {
    await stopBusy();
    await waitUntilNoProcesses(old[BEA] as number);
    writeConfig({ renumber: true });
    const r = await sync();
    expect(r.code).toBe(0);
    const pb = published[BEA] as number;
    expect(r.stdout).toContain(`renumber user ${BEA} from uid ${old[BEA]} to ${pb}`);
    expect(r.stdout).toContain(
      'sync-users: 3 changes, 0 failures, 1 skipped, 0 removals refused, 1 renumbered',
    );
    expect([uidOf(BEA), gidOf(BEA)]).toEqual([pb, pb]);
    expect(readFileSync(join(dir, 'sudoers'), 'utf8')).toContain(`#${pb} ALL=(ALL) NOPASSWD:ALL`);
    const login2 = await login(BEA, bea, 'id -u');
    expect(login2.stderr).toBe('');
    expect(login2.stdout.trim()).toBe(String(pb));

    const again = await sync();
    expect(again.stdout).toContain(
      'sync-users: 0 changes, 0 failures, 1 skipped, 0 removals refused, 0 renumbered',
    );
    expect(again.stderr).toContain(`not renumbered, uid ${published[CY]} is used by local account ${SVC}`);
  });
});
