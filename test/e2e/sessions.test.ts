// Revocation ends live sessions, end to end: alice and bob log in to one shared
// account through groups/ss-admins over a real sshd (whose syslog lines reach a
// log file, the login trail's source) with long-running commands; alice is
// removed from the group and the publisher runs; `sessions --end-revoked`, run
// as its timer would, ends her session (her ssh client exits) and keeps bob's.
// In iamUsers mode, carol logs in to her own account; taken out of
// iamUsers.allowGroups (her own object still publishes her key), her session
// ends too. With S3 unreachable and the cache stale, it ends nothing and says why.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RemoveUserFromGroupCommand } from '@aws-sdk/client-iam';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../contract/audit.js';
import { directoryKey, parseDirectory } from '../../contract/directory.js';
import { AGENT_KIND } from '../../dev/agent-kind.js';
import {
  awsEnv,
  buildAgent,
  buildCli,
  clients,
  createAgentUser,
  createBucket,
  iamUserWithKey,
  publish,
  RUN_TAG,
} from '../../dev/host.js';
import { freePort, type Moto, startMoto, TEST_REGION } from '../../dev/moto.js';
import {
  type ClientKey,
  createLocalUser,
  makeClientKey,
  makeTrustedDir,
  removeDir,
  removeLocalUser,
  requireSshd,
  type Sshd,
  sshClientArgs,
  sshClientEnv,
  sshLogin,
  startSshd,
} from '../../dev/sshd.js';
import { type SyslogSink, startSyslogSink } from '../../dev/syslog-sink.js';
import { waitFor } from '../../dev/wait.js';
import { readSegment, segments } from '../../host-agent/admin/audit/spool.js';
import { runAgent } from '../helpers/agent.js';

const BUCKET = 'ss-sessions';
const GROUP = 'ss-admins';
/** iamUsers.allowGroups: carol's way in to her own account. */
const DEVS = 'ss-devs';
/** Published uids of this file's IAM users, apart from the other e2e files' (sync-users, renumber, migration, tag-keys). */
const UID_BASE = 66000 + (process.pid % 40) * 100;
/** How often this test runs `sessions --end-revoked`, standing in for its timer (1 minute on a host). */
const PERIOD_MS = 5000;

interface Session {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  done: boolean;
}

