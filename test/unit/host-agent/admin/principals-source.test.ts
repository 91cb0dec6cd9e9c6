import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenLoopback } from '../../../../dev/loopback.js';
import {
  defaultParameterName,
  PrincipalsSourceError,
  parsePrincipalsValue,
  type RefreshDeps,
  refreshPrincipals,
  replaceUsers,
  ssmEndpoint,
  systemAccounts,
} from '../../../../host-agent/admin/principals-source.js';
import type { ProcessRunner } from '../../../../host-agent/admin/sys.js';
import type { HttpClient } from '../../../../host-agent/http.js';
import { request } from '../../../../host-agent/http-client.js';

describe('parsePrincipalsValue', () => {
  it.each([
    [
      '{"ec2-user":["groups/Admins","users/alice"]}',
      undefined,
      { 'ec2-user': ['groups/Admins', 'users/alice'] },
    ],
    ['groups/Admins, users/alice', 'ec2-user', { 'ec2-user': ['groups/Admins', 'users/alice'] }],
    ['  groups/Admins\nusers/bob ', 'ubuntu', { ubuntu: ['groups/Admins', 'users/bob'] }],
  ])('%j (local user %s)', (value, local, expected) => {
    expect(parsePrincipalsValue(value, local)).toEqual(expected);
  });

  it.each(['__proto__', 'constructor', 'toString', 'valueOf'])(
    'a local user named %s is a plain mapping, from a list (--local-user) or JSON',
    (name) => {
      for (const m of [
        parsePrincipalsValue('users/alice', name),
        parsePrincipalsValue(`{"${name}":["users/alice"]}`, undefined),
      ]) {
        expect(Object.keys(m)).toEqual([name]);
        expect(Object.getOwnPropertyDescriptor(m, name)?.value).toEqual(['users/alice']);
        expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
      }
      expect(systemAccounts(parsePrincipalsValue('users/alice', name), new Map([[name, 1001]]))).toEqual([]);
    },
  );

  it('keeps a local user named __proto__ as a mapping (not a prototype change)', () => {
    const m = parsePrincipalsValue('{"__proto__":["users/alice"],"ec2-user":["users/bob"]}', undefined);
    expect(Object.keys(m)).toEqual(['__proto__', 'ec2-user']);
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(m))).toEqual(
      JSON.parse('{"__proto__":["users/alice"],"ec2-user":["users/bob"]}'),
    );
  });

  it.each([
    ['groups/Admins', undefined, /--local-user/],
    ['{"ec2-user":', undefined, /not valid JSON/],
    ['{"bad user":["groups/A"]}', undefined, /not a valid local user name/],
    ['{"ec2-user":[]}', undefined, /non-empty list/],
    ['{"ec2-user":["roles/x"]}', undefined, /invalid principal "roles\/x"/],
    ['{"ec2-user":[1]}', undefined, /must be strings/],
    ['{}', undefined, /maps no local user/],
    ['users/a b/c', 'ec2-user', /invalid principal "b\/c"/],
  ])('refuses %j', (value, local, reason) => {
    expect(() => parsePrincipalsValue(value, local)).toThrow(PrincipalsSourceError);
    expect(() => parsePrincipalsValue(value, local)).toThrow(reason);
  });
});

describe('replaceUsers', () => {
  const cfg =
    '{"bucket":"my-bucket","region":"eu-west-1","users":{"old":["users/x"]},"cache":{"ttlSeconds":5}}';
  it('replaces only "users" and validates the whole result', () => {
    const r = replaceUsers(cfg, { 'ec2-user': ['groups/Admins'] }, '/etc/c.json');
    expect(JSON.parse(r.text)).toEqual({
      bucket: 'my-bucket',
      region: 'eu-west-1',
      users: { 'ec2-user': ['groups/Admins'] },
      cache: { ttlSeconds: 5 },
    });
    expect(r.config.users).toEqual({ 'ec2-user': ['groups/Admins'] });
  });
  it('throws instead of producing a config that does not parse', () => {
    expect(() => replaceUsers('{"bucket":"x","region":"eu-west-1"}', { a: ['users/b'] }, '/c')).toThrow(
      /bucket "x" is not a valid name/,
    );
  });
});

