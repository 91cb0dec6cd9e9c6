import { chmodSync, chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ADMIN_SECTIONS,
  ConfigError,
  DEFAULT_CACHE_DIR,
  DEFAULT_DEADLINE_MS,
  isRoleArn,
  loadConfig,
  parseConfig,
  ROLE_ARN,
} from '../../../host-agent/config.js';
import { drawn, variants } from '../../helpers/strings.js';

const base = { bucket: 'company-ssh-keys', region: 'eu-west-1' };
const parse = (v: unknown) => parseConfig(JSON.stringify(v), 'test.json');

describe('parseConfig', () => {
  it('applies defaults to a minimal config', () => {
    const c = parse(base);
    expect(c).toEqual({
      bucket: 'company-ssh-keys',
      prefix: '',
      region: 'eu-west-1',
      users: {},
      cache: { dir: DEFAULT_CACHE_DIR, ttlSeconds: 30, maxStaleSeconds: 86400 },
      deadlineMs: DEFAULT_DEADLINE_MS,
      syslogSocket: '/dev/log',
      passwdFile: '/etc/passwd',
    });
  });

  it('parses the contract example', () => {
    const c = parse({
      ...base,
      prefix: 'keys',
      endpoint: 'http://127.0.0.1:9000/',
      users: { 'ec2-user': ['groups/Administrators', 'users/alice'] },
      iamUsers: { allowGroups: ['Developers'] },
      cache: { dir: '/var/cache/x', ttlSeconds: 0, maxStaleSeconds: 10 },
      roleArn: 'arn:aws:iam::123456789012:role/ssh-key-reader',
      deadlineMs: 500,
      chain: ['/opt/aws/bin/eic_run_authorized_keys', '%u', '%f'],
    });
    expect(c.prefix).toBe('keys/');
    expect(c.endpoint).toBe('http://127.0.0.1:9000');
    expect(c.users['ec2-user']).toEqual(['groups/Administrators', 'users/alice']);
    expect(c.iamUsers).toEqual({ allowGroups: ['Developers'] });
    expect(c.cache).toEqual({ dir: '/var/cache/x', ttlSeconds: 0, maxStaleSeconds: 10 });
    expect(c.chain).toEqual(['/opt/aws/bin/eic_run_authorized_keys', '%u', '%f']);
  });

  it.each([
    [true, true],
    [false, false],
    [undefined, undefined],
  ])('useFipsEndpoint %j is kept as %j (unset: AWS_USE_FIPS_ENDPOINT decides)', (v, want) => {
    expect(parse({ ...base, ...(v === undefined ? {} : { useFipsEndpoint: v }) }).useFipsEndpoint).toBe(want);
  });

  it('refuses endpoint with useFipsEndpoint (as the AWS SDK): a FIPS endpoint goes in endpoint alone', () => {
    expect(() => parse({ ...base, endpoint: 'https://vpce.example', useFipsEndpoint: true })).toThrow(
      /endpoint cannot be combined with useFipsEndpoint/,
    );
    expect(parse({ ...base, endpoint: 'https://vpce.example', useFipsEndpoint: false }).endpoint).toBe(
      'https://vpce.example',
    );
  });

  it.each(['true', 1, null, 'yes'])('refuses useFipsEndpoint %j: only true or false', (v) => {
    expect(() => parse({ ...base, useFipsEndpoint: v })).toThrow(/useFipsEndpoint must be true or false/);
  });

  it('accepts chain as one path string and iamUsers without allowGroups', () => {
    const c = parse({ ...base, chain: '/usr/bin/true', iamUsers: {} });
    expect(c.chain).toEqual(['/usr/bin/true']);
    expect(c.iamUsers).toEqual({ allowGroups: [] });
  });

  // contract/aws-names.ts: every partition's regions, as the stack's agentRegion accepts them.
  it.each(['eusc-de-east-1', 'us-gov-west-1', 'cn-north-1', 'ap-southeast-7'])('accepts the region %s', (r) =>
    expect(parseConfig(JSON.stringify({ ...base, region: r }), 't').region).toBe(r),
  );

  it.each<[string, string[]]>([
    ['/opt/aws/bin/eic_run_authorized_keys %u %f', ['/opt/aws/bin/eic_run_authorized_keys', '%u', '%f']],
    ['"/opt/my tools/keys" --user=%u \'a b\'', ['/opt/my tools/keys', '--user=%u', 'a b']],
  ])('splits chain %j as sshd splits AuthorizedKeysCommand', (line, argv) => {
    expect(parse({ ...base, chain: line }).chain).toEqual(argv);
  });

  it('keeps a local user named __proto__ as plain data', () => {
    const c = parseConfig(`{"bucket":"bkt","region":"us-east-1","users":{"__proto__":["users/a"]}}`, 't');
    expect(Object.hasOwn(c.users, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(c.users)).toBe(Object.prototype);
  });

  it("accepts an admin-only section without reading it: a mistake there is the admin commands' to refuse", () => {
    for (const name of ADMIN_SECTIONS) {
      const c = parse({ ...base, [name]: { sudoGroups: 'all', removeHome: 'yes', bogus: 1 } });
      expect(Object.hasOwn(c, name)).toBe(false);
      expect(parse({ ...base, [name]: 'not even an object' })).toEqual(parse(base));
    }
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '{', /not valid JSON/],
    ['an array', '[]', /must be a JSON object/],
    ['unknown key (typo)', JSON.stringify({ ...base, user: {} }), /unknown setting "user"/],
    ['no bucket', JSON.stringify({ region: 'eu-west-1' }), /bucket must be a non-empty string/],
    [
      'bad bucket',
      JSON.stringify({ ...base, bucket: 'Bad_Bucket' }),
      /bucket "Bad_Bucket" is not a valid name/,
    ],
    ['no region', JSON.stringify({ bucket: 'abc' }), /region must be/],
    ['bad region', JSON.stringify({ ...base, region: 'eu west 1' }), /not a valid region/],
    // contract/aws-names.ts: the same rules as the stack's agentRegion and bucketName.
    ['region without a number', JSON.stringify({ ...base, region: 'eu-west' }), /not a valid region/],
    ['region of no partition', JSON.stringify({ ...base, region: 'xx-west-1' }), /not a valid region/],
    ['reserved bucket suffix', JSON.stringify({ ...base, bucket: 'keys-s3alias' }), /not a valid name/],
    ['bucket as IP address', JSON.stringify({ ...base, bucket: '10.0.0.1' }), /not a valid name/],
    ['bad prefix', JSON.stringify({ ...base, prefix: '../x' }), /invalid key prefix/],
    ['prefix not string', JSON.stringify({ ...base, prefix: 3 }), /prefix must be a string/],
    ['endpoint not URL', JSON.stringify({ ...base, endpoint: 'nope' }), /not a URL/],
    ['endpoint ftp', JSON.stringify({ ...base, endpoint: 'ftp://x' }), /http:\/\/ or https:\/\//],
    ['endpoint creds', JSON.stringify({ ...base, endpoint: 'http://a:b@x' }), /must not carry credentials/],
    [
      'plain http to a remote endpoint',
      JSON.stringify({ ...base, endpoint: 'http://s3.example.com' }),
      /must be https/,
    ],
    [
      'relative passwdFile',
      JSON.stringify({ ...base, passwdFile: 'passwd' }),
      /passwdFile must be an absolute path/,
    ],
    ['users not object', JSON.stringify({ ...base, users: [] }), /users must be an object/],
    [
      'bad local name',
      JSON.stringify({ ...base, users: { 'a b': [] } }),
      /"a b" is not a valid local user name/,
    ],
    ['principals not list', JSON.stringify({ ...base, users: { a: 'users/x' } }), /users\.a must be a list/],
    ['bad principal', JSON.stringify({ ...base, users: { a: ['roles/x'] } }), /users\.a\[0\] must be users/],
    ['iamUsers typo', JSON.stringify({ ...base, iamUsers: { allowGroup: [] } }), /iamUsers: unknown setting/],
    ['bad allowGroups', JSON.stringify({ ...base, iamUsers: { allowGroups: ['a b'] } }), /allowGroups\[0\]/],
    ['relative cache dir', JSON.stringify({ ...base, cache: { dir: 'cache' } }), /absolute path/],
    ['negative ttl', JSON.stringify({ ...base, cache: { ttlSeconds: -1 } }), /ttlSeconds must be an integer/],
    [
      'fractional ttl',
      JSON.stringify({ ...base, cache: { ttlSeconds: 1.5 } }),
      /ttlSeconds must be an integer/,
    ],
    [
      'maxStale < ttl',
      JSON.stringify({ ...base, cache: { ttlSeconds: 60, maxStaleSeconds: 30 } }),
      /maxStaleSeconds must not be smaller/,
    ],
    ['cache typo', JSON.stringify({ ...base, cache: { ttl: 3 } }), /cache: unknown setting "ttl"/],
    ['bad roleArn', JSON.stringify({ ...base, roleArn: 'arn:aws:iam::1:user/x' }), /not an IAM role ARN/],
    [
      'deadline too small',
      JSON.stringify({ ...base, deadlineMs: 5 }),
      /deadlineMs must be an integer from 100/,
    ],
    [
      'relative chain',
      JSON.stringify({ ...base, chain: 'eic_run_authorized_keys' }),
      /absolute command path/,
    ],
    ['empty chain', JSON.stringify({ ...base, chain: [] }), /absolute command path/],
    [
      'chain with an unclosed quote',
      JSON.stringify({ ...base, chain: '/x "a' }),
      /^[^:]*: chain: unclosed "/,
    ],
    [
      'chain with %k (sshd does not pass the agent the key)',
      JSON.stringify({ ...base, chain: ['/x', '%u', '%k'] }),
      /chain: chain argument 2: %k \(the key itself\) cannot be given to a chained command/,
    ],
    ['chain with %t in a command line', JSON.stringify({ ...base, chain: '/x %t' }), /%t \(the key type\)/],
    ['chain with a lone %', JSON.stringify({ ...base, chain: ['/x', '50%'] }), /lone %/],
    ['chain with non-string', JSON.stringify({ ...base, chain: ['/bin/x', 3] }), /chain\[1\]/],
    [
      'bad syslogSocket',
      JSON.stringify({ ...base, syslogSocket: 'log' }),
      /syslogSocket must be an absolute/,
    ],
  ];
  it.each(bad)('rejects %s with one clear line', (_name, text, message) => {
    let err: unknown;
    try {
      parseConfig(text, 'test.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^test\.json: /);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iak-config-'));
  const write = (name: string, mode: number) => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify(base));
    chmodSync(p, mode);
    return p;
  };

  it('reads a 0644 file', () => {
    expect(loadConfig(write('ok.json', 0o644)).bucket).toBe('company-ssh-keys');
  });
  it('refuses a world-writable file', () => {
    expect(() => loadConfig(write('ww.json', 0o666))).toThrow(/group- or world-writable/);
  });
  it('refuses a group-writable file', () => {
    expect(() => loadConfig(write('gw.json', 0o664))).toThrow(ConfigError);
  });
  it('says which file is missing', () => {
    expect(() => loadConfig(join(dir, 'nope.json'))).toThrow(/nope\.json: cannot read config \(ENOENT\)/);
  });
  it.runIf(process.getuid?.() === 0)('refuses a file owned by another user', () => {
    const p = write('other.json', 0o644);
    chownSync(p, 4242, 4242);
    expect(() => loadConfig(p)).toThrow(/owned by uid 4242/);
  });
});

describe('isRoleArn (a login checks roleArn without a regular expression)', () => {
  it('answers as ROLE_ARN', () => {
    const path = 'abcXYZ019_+=,.@/-';
    const arns = variants(12, 5000, (r) => {
      const partition = ['', '-cn', '-us-gov', '-iso-b', 'X'][Math.floor(r() * 5)];
      return `arn:aws${partition}:iam::${drawn(r, '0123456789', 11 + Math.floor(r() * 3))}:role/${drawn(r, path, Math.floor(r() * 520))}`;
    });
    const edges = [
      'arn:aws:iam::123456789012:role/x',
      'arn:aws:iam::123456789012:role/',
      'arn:aws:iam::123456789012:user/x',
    ];
    const differ = [...arns, ...edges].filter((a) => ROLE_ARN.test(a) !== isRoleArn(a));
    expect(differ).toEqual([]);
    expect(arns.filter(isRoleArn).length).toBeGreaterThan(500);
  });
});