describe(`sessions --end-revoked over a real sshd (${AGENT_KIND} agent)`, () => {
  requireSshd();
  const shared = `ss-shared-${RUN_TAG}`;
  /** carol's IAM user, and (iamUsers mode) the local account named after it. */
  const carolName = `ss-carol-${RUN_TAG}`;
  const agentUser = `ss-agent-${RUN_TAG}`;
  let dir: string;
  let moto: Moto;
  let sshd: Sshd;
  let sink: SyslogSink;
  let agent: string;
  let cli: string;
  let configPath: string;
  let stateDir: string;
  let config: Record<string, unknown>;
  let alice: ClientKey;
  let bob: ClientKey;
  let carol: ClientKey;
  const sessions: Session[] = [];
  const publishAll = () => publish(cli, moto, BUCKET, ['--uid-base', String(UID_BASE)]);

  const writeConfig = (c: Record<string, unknown>) => {
    config = c;
    writeFileSync(configPath, JSON.stringify(c), { mode: 0o644 });
  };
  const sessionsCmd = (...args: string[]) =>
    runAgent(
      agent,
      ['sessions', '--config', configPath, '--state-dir', stateDir, '--grace-seconds', '2', ...args],
      {
        ...awsEnv(moto),
      },
    );

  /** `ssh ... sleep 600` (as the shared account by default): a session that lasts until it is ended. */
  const longSession = (key: ClientKey, account = shared): Session => {
    const child = spawn('ssh', sshClientArgs(sshd.port, account, key, 'sleep 600'), {
      stdio: 'ignore',
      env: sshClientEnv(),
    });
    const s: Session = {
      child,
      done: false,
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    };
    void s.exited.then(() => {
      s.done = true;
    });
    sessions.push(s);
    return s;
  };

  /**
   * As the timer: `sessions --end-revoked` every PERIOD_MS until a run ends `iamUser`'s session (a fresh cache entry
   * can still hold the old state for up to the TTL); that run's stdout and the number of runs.
   */
  const endRevokedUntil = async (session: Session, iamUser: string) => {
    const start = performance.now();
    for (let runs = 1; !session.done; runs++) {
      const r = await sessionsCmd('--end-revoked');
      expect(r.code, r.stderr).toBe(0);
      if (r.stdout.includes(`ended ${iamUser}`)) return { ended: r.stdout, runs };
      if (performance.now() - start > 120_000) break;
      await new Promise((res) => setTimeout(res, PERIOD_MS));
    }
    throw new Error(`${iamUser}'s session not ended by --end-revoked within 120 s`);
  };

  const listed = async () => {
    const r = await sessionsCmd('--json');
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as {
      iamUser: string | null;
      localUser: string;
      principal: string;
      fingerprint: string;
      sshdPid: number;
      pids: number[];
    }[];
  };

  /** The records waiting for ship-audit. */
  const outbox = async (): Promise<AuditRecord[]> =>
    (await Promise.all((await segments(stateDir)).map(readSegment))).flat();

  beforeAll(async () => {
    dir = makeTrustedDir('sessions');
    moto = await startMoto();
    cli = await buildCli();
    agent = await buildAgent(dir);
    sink = await startSyslogSink(dir);
    const ids = await createAgentUser(agentUser, join(dir, 'agent-home'));
    const cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir, { mode: 0o700 });
    chownSync(cacheDir, ids.uid, ids.gid);
    stateDir = join(dir, 'audit-state');
    configPath = join(dir, 'config.json');
    writeConfig({
      bucket: BUCKET,
      region: TEST_REGION,
      endpoint: moto.endpoint,
      users: { [shared]: [`groups/${GROUP}`] },
      cache: { dir: cacheDir },
      syslogSocket: sink.socket,
      audit: { bucket: 'ss-audit', source: join(dir, 'syslog.txt') },
      sessions: { endRevoked: 'access' },
    });
    createLocalUser(shared);
    const keys = join(dir, 'client-keys');
    mkdirSync(keys, { mode: 0o700 });
    alice = makeClientKey(keys, 'ss-alice');
    bob = makeClientKey(keys, 'ss-bob');
    carol = makeClientKey(keys, 'ss-carol');
    await createBucket(moto, BUCKET);
    await iamUserWithKey(moto, 'ss-alice', alice.openssh, [GROUP]);
    await iamUserWithKey(moto, 'ss-bob', bob.openssh, [GROUP]);
    await publishAll();
    // sshd's own lines (with its pid) go to the sink's file through /dev/log, as a syslog daemon would write them.
    sshd = await startSshd({
      dir,
      authorizedKeysCommand: `${agent} --config ${configPath} %u %f`,
      authorizedKeysCommandUser: agentUser,
      syslogSocket: sink.socket,
    });
    // The trail starts where the log is when it first runs.
    expect(await listed()).toEqual([]);
  }, 120_000);

  afterAll(async () => {
    for (const s of sessions) if (!s.done) s.child.kill('SIGKILL');
    await sshd?.stop();
    await moto?.stop();
    sink?.stop();
    removeLocalUser(shared);
    removeLocalUser(carolName);
    removeLocalUser(agentUser);
    if (dir) removeDir(dir);
  });

  it("lists both live sessions with their IAM owner, from sshd's and the agent's log lines", async () => {
    longSession(alice);
    longSession(bob);
    let live: Awaited<ReturnType<typeof listed>> = [];
    await waitFor(
      async () => {
        live = await listed();
        return live.filter((s) => s.iamUser !== null).length === 2;
      },
      { what: 'both sessions listed with their IAM owner', timeoutMs: 30_000 },
    );
    expect(live.map((s) => [s.iamUser, s.localUser, s.principal, s.fingerprint]).sort()).toEqual([
      ['ss-alice', shared, `groups/${GROUP}`, alice.fingerprint],
      ['ss-bob', shared, `groups/${GROUP}`, bob.fingerprint],
    ]);
    // The monitor and the session's own sshd process each.
    for (const s of live) expect(s.pids.length).toBe(2);
    const table = await sessionsCmd();
    expect(table.stdout.split('\n')[0]).toMatch(
      /^START +LOCAL USER +IAM USER +KEY +PRINCIPAL +SOURCE +SSHD PID$/,
    );
  }, 60_000);

  it("alice removed from the group and published: her session is ended within one period, bob's stays", async () => {
    const [aliceSession, bobSession] = sessions as [Session, Session];
    await clients(moto).iam.send(new RemoveUserFromGroupCommand({ UserName: 'ss-alice', GroupName: GROUP }));
    await publishAll();
    const published = performance.now();
    const { ended, runs } = await endRevokedUntil(aliceSession, 'ss-alice');
    const code = await aliceSession.exited;
    const seconds = (performance.now() - published) / 1000;
    console.log(
      `sessions: revocation (publish done) -> alice's ssh client exited in ${seconds.toFixed(1)} s (${runs} runs of --end-revoked every ${PERIOD_MS / 1000} s, cache TTL 30 s, grace 2 s)`,
    );
    expect(ended).toMatch(
      new RegExp(
        `^ended ss-alice as ${shared} from 127\\.0\\.0\\.1 \\(groups/${GROUP}, SHA256:\\S+, sshd pid \\d+\\): access-revoked; SIGHUP \\d, SIGKILL 0$`,
        'm',
      ),
    );
    // The client sees the connection drop.
    expect(code).toBe(255);
    expect(bobSession.done).toBe(false);
    const live = await listed();
    expect(live.map((s) => s.iamUser)).toEqual(['ss-bob']);
    const endedRecords = (await outbox()).filter((r) => r.event === 'ended');
    expect(endedRecords).toHaveLength(1);
    expect(endedRecords[0]).toMatchObject({
      iamUser: 'ss-alice',
      localUser: shared,
      principal: `groups/${GROUP}`,
      fingerprint: alice.fingerprint,
      reason: 'access-revoked',
      sourceIp: '127.0.0.1',
    });
  }, 180_000);

  it("iamUsers: carol's session in her own account ends once she is out of allowGroups, though her key is still published", async () => {
    const [, bobSession] = sessions as [Session, Session];
    await iamUserWithKey(moto, carolName, carol.openssh, [DEVS]);
    await publishAll();
    // Her account as sync-users makes it: named after her IAM user, with her published uid.
    const published = await clients(moto).s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: directoryKey('') }),
    );
    const uid = parseDirectory((await published.Body?.transformToString()) ?? '').users.get(carolName)?.uid;
    expect(uid).toBeGreaterThanOrEqual(UID_BASE);
    removeLocalUser(carolName);
    execFileSync('useradd', ['-m', '-s', '/bin/sh', '-p', '*', '-u', String(uid), carolName]);
    writeConfig({ ...config, iamUsers: { allowGroups: [DEVS] } });
    const carolSession = longSession(carol, carolName);
    await waitFor(async () => (await listed()).some((s) => s.iamUser === carolName), {
      what: "carol's session listed",
      timeoutMs: 30_000,
    });
    expect((await listed()).find((s) => s.iamUser === carolName)).toMatchObject({
      localUser: carolName,
      principal: `users/${carolName}`,
    });

    // Out of the allowed group: users/<carol> still publishes her key, directory.json no longer maps her.
    await clients(moto).iam.send(new RemoveUserFromGroupCommand({ UserName: carolName, GroupName: DEVS }));
    await publishAll();
    const { ended } = await endRevokedUntil(carolSession, carolName);
    expect(ended).toMatch(
      new RegExp(
        `^ended ${carolName} as ${carolName} from 127\\.0\\.0\\.1 \\(users/${carolName}, .*: access-revoked;`,
        'm',
      ),
    );
    expect(await carolSession.exited).toBe(255);
    expect(bobSession.done).toBe(false);
    expect((await listed()).map((s) => s.iamUser)).toEqual(['ss-bob']);
  }, 240_000);

  it('S3 unreachable and the cache stale: nothing ended, one clear line, exit 1', async () => {
    const [, bobSession] = sessions as [Session, Session];
    await clients(moto).iam.send(new RemoveUserFromGroupCommand({ UserName: 'ss-bob', GroupName: GROUP }));
    await publishAll();
    // A login attempt makes the agent cache the group object as published now (without bob): a stale copy that,
    // if it were used, would end bob's session. Alice's key is refused.
    expect((await sshLogin(sshd.port, shared, alice)).code).toBe(255);
    // Nothing listens there; a TTL of 1 s makes every cached entry stale.
    writeConfig({
      ...config,
      endpoint: `http://127.0.0.1:${await freePort()}`,
      cache: { ...(config.cache as object), ttlSeconds: 1 },
    });
    await new Promise((res) => setTimeout(res, 1500));
    const r = await sessionsCmd('--end-revoked');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(
      /^iam-authorized-keys sessions: cannot read the current keys \(cannot read groups\/ss-admins: .+\): 1 of 1 sessions left running, none of them ended$/,
    );
    expect(bobSession.done).toBe(false);
    expect((await listed()).map((s) => s.iamUser)).toEqual(['ss-bob']);
    // alice's and carol's, from the tests before: none for bob.
    expect((await outbox()).filter((r) => r.event === 'ended').map((r) => r.iamUser)).toEqual([
      'ss-alice',
      carolName,
    ]);
  }, 60_000);
});
