import { describe, expect, it } from 'vitest';
import {
  evaluateAgentUser,
  evaluateBinary,
  evaluateCacheDir,
  evaluateEndpoints,
  evaluateIndexAge,
  evaluateSelfTest,
  evaluateSshdT,
  formatCheck,
  launcherOf,
  runDoctor,
  shebangInterpreter,
} from '../../../../host-agent/admin/doctor.js';
import { parseConfig } from '../../../../host-agent/config.js';
import { ObjectTooLargeError } from '../../../../host-agent/errors.js';
import { heartbeatLimitSeconds } from '../../../../host-agent/index-age.js';
import { directoryJson, heartbeatJson } from '../../../helpers/index-fixture.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');

describe('evaluateIndexAge', () => {
  it.each([
    ['2024-05-01T11:59:00Z', 3600, true, /last run was 60s ago \(limit 3600s\)$/],
    ['2024-05-01T10:00:00Z', 3600, false, /7200s ago .*publisher has not run recently/],
    ['2024-05-01T10:00:00Z', 0, true, /limit 86400s/],
    ['2024-05-01T13:00:00Z', 3600, false, /in the future/],
  ])('%s with maxStale %d -> ok=%s', (generatedAt, maxStale, ok, detail) => {
    const r = evaluateIndexAge(generatedAt, NOW, maxStale);
    expect(r.ok).toBe(ok);
    expect(r.detail).toMatch(detail);
  });
  it('heartbeatLimitSeconds falls back to a day when caching is off', () => {
    expect([heartbeatLimitSeconds(0), heartbeatLimitSeconds(60)]).toEqual([86400, 60]);
  });
});

describe('evaluateSshdT', () => {
  const cmd = '/usr/local/bin/iam-authorized-keys -- %u %f';
  it.each([
    [
      `authorizedkeyscommand ${cmd}\nauthorizedkeyscommanduser iak\npermituserenvironment SSH_KEY_OWNER\n`,
      true,
      /runs/,
    ],
    ['authorizedkeyscommand none\nauthorizedkeyscommanduser none\n', false, /is "none", expected/],
    [`authorizedkeyscommand ${cmd}\nauthorizedkeyscommanduser root\n`, false, /User is root, expected iak/],
    [
      `authorizedkeyscommand ${cmd}\nauthorizedkeyscommanduser iak\npermituserenvironment yes\n`,
      false,
      /PermitUserEnvironment is yes: users could set other variables/,
    ],
    [
      `authorizedkeyscommand ${cmd}\nauthorizedkeyscommanduser iak\npermituserenvironment SSH_KEY_OWNER,LD_*\n`,
      false,
      /PermitUserEnvironment is SSH_KEY_OWNER,LD_\*/,
    ],
    [
      `authorizedkeyscommand ${cmd}\nauthorizedkeyscommanduser iak\nloglevel SILENT\n`,
      false,
      /LogLevel is SILENT/,
    ],
    [
      `authorizedkeyscommand ${cmd}\nauthorizedkeyscommanduser iak\nloglevel ERROR\n`,
      false,
      /LogLevel is ERROR/,
    ],
    [
      `authorizedkeyscommand ${cmd}\nauthorizedkeyscommanduser iak\npermituserenvironment no\nloglevel INFO\n`,
      true,
      /runs/,
    ],
  ])('%j', (out, ok, detail) => {
    const r = evaluateSshdT(out, cmd, 'iak');
    expect(r.ok).toBe(ok);
    expect(r.detail).toMatch(detail);
  });
});