it('default parameter name and endpoint', () => {
  expect(defaultParameterName('web-role')).toBe('/IAM/web-role/principals');
  expect(ssmEndpoint({}, 'eu-west-1').href).toBe('https://ssm.eu-west-1.amazonaws.com/');
  expect(ssmEndpoint({ AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' }, 'eu-west-1').href).toBe(
    'http://127.0.0.1:5000/',
  );
  expect(ssmEndpoint({ AWS_ENDPOINT_URL_SSM: 'https://h:1', AWS_ENDPOINT_URL: 'https://x' }, 'r').href).toBe(
    'https://h:1/',
  );
});

describe('systemAccounts', () => {
  const uids = new Map<string, number | undefined>([
    ['root', 0],
    ['toor', 0],
    ['daemon', 1],
    ['sshd', 999],
    ['ec2-user', 1000],
    ['absent', undefined],
  ]);
  it.each([
    [['root'], ['root (uid 0)']],
    [['toor'], ['toor (uid 0)']],
    [['daemon', 'ec2-user'], ['daemon (uid 1)']],
    [['sshd'], ['sshd (uid 999)']],
    [['ec2-user', 'absent'], []],
  ])('%j -> %j', (names, expected) => {
    const map = Object.fromEntries(names.map((n) => [n, ['users/a']]));
    expect(systemAccounts(map, uids)).toEqual(expected);
  });
  it('root is a system account even when getent does not know it', () => {
    expect(systemAccounts({ root: ['users/a'] }, new Map())).toEqual(['root (uid 0)']);
  });
});

describe('refreshPrincipals from an instance tag', () => {
  const CONFIG = '{"bucket":"my-bucket","region":"eu-west-1","users":{"old":["users/x"]}}\n';
  const passwd: Record<string, string> = {
    root: 'root:x:0:0:root:/root:/bin/bash',
    daemon: 'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
    'ec2-user': 'ec2-user:x:1000:1000::/home/ec2-user:/bin/bash',
  };
  const setup = (tagValue: string) => {
    const files = new Map([['/etc/iak.json', CONFIG]]);
    const out: string[] = [];
    const http: HttpClient = async (req) => ({
      status: 200,
      headers: {},
      framed: true,
      body: Buffer.from(req.method === 'PUT' ? 'token' : tagValue),
    });
    const run: ProcessRunner = async (cmd, args) => {
      const line = cmd === 'getent' && args[0] === 'passwd' ? passwd[args[1] as string] : undefined;
      return line ? { code: 0, stdout: `${line}\n`, stderr: '' } : { code: 2, stdout: '', stderr: '' };
    };
    const deps: RefreshDeps = {
      configPath: '/etc/iak.json',
      run,
      readText: async (p) => files.get(p),
      writeAtomic: async (p, c) => {
        files.set(p, c);
      },
      out: (l) => out.push(l),
      http,
      env: {},
      now: () => 0,
      credentials: async () => ({ accessKeyId: 'AKIA', secretAccessKey: 's' }),
    };
    return { files, out, deps };
  };

  it.each([
    ['{"root":["groups/Everyone"]}', /instance tag ssh maps system account\(s\) root \(uid 0\); refused/],
    ['{"ec2-user":["users/a"],"daemon":["users/b"]}', /system account\(s\) daemon \(uid 1\)/],
  ])('refuses %s and leaves the config as it was', async (tag, why) => {
    const { files, deps } = setup(tag);
    await expect(refreshPrincipals({ kind: 'tag', tag: 'ssh' }, { dryRun: false }, deps)).rejects.toThrow(
      why,
    );
    expect(files.get('/etc/iak.json')).toBe(CONFIG);
  });

  it('--allow-system-accounts lets an operator map root on purpose', async () => {
    const { files, deps } = setup('{"root":["groups/Admins"]}');
    const code = await refreshPrincipals(
      { kind: 'tag', tag: 'ssh' },
      { dryRun: false, allowSystemAccounts: true },
      deps,
    );
    expect(code).toBe(0);
    expect(JSON.parse(files.get('/etc/iak.json') as string).users).toEqual({ root: ['groups/Admins'] });
  });

  it('maps login accounts (uid >= 1000) and accounts not yet created', async () => {
    const { files, deps } = setup('{"ec2-user":["users/a"],"newbie":["users/b"]}');
    expect(await refreshPrincipals({ kind: 'tag', tag: 'ssh' }, { dryRun: false }, deps)).toBe(0);
    expect(JSON.parse(files.get('/etc/iak.json') as string).users).toEqual({
      'ec2-user': ['users/a'],
      newbie: ['users/b'],
    });
  });
});

describe('refreshPrincipals through the shared IMDSv2 client (real HTTP server)', () => {
  let server: Server;
  let endpoint: string;
  const CONFIG = '{"bucket":"my-bucket","region":"eu-west-1","users":{"old":["users/x"]}}\n';
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') return res.end('T');
      if (req.headers['x-aws-ec2-metadata-token'] !== 'T') return res.writeHead(401).end();
      if (req.url === '/latest/meta-data/tags/instance/ssh') return res.end('groups/Admins');
      if (req.url === '/latest/meta-data/tags/instance/broken') return res.writeHead(500).end();
      res.writeHead(404).end();
    });
    ({ endpoint } = await listenLoopback(server));
  });
  afterAll(() => {
    server.close();
  });
  const deps = (out: string[]): RefreshDeps => ({
    configPath: '/etc/iak.json',
    run: async () => ({ code: 2, stdout: '', stderr: '' }),
    readText: async () => CONFIG,
    writeAtomic: async () => {
      throw new Error('dry run must not write');
    },
    out: (l) => out.push(l),
    http: request,
    env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint },
    now: () => 0,
    credentials: async () => ({ accessKeyId: 'AKIA', secretAccessKey: 's' }),
  });

  it.each([
    ['ssh', /^refresh-principals: would set users from instance tag ssh: ec2-user <- groups\/Admins$/],
    ['missing', /instance tag missing not found \(is "instance metadata tags" enabled/],
    ['broken', /IMDS \/latest\/meta-data\/tags\/instance\/broken answered 500/],
  ])('tag %s', async (tag, expected) => {
    const out: string[] = [];
    const r = refreshPrincipals({ kind: 'tag', tag }, { localUser: 'ec2-user', dryRun: true }, deps(out));
    if (tag === 'ssh') {
      expect(await r).toBe(0);
      expect(out.join('\n')).toMatch(expected);
    } else await expect(r).rejects.toThrow(expected);
  });
});
