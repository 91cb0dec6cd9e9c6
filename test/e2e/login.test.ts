// End to end: IAM (moto) -> real publisher CLI -> S3 (moto) -> the agent as a
// real sshd's AuthorizedKeysCommand -> the real ssh client.
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UpdateSSHPublicKeyCommand } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  sshLogin,
  startSshd,
} from '../../dev/sshd.js';
import { type SyslogSink, startSyslogSink } from '../../dev/syslog-sink.js';
import { waitFor } from '../../dev/wait.js';
import { decodeEntry, encodeEntry } from '../../host-agent/cache.js';
import { writeConfig as writeConfigFile } from '../helpers/agent.js';

const BUCKET = 'e2e-login-keys';
const LOCAL = `iake2e-ops-${RUN_TAG}`;
const AGENT_USER = `iake2e-agent-${RUN_TAG}`;

describe('login through sshd with the agent', () => {
  let moto: Moto;
  let sshd: Sshd;
  let dir: string;
  let cli: string;
  let syslog: SyslogSink;
  let agentIds: { uid: number; gid: number };
  let alice: ClientKey;
  let bob: ClientKey;
  let aliceKeyId: string;
  let configPath: string;
  let cacheDir: string;

  const writeConfig = (over: { ttlSeconds: number; maxStaleSeconds: number; endpoint?: string }) => {
    writeConfigFile(configPath, {
      bucket: BUCKET,
      region: TEST_REGION,
      endpoint: over.endpoint ?? moto.endpoint,
      users: { [LOCAL]: ['groups/e2e-admins'] },
      cache: { dir: cacheDir, ttlSeconds: over.ttlSeconds, maxStaleSeconds: over.maxStaleSeconds },
      syslogSocket: syslog.socket,
    });
  };

  /** Moves every cache entry's fetchedAt back: the cache judges age by it, not by file times. */
  const ageCache = (seconds: number) => {
    for (const name of readdirSync(cacheDir).filter((n) => n.startsWith('o-') || n.startsWith('h-'))) {
      const path = join(cacheDir, name);
      const buf = readFileSync(path);
      const key = JSON.parse(buf.subarray(0, buf.indexOf(0x0a)).toString()).key as string;
      const e = decodeEntry(buf, key);
      if (typeof e === 'string') throw new Error(`bad cache entry ${name}: ${e}`);
      writeFileSync(path, encodeEntry({ ...e, fetchedAt: e.fetchedAt - seconds * 1000 }), { mode: 0o600 });
      chownSync(path, agentIds.uid, agentIds.gid);
    }
  };

  const auditFor = (fingerprintUser: string) =>
    syslog.lines().filter((l) => l.includes('key-matched') && l.includes(`user=${fingerprintUser}`));

  beforeAll(async () => {
    requireSshd();
    moto = await startMoto();
    dir = makeTrustedDir('login');
    cli = await buildCli();
    const agent = await buildAgent(dir);
    syslog = await startSyslogSink(dir);
    agentIds = await createAgentUser(AGENT_USER, join(dir, 'agent-home'));
    cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir, { mode: 0o700 });
    chownSync(cacheDir, agentIds.uid, agentIds.gid);
    configPath = join(dir, 'config.json');
    writeConfig({ ttlSeconds: 0, maxStaleSeconds: 0 });
    createLocalUser(LOCAL);

    const keys = mkdtempKeys();
    alice = makeClientKey(keys, 'alice');
    bob = makeClientKey(keys, 'bob');
    await createBucket(moto, BUCKET);
    aliceKeyId = await iamUserWithKey(moto, 'alice', alice.openssh, ['e2e-admins']);
    await iamUserWithKey(moto, 'bob', bob.openssh, ['e2e-devs']);
    await publish(cli, moto, BUCKET);

    sshd = await startSshd({
      dir,
      authorizedKeysCommand: `${agent} --config ${configPath} %u %f`,
      authorizedKeysCommandUser: AGENT_USER,
    });
  });

  function mkdtempKeys(): string {
    const d = join(dir, 'client-keys');
    mkdirSync(d, { mode: 0o700 });
    return d;
  }

  afterAll(async () => {
    await sshd?.stop();
    await moto?.stop();
    syslog?.stop();
    removeLocalUser(LOCAL);
    removeLocalUser(AGENT_USER);
    if (dir) removeDir(dir);
  });

  it('lets a member of the mapped group log in with their key and audits it', async () => {
    const r = await sshLogin(sshd.port, LOCAL, alice, 'echo "owner=$SSH_KEY_OWNER"');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('owner=alice');
    // logger runs detached from the agent: its line may land just after the login.
    await waitFor(() => auditFor(LOCAL).length > 0, { what: 'an audit line' });
    const audit = auditFor(LOCAL);
    expect(audit.length).toBeGreaterThan(0);
    expect(audit.at(-1)).toMatch(/owner=alice/);
    expect(audit.at(-1)).toMatch(/principal=groups\/e2e-admins/);
  });

  it('refuses the key of an IAM user outside the mapped group, without an audit line', async () => {
    const before = syslog.lines().length;
    const r = await sshLogin(sshd.port, LOCAL, bob);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/Permission denied/);
    // logger runs detached: a line for bob could land late. Wait until every logger has exited and all they sent arrived;
    // alice's login after it shows the trail works at all.
    const aliceBefore = auditFor(LOCAL).length;
    expect((await sshLogin(sshd.port, LOCAL, alice)).code).toBe(0);
    await syslog.settled();
    expect(auditFor(LOCAL).length).toBeGreaterThan(aliceBefore);
    expect(
      syslog
        .lines()
        .slice(before)
        .filter((l) => l.includes('owner=bob')),
    ).toEqual([]);
  });

  it('refuses an unknown local account', async () => {
    const r = await sshLogin(sshd.port, 'root', alice);
    expect(r.code).toBe(255);
  });

  it('serves from the cache within maxStale when S3 is down, and refuses beyond it', async () => {
    writeConfig({ ttlSeconds: 5, maxStaleSeconds: 600 });
    expect((await sshLogin(sshd.port, LOCAL, alice)).code).toBe(0); // fills the cache
    // S3 "stopped": nothing listens on this port any more.
    const dead = `http://127.0.0.1:${await freePort()}`;
    writeConfig({ ttlSeconds: 5, maxStaleSeconds: 600, endpoint: dead });
    ageCache(60); // past the ttl, within maxStale: the agent must try S3, fail, and serve the stale copy
    const before = sshd.log().length;
    const stale = await sshLogin(sshd.port, LOCAL, alice);
    expect(stale.code).toBe(0);
    expect(sshd.log().slice(before)).toMatch(/serving the cached copy/);

    ageCache(3600); // now beyond maxStale: fail closed
    const mark = sshd.log().length;
    const refused = await sshLogin(sshd.port, LOCAL, alice);
    expect(refused.code).toBe(255);
    expect(sshd.log().slice(mark)).toMatch(/past maxStaleSeconds/);
    writeConfig({ ttlSeconds: 30, maxStaleSeconds: 600 });
  });

  it('handles 30 parallel logins, each audited', async () => {
    writeConfig({ ttlSeconds: 30, maxStaleSeconds: 600 });
    const before = auditFor(LOCAL).length;
    const results = await Promise.all(Array.from({ length: 30 }, () => sshLogin(sshd.port, LOCAL, alice)));
    expect(results.map((r) => r.code)).toEqual(Array(30).fill(0));
    // sshd asks once per key check (query and signature): at least one audit line per login.
    // logger runs detached: wait for the lines (a shortfall then fails the assertion below).
    await waitFor(() => auditFor(LOCAL).length - before >= 30, { what: '30 audit lines' }).catch(() => {});
    const after = auditFor(LOCAL).slice(before);
    expect(after.length).toBeGreaterThanOrEqual(30);
    expect(after.every((l) => l.includes('owner=alice'))).toBe(true);
  });

  it('refuses a key deactivated in IAM once published again (ttl 0)', async () => {
    writeConfig({ ttlSeconds: 0, maxStaleSeconds: 0 });
    expect((await sshLogin(sshd.port, LOCAL, alice)).code).toBe(0);
    await clients(moto).iam.send(
      new UpdateSSHPublicKeyCommand({ UserName: 'alice', SSHPublicKeyId: aliceKeyId, Status: 'Inactive' }),
    );
    await publish(cli, moto, BUCKET);
    const r = await sshLogin(sshd.port, LOCAL, alice);
    expect(r.code).toBe(255);
  });

  it('ran the agent under the real sshd (not a fallback): sshd logged the accepted key', () => {
    expect(sshd.log()).toMatch(new RegExp(`Accepted publickey for ${LOCAL} `));
    expect(execFileSync('id', ['-u', AGENT_USER]).toString().trim()).toBe(String(agentIds.uid));
  });
});