describe('evaluateAgentUser', () => {
  const programs = new Set([
    '/usr/bin/iam-authorized-keys',
    '/usr/bin/logger',
    '/opt/aws/bin/eic_run_authorized_keys',
  ]);
  const proc = (pid: number, exe: string | undefined, ...argv: string[]) => ({ pid, exe, argv });
  const none = { processes: [], ownedFile: undefined };
  it.each([
    [
      'a dedicated user with nothing running',
      'iak',
      998,
      none,
      true,
      /iak \(uid 998\) runs only sshd's commands/,
    ],
    ['root', 'root', 0, none, false, /root is root: the agent never needs root/],
    ['uid 0 by another name', 'toor', 0, none, false, /toor is root/],
    ['nobody', 'nobody', 65534, none, false, /nobody, shared by other services/],
    [
      "sshd's commands only: the agent, a script under its interpreter, the chain, logger",
      'iak',
      998,
      {
        processes: [
          proc(10, '/usr/bin/iam-authorized-keys', 'iam-authorized-keys', 'alice'),
          proc(11, '/usr/bin/node', '/usr/bin/node', '/usr/bin/iam-authorized-keys', 'alice'),
          proc(12, '/usr/bin/dash', '/bin/sh', '/opt/aws/bin/eic_run_authorized_keys', 'alice'),
          proc(13, '/usr/bin/logger', 'logger', '-t', 'x'),
        ],
        ownedFile: undefined,
      },
      true,
      /runs only sshd's commands/,
    ],
    [
      'a web server running as the agent user',
      'www-data',
      33,
      {
        processes: [proc(20, '/usr/sbin/nginx', 'nginx: worker process'), proc(21, undefined)],
        ownedFile: undefined,
      },
      false,
      /2 other process\(es\) run as www-data: 20 \(nginx: worker process\), 21 \(\?\)/,
    ],
    [
      'files it owns elsewhere',
      'iak',
      998,
      { processes: [], ownedFile: '/var/lib/app/data' },
      false,
      /iak owns \/var\/lib\/app\/data outside the cache dir and its home: is it shared\?/,
    ],
  ])('%s', (_n, user, uid, activity, ok, detail) => {
    const r = evaluateAgentUser(user, uid, activity, programs);
    expect([r.name, r.ok]).toEqual(['agent user', ok]);
    expect(r.detail).toMatch(detail);
  });
});

describe('evaluateCacheDir', () => {
  const dir = (uid: number, mode: number, isDir = true) => ({
    uid,
    mode,
    isDirectory: () => isDir,
    isFile: () => !isDir,
  });
  it.each([
    [dir(999, 0o40700), 999, true, /mode 700/],
    [dir(0, 0o40700), 999, false, /owned by uid 0, not 999 \(the agent user\)/],
    [dir(999, 0o40755), 999, false, /mode 755, expected 700/],
    [dir(999, 0o100600, false), 999, false, /not a directory/],
    [undefined, 999, false, /does not exist/],
  ])('%o', (st, uid, ok, detail) => {
    const r = evaluateCacheDir('/c', st, uid);
    expect(r.ok).toBe(ok);
    expect(r.detail).toMatch(detail);
  });
});

describe('evaluateBinary', () => {
  const stat = (p: string) =>
    p.startsWith('/home')
      ? { uid: 1000, mode: 0o755, isDirectory: () => true, isFile: () => false }
      : { uid: 0, mode: 0o755, isDirectory: () => true, isFile: () => false };
  const script = (interpreter?: string) =>
    interpreter ? ({ kind: 'script', interpreter } as const) : ({ kind: 'script' } as const);
  it('passes root-owned paths and fails a user-owned interpreter', () => {
    expect(evaluateBinary('/usr/local/bin/x', script('/usr/bin/node'), stat).ok).toBe(true);
    const r = evaluateBinary('/usr/local/bin/x', script('/home/u/node'), stat);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/\/home\/u\/node is owned by uid 1000/);
    expect(evaluateBinary('/usr/local/bin/x', script(), stat).detail).toMatch(/no #! interpreter/);
  });
  it('a symlinked binary is checked where it really leads, as sshd does', () => {
    const realpath = (p: string) => (p === '/usr/local/bin/x' ? '/home/u/x' : p);
    const r = evaluateBinary('/usr/local/bin/x', { kind: 'standalone' }, stat, realpath);
    expect(r).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/resolves to \/home\/u\/x: \/home\/u\/x is owned by uid 1000/),
    });
  });
  it('a standalone executable needs no interpreter; its own path is still checked', () => {
    const r = evaluateBinary('/usr/bin/iam-authorized-keys', { kind: 'standalone' }, stat);
    expect(r).toMatchObject({ ok: true, detail: expect.stringMatching(/standalone executable/) });
    expect(evaluateBinary('/home/u/iak', { kind: 'standalone' }, stat)).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/\/home\/u\/iak is owned by uid 1000/),
    });
  });
  it.each([
    [Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), { kind: 'standalone' }],
    [Buffer.from('#!/usr/bin/node\nx'), { kind: 'script', interpreter: '/usr/bin/node' }],
    [Buffer.from('\x7fELX'), { kind: 'script' }],
    [Buffer.from('ELF'), { kind: 'script' }],
    [undefined, { kind: 'script' }],
  ])('launcherOf(%j) = %j', (head, expected) => {
    expect(launcherOf(head)).toEqual(expected);
  });
  it.each([
    ['#!/usr/bin/node\nx', '/usr/bin/node'],
    ['#! /usr/bin/env node\n', '/usr/bin/env'],
    ['console.log(1)', undefined],
    [undefined, undefined],
  ])('shebangInterpreter(%j) = %s', (text, expected) => {
    expect(shebangInterpreter(text)).toBe(expected);
  });
});

