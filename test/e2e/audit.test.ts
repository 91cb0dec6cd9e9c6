// End to end: real sshd logging through syslog, the agent as its
// AuthorizedKeysCommand, `iam-authorized-keys ship-audit` (the script or the
// standalone executable) reading that log as a file source and uploading to
// moto's S3 through a fault proxy. Records are read back from the bucket.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, chownSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { GetUserCommand } from '@aws-sdk/client-iam';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditRecord, parseAuditLines, parseAuditObjectKey } from '../../contract/audit.js';
import { withoutNode } from '../../dev/agent-kind.js';
import {
  buildAgent,
  buildCli,
  clients,
  createAgentUser,
  createBucket,
  iamUserWithKey,
  publish,
  RUN_TAG,
} from '../../dev/host.js';
import { type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../dev/moto.js';
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
import { waitFor } from '../../dev/wait.js';
import { runAgent } from '../helpers/agent.js';
import { type FakeImds, IMDS_IDENTITY, startFakeImds } from '../helpers/fake-imds.js';
import { type FaultProxy, s3Error, startFaultProxy } from '../helpers/fault-proxy.js';

const BUCKET = 'e2e-audit-keys';
const AUDIT = 'e2e-audit-trail';
const LOCAL = `iake2e-aud-${RUN_TAG}`;
const OTHER = `iake2e-aux-${RUN_TAG}`;
const AGENT_USER = `iake2e-aag-${RUN_TAG}`;
const GROUP = 'e2e-audit-admins';

describe('ship-audit: the login trail from a real sshd to the audit bucket', () => {
  let moto: Moto;
  let proxy: FaultProxy;
  let imds: FakeImds;
  let sshd: Sshd;
  let dir: string;
  let agent: string;
  let syslog: SyslogSink;
  let configPath: string;
  let stateDir: string;
  let alice: ClientKey;
  let bob: ClientKey;
  let chained: ClientKey;
  let alicePubOnly: ClientKey;
  let aliceId: string;
  const seen = new Set<string>();

  const env = (): NodeJS.ProcessEnv => ({
    PATH: '/usr/bin:/bin:/usr/sbin:/sbin',
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL: proxy.endpoint,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint,
  });
  const shipArgs = () => [
    'ship-audit',
    '--config',
    configPath,
    '--state-dir',
    stateDir,
    '--agent-user',
    AGENT_USER,
  ];
  const shipAudit = () => runAgent(agent, shipArgs(), env());

  const writeConfig = (spoolMaxBytes = 1024 * 1024) =>
    writeFileSync(
      configPath,
      JSON.stringify({
        bucket: BUCKET,
        region: TEST_REGION,
        endpoint: proxy.endpoint,
        users: { [LOCAL]: [`groups/${GROUP}`] },
        // iamUsers mode makes the agent read (and cache) directory.json: the record's iamUserId comes from it.
        iamUsers: { allowGroups: ['e2e-audit-nobody'] },
        cache: { dir: join(dir, 'cache'), ttlSeconds: 300, maxStaleSeconds: 600 },
        syslogSocket: syslog.socket,
        chain: [join(dir, 'chain.sh'), '%u', '%f'],
        audit: { bucket: AUDIT, source: syslog.file, spoolMaxBytes },
      }),
      { mode: 0o644 },
    );

  /** Every record in the audit bucket, in object-key then line order, with its object key. */
  async function bucketRecords(): Promise<{ key: string; record: AuditRecord }[]> {
    const { s3 } = clients(moto);
    const list = await s3.send(new ListObjectsV2Command({ Bucket: AUDIT, Prefix: 'logins/' }));
    const out: { key: string; record: AuditRecord }[] = [];
    for (const o of list.Contents ?? []) {
      const body = await (
        await s3.send(new GetObjectCommand({ Bucket: AUDIT, Key: o.Key }))
      ).Body?.transformToString();
      const parsed = parseAuditLines(body ?? '');
      expect(parsed.rejected).toEqual([]);
      for (const record of parsed.records) out.push({ key: o.Key as string, record });
    }
    return out;
  }
  /** Records not returned by an earlier call. */
  async function newRecords(): Promise<AuditRecord[]> {
    const fresh = (await bucketRecords()).map((r) => r.record).filter((r) => !seen.has(r.id));
    for (const r of fresh) seen.add(r.id);
    return fresh;
  }
  /** Runs ship-audit until `logouts` logout records of this phase are in the bucket; returns the phase's records. */
  async function shipUntil(logouts: number): Promise<AuditRecord[]> {
    const got: AuditRecord[] = [];
    await waitFor(
      async () => {
        await syslog.settled();
        const r = await shipAudit();
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        got.push(...(await newRecords()));
        return got.filter((x) => x.event === 'logout').length >= logouts;
      },
      { timeoutMs: 30_000, intervalMs: 300, what: `${logouts} logout records in the bucket` },
    );
    return got;
  }

  beforeAll(async () => {
    requireSshd();
    moto = await startMoto();
    proxy = await startFaultProxy(moto.endpoint);
    imds = await startFakeImds();
    dir = makeTrustedDir('audit');
    const cli = await buildCli();
    agent = await buildAgent(dir);
    syslog = await startSyslogSink(dir);
    const ids = await createAgentUser(AGENT_USER, join(dir, 'agent-home'));
    mkdirSync(join(dir, 'cache'), { mode: 0o700 });
    chownSync(join(dir, 'cache'), ids.uid, ids.gid);
    stateDir = join(dir, 'audit-state');
    configPath = join(dir, 'config.json');
    createLocalUser(LOCAL);
    createLocalUser(OTHER);
    const keys = join(dir, 'client-keys');
    mkdirSync(keys, { mode: 0o700 });
    alice = makeClientKey(keys, 'alice');
    bob = makeClientKey(keys, 'bob');
    chained = makeClientKey(keys, 'chained');
    // alice's public key alone: ssh offers it (sshd asks the agent, which matches it) but cannot sign.
    mkdirSync(join(keys, 'pub-only'), { mode: 0o700 });
    copyFileSync(`${alice.privateKey}.pub`, join(keys, 'pub-only', 'alice.pub'));
    alicePubOnly = { ...alice, privateKey: join(keys, 'pub-only', 'alice.pub') };
    // The chained command (as EC2 Instance Connect would be): prints one key of its own.
    writeFileSync(join(dir, 'chain.sh'), `#!/bin/sh\necho '${chained.openssh} chained'\n`, { mode: 0o755 });

    await createBucket(moto, BUCKET);
    await createBucket(moto, AUDIT);
    await iamUserWithKey(moto, 'alice', alice.openssh, [GROUP]);
    await iamUserWithKey(moto, 'bob', bob.openssh, ['e2e-audit-devs']);
    aliceId = (await clients(moto).iam.send(new GetUserCommand({ UserName: 'alice' }))).User?.UserId ?? '';
    await publish(cli, moto, BUCKET);
    writeConfig();

    sshd = await startSshd({
      dir,
      authorizedKeysCommand: `${agent} --config ${configPath} %u %f`,
      authorizedKeysCommandUser: AGENT_USER,
      syslogSocket: syslog.socket,
    });
    // The first run starts the trail at the log's end.
    const first = await shipAudit();
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await sshd?.stop();
    await proxy?.stop();
    await imds?.stop();
    await moto?.stop();
    syslog?.stop();
    removeLocalUser(LOCAL);
    removeLocalUser(OTHER);
    removeLocalUser(AGENT_USER);
    if (dir) removeDir(dir);
  });

  it("alice's key as the mapped local user: exactly one login record with every field, and a logout with the duration", async () => {
    const r = await sshLogin(sshd.port, LOCAL, alice, 'sleep 2');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const records = await shipUntil(1);
    const login = records.find((x) => x.event === 'login');
    expect(records.map((x) => x.event)).toEqual(['login', 'logout']);
    expect(login).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      event: 'login',
      instanceId: IMDS_IDENTITY.instanceId,
      accountId: IMDS_IDENTITY.accountId,
      region: IMDS_IDENTITY.region,
      hostname: hostname(),
      localUser: LOCAL,
      iamUser: 'alice',
      iamUserId: aliceId,
      keyId: null,
      fingerprint: alice.fingerprint,
      principal: `groups/${GROUP}`,
      keySource: 'iam',
      // The first login: the agent read the key from S3 (the signature check then hit the cache).
      fetchedFrom: 's3',
      verifiedBy: 'cache',
      sourceIp: '127.0.0.1',
      sourcePort: expect.any(Number),
      sshdPid: expect.any(Number),
    });
    const logout = records.find((x) => x.event === 'logout');
    expect(logout).toMatchObject({
      ...login,
      id: expect.any(String),
      time: expect.any(String),
      event: 'logout',
    });
    expect(logout?.id).not.toBe(login?.id);
    // sshd's log times have whole seconds: a 2 s session lasts 1 to 3 s by them.
    expect(logout?.durationSeconds).toBeGreaterThanOrEqual(1);
    expect(logout?.durationSeconds).toBeLessThanOrEqual(30);
    const objects = await bucketRecords();
    const key = parseAuditObjectKey(objects[0]?.key ?? '');
    expect(key).not.toBeNull();
  });

  it('no record for a refused key, a key offered without its private key, or a wrong local user', async () => {
    const before = syslog.lines().length;
    expect((await sshLogin(sshd.port, LOCAL, bob)).code).toBe(255);
    expect((await sshLogin(sshd.port, LOCAL, alicePubOnly)).code).toBe(255);
    expect((await sshLogin(sshd.port, OTHER, alice)).code).toBe(255);
    // A control login after them, so the run below has read past them.
    expect((await sshLogin(sshd.port, LOCAL, alice)).code).toBe(0);
    const records = await shipUntil(1);
    expect(records.map((x) => [x.event, x.localUser, x.iamUser])).toEqual([
      ['login', LOCAL, 'alice'],
      ['logout', LOCAL, 'alice'],
    ]);
    // The key offered without its private key was matched by the agent (queried), yet gave no record.
    const queried = syslog
      .lines()
      .slice(before)
      .filter((l) => l.includes(`key-matched user=${LOCAL} fingerprint=${alice.fingerprint}`));
    expect(queried.length).toBeGreaterThanOrEqual(3); // pub-only query + the control's query and signature check
  });

  it('a key from the chained command: a record with iamUser null and keySource chain', async () => {
    expect((await sshLogin(sshd.port, LOCAL, chained)).code).toBe(0);
    const records = await shipUntil(1);
    expect(records.find((x) => x.event === 'login')).toMatchObject({
      fingerprint: chained.fingerprint,
      iamUser: null,
      iamUserId: null,
      principal: null,
      keySource: 'chain',
      fetchedFrom: null,
    });
  });

  it('20 parallel logins: 20 login records, each its own sshd and port', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => sshLogin(sshd.port, LOCAL, alice, 'sleep 1')),
    );
    expect(results.map((r) => r.code)).toEqual(Array(20).fill(0));
    const records = await shipUntil(20);
    const logins = records.filter((x) => x.event === 'login');
    expect(logins).toHaveLength(20);
    expect(new Set(logins.map((x) => x.sshdPid)).size).toBe(20);
    expect(new Set(logins.map((x) => x.sourcePort)).size).toBe(20);
    expect(records.filter((x) => x.event === 'logout')).toHaveLength(20);
  });

  it('S3 unreachable while shipping: spooled, then shipped once it is back, none lost or duplicated', async () => {
    proxy.options = {
      fault: (q) => (q.action === 'PutObject' ? s3Error('ServiceUnavailable', 'down', 503) : undefined),
    };
    for (let i = 0; i < 3; i++) expect((await sshLogin(sshd.port, LOCAL, alice)).code).toBe(0);
    await syslog.settled();
    const down = await shipAudit();
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(
      /upload failed, \d+ outbox files kept for the next run: S3 PUT .* answered 503/,
    );
    expect(await newRecords()).toEqual([]);
    proxy.options = {};
    const records = await shipUntil(3);
    expect(records.filter((x) => x.event === 'login')).toHaveLength(3);
    expect(records.filter((x) => x.event === 'logout')).toHaveLength(3);
    const all = (await bucketRecords()).map((x) => x.record.id);
    expect(new Set(all).size).toBe(all.length);
  });

  it('SIGKILL of the shipper after S3 stored the batch but before it knew: the next run sends the same object (412), no duplicate', async () => {
    for (let i = 0; i < 2; i++) expect((await sshLogin(sshd.port, LOCAL, alice)).code).toBe(0);
    await syslog.settled();
    await new Promise((r) => setTimeout(r, 1500)); // sshd logs the logouts after the client has gone
    await syslog.settled();
    let shipper: ChildProcess | undefined;
    let stored = 0;
    proxy.options = {
      fault: (q) =>
        q.action === 'PutObject'
          ? {
              kind: 'forward-then-hang',
              forwarded: (up) => {
                if (up.status === 200) stored++;
                shipper?.kill('SIGKILL');
              },
            }
          : undefined,
    };
    const [cmd, argv] = withoutNode(agent, shipArgs());
    shipper = spawn(cmd, argv, { env: env(), stdio: 'ignore' });
    const exit = await new Promise<string | null>((r) => shipper?.once('exit', (_c, sig) => r(sig)));
    expect(exit).toBe('SIGKILL');
    expect(stored).toBe(1);
    expect(existsSync(join(stateDir, 'ship.json'))).toBe(true);
    proxy.options = {};
    const again = await shipAudit();
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/1 already there from an earlier run/);
    const records = await newRecords();
    expect(records.filter((x) => x.event === 'login')).toHaveLength(2);
    const all = (await bucketRecords()).map((x) => x.record.id);
    expect(new Set(all).size).toBe(all.length);
    expect(existsSync(join(stateDir, 'ship.json'))).toBe(false);
  });

  it('spool limit: the oldest records are dropped and the count is shipped with the next batch', async () => {
    writeConfig(64 * 1024);
    proxy.options = {
      fault: (q) => (q.action === 'PutObject' ? s3Error('ServiceUnavailable', 'down', 503) : undefined),
    };
    // Logins written straight into the log (as the file source reads it), 4 runs of 60.
    const stamp = () => {
      const d = new Date();
      const two = (n: number) => String(n).padStart(2, '0');
      const mon = d.toLocaleString('en-US', { month: 'short' });
      return `${mon} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    };
    let pid = 3_000_000;
    for (let run = 0; run < 4; run++) {
      const lines: string[] = [];
      for (let i = 0; i < 60; i++, pid++) {
        lines.push(
          `<86>${stamp()} iam-authorized-keys: key-matched user=${LOCAL} fingerprint=${alice.fingerprint} owner=alice principal=groups/${GROUP} source=cache sshd_pid=${pid}`,
          `<38>${stamp()} sshd[${pid}]: Accepted publickey for ${LOCAL} from 10.9.0.1 port ${20000 + (pid % 40000)} ssh2: ED25519 ${alice.fingerprint}`,
        );
      }
      appendFileSync(syslog.file, `${lines.join('\n')}\n`);
      expect((await shipAudit()).code).toBe(1);
    }
    proxy.options = {};
    const r = await shipAudit();
    expect(r.code).toBe(0);
    const records = (await newRecords()).filter((x) => x.sshdPid >= 3_000_000);
    const withCount = records.filter((x) => x.droppedBefore !== undefined);
    expect(withCount).toHaveLength(1);
    const dropped = withCount[0]?.droppedBefore ?? 0;
    expect(dropped).toBeGreaterThan(0);
    expect(records.length + dropped).toBe(240);
    // The first run's batch was already written ahead for upload (it may be in the bucket): kept. Of the rest,
    // the oldest went; the newest run's are all there, and the order holds.
    const pids = records.map((x) => x.sshdPid);
    expect(pids.slice(0, 60)).toEqual(Array.from({ length: 60 }, (_, i) => 3_000_000 + i));
    expect(pids.slice(-60)).toEqual(Array.from({ length: 60 }, (_, i) => 3_000_180 + i));
    expect([...pids].sort((a, b) => a - b)).toEqual(pids);
    expect(pids[60]).toBe(3_000_060 + dropped);
    writeConfig();
  });
});