it('formatCheck prints one line per check', () => {
  expect(formatCheck({ name: 'sshd', ok: false, detail: 'why' })).toBe('FAIL sshd: why');
  expect(formatCheck({ name: 'sshd', ok: true, detail: 'fine' })).toBe('ok   sshd: fine');
});

describe('evaluateSelfTest', () => {
  it.each([
    [{ code: 0, stdout: 'a\nb\n', stderr: '' }, true, 'as the agent user, "ops" gets 2 key line(s)'],
    [{ code: 0, stdout: '', stderr: '' }, true, 'as the agent user, "ops" gets 0 key line(s)'],
    [
      { code: 1, stdout: '', stderr: 'x\nno AWS credentials\n' },
      false,
      'as the agent user, "ops" failed: x / no AWS credentials',
    ],
    [{ code: 126, stdout: '', stderr: '' }, false, 'as the agent user, "ops" failed: exit 126'],
  ])('%o', (r, ok, detail) => {
    expect(evaluateSelfTest('ops', r)).toEqual({ name: 'self-test', ok, detail });
  });
});

describe('evaluateEndpoints: which S3 and STS endpoints the agent uses', () => {
  const ROLE = 'arn:aws:iam::111111111111:role/reader';
  const cfg = (extra: object) =>
    parseConfig(JSON.stringify({ bucket: 'keys', region: 'us-east-1', ...extra }), '/etc/c.json');
  it.each([
    [{}, {}, 'ok   endpoints: S3 https://keys.s3.us-east-1.amazonaws.com'],
    [
      { useFipsEndpoint: true, roleArn: ROLE },
      {},
      'ok   endpoints: S3 https://keys.s3-fips.us-east-1.amazonaws.com, STS https://sts-fips.us-east-1.amazonaws.com (FIPS)',
    ],
    [
      { roleArn: ROLE },
      { AWS_USE_FIPS_ENDPOINT: 'true' },
      'ok   endpoints: S3 https://keys.s3-fips.us-east-1.amazonaws.com, STS https://sts-fips.us-east-1.amazonaws.com (FIPS)',
    ],
    [
      { roleArn: ROLE },
      { AWS_USE_FIPS_ENDPOINT: 'true', AWS_ENDPOINT_URL_S3: 'https://s3.test' },
      'FAIL endpoints: AWS_ENDPOINT_URL_S3 cannot be combined with useFipsEndpoint/AWS_USE_FIPS_ENDPOINT',
    ],
    [
      { useFipsEndpoint: true, region: 'eu-west-1' },
      {},
      'FAIL endpoints: useFipsEndpoint: S3 has no FIPS endpoint in eu-west-1',
    ],
    [
      { useFipsEndpoint: true, region: 'ca-central-1', roleArn: ROLE },
      {},
      'FAIL endpoints: useFipsEndpoint: STS (for roleArn) has no FIPS endpoint in ca-central-1',
    ],
    [
      {},
      { AWS_USE_FIPS_ENDPOINT: 'yes' },
      'FAIL endpoints: AWS_USE_FIPS_ENDPOINT must be true or false, not "yes"',
    ],
  ] as [object, NodeJS.ProcessEnv, string][])('%j %j', (extra, env, line) => {
    // FAIL lines go on with the regions that have one.
    expect(formatCheck(evaluateEndpoints(cfg(extra), env)).slice(0, line.length)).toBe(line);
  });
});

describe('runDoctor', () => {
  const config = parseConfig(
    JSON.stringify({ bucket: 'keys-bucket', region: 'eu-west-1', users: { ops: ['groups/Admins'] } }),
    '/etc/iam-authorized-keys.json',
  );
  const root = { uid: 0, mode: 0o40755, isDirectory: () => true, isFile: () => false };
  const deps = {
    configPath: '/etc/iam-authorized-keys.json',
    binPath: '/usr/bin/iam-authorized-keys',
    sshdBinary: '/usr/sbin/sshd',
    sshdConfig: '/etc/ssh/sshd_config',
    agentUser: 'iam-authorized-keys',
    loadConfig: () => config,
    env: {},
    credentials: async () => 'AKIAIOSFODNN7EXAMPLE',
    readObject: async () => undefined,
    run: async () => ({ code: 0, stdout: '', stderr: '' }),
    createRuntimeDir: async () => {},
    stat: () => root,
    readBytes: async () => Buffer.from([0x7f, 0x45, 0x4c, 0x46]),
    userUid: async () => 999,
    now: () => NOW,
    auditCheck: async () => {},
    runAsAgent: async () => ({ code: 0, stdout: '', stderr: '' }),
  };
  it('checks the agent user before running anything as it, with the programs sshd runs', async () => {
    const seen: unknown[] = [];
    const results = await runDoctor({
      ...deps,
      agentUserActivity: async (uid, cacheDir) => {
        seen.push([uid, cacheDir]);
        return {
          processes: [{ pid: 5, exe: '/usr/bin/python3', argv: ['python3', 'bot.py'] }],
          ownedFile: undefined,
        };
      },
      sshdPrograms: () => new Set(['/usr/bin/iam-authorized-keys']),
    });
    expect(seen).toEqual([[999, '/var/cache/iam-authorized-keys']]);
    const names = results.map((r) => r.name);
    expect(names.indexOf('agent user')).toBeLessThan(names.indexOf('self-test'));
    expect(formatCheck(results[names.indexOf('agent user')] as (typeof results)[0])).toMatch(
      /^FAIL agent user: 1 other process\(es\) run as iam-authorized-keys: 5 \(python3\)/,
    );
  });

  it('shows only the last 4 characters of the access key id', async () => {
    const lines = (await runDoctor(deps)).map(formatCheck);
    expect(lines).toContain('ok   credentials: resolved (access key …MPLE)');
    expect(lines).toContain('ok   endpoints: S3 https://keys-bucket.s3.eu-west-1.amazonaws.com');
    expect(lines.join('\n')).not.toContain('AKIAIOSFODNN7');
  });

  const iamConfig = parseConfig(
    JSON.stringify({ bucket: 'keys-bucket', region: 'eu-west-1', iamUsers: {} }),
    '/etc/iam-authorized-keys.json',
  );
  const bucketLines = async (objects: Record<string, string | Error>) =>
    (
      await runDoctor({
        ...deps,
        loadConfig: () => iamConfig,
        readObject: async (_c: unknown, key: string) => {
          const o = objects[key];
          if (o instanceof Error) throw o;
          return o === undefined ? undefined : Buffer.from(o);
        },
      })
    )
      .filter((c) => c.name === 'bucket' || c.name === 'directory')
      .map(formatCheck);
  const heartbeat = heartbeatJson(new Date(NOW - 60_000).toISOString());

  it('checks heartbeat.json and, in iamUsers mode, directory.json (never index.json)', async () => {
    const dir = directoryJson({ alice: { localName: 'alice' } });
    expect(await bucketLines({ 'heartbeat.json': heartbeat, 'directory.json': dir })).toEqual([
      "ok   bucket: heartbeat.json: the publisher's last run was 60s ago (limit 86400s)",
      'ok   directory: directory.json: 1 IAM users',
    ]);
  });

  it('fails on a directory.json the login path cannot read (oversized, missing, malformed)', async () => {
    const big = new ObjectTooLargeError('object of 8388609 bytes is over the 8388608-byte limit');
    expect(await bucketLines({ 'heartbeat.json': heartbeat, 'directory.json': big })).toEqual([
      expect.stringMatching(/^ok {3}bucket: /),
      'FAIL bucket: cannot read directory.json: object of 8388609 bytes is over the 8388608-byte limit',
    ]);
    expect(await bucketLines({ 'heartbeat.json': heartbeat })).toContain(
      'FAIL bucket: directory.json not found in keys-bucket',
    );
    expect(await bucketLines({ 'heartbeat.json': heartbeat, 'directory.json': '{}' })).toContain(
      'FAIL bucket: cannot read directory.json: directory.json has unsupported version undefined',
    );
    expect(await bucketLines({ 'directory.json': directoryJson({}) })).toContain(
      'FAIL bucket: heartbeat.json not found in keys-bucket',
    );
  });
});
