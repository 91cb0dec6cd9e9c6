import { describe, expect, it } from 'vitest';
import { serializeDirectory } from '../../../../../contract/directory.js';
import { renderLine } from '../../../../../contract/line.js';
import { makeKey } from '../../../../../dev/keys.js';
import { parseAdminConfig } from '../../../../../host-agent/admin/config.js';
import { parseSessionsSection } from '../../../../../host-agent/admin/sessions/config.js';
import {
  freshOnlyCache,
  readMappings,
  readPrincipalKeys,
} from '../../../../../host-agent/admin/sessions/keys.js';
import type { CacheEntry } from '../../../../../host-agent/cache.js';
import { ConfigError, configFields, parseConfig } from '../../../../../host-agent/config.js';
import { StoreUnavailableError } from '../../../../../host-agent/errors.js';
import type { ReadResult, Store } from '../../../../../host-agent/store.js';

describe('freshOnlyCache', () => {
  const entry = (fetchedAt: number): CacheEntry => ({
    key: 'k',
    found: true,
    fetchedAt,
    body: Buffer.from('x'),
  });

  it.each([
    ['younger than the TTL: used', 29_999, true],
    ['at the TTL: not used (S3 is asked)', 30_000, false],
    ['stale but within maxStale: not used', 3_600_000, false],
  ])('%s', (_n, age, used) => {
    const c = freshOnlyCache(
      () => entry(1_000_000),
      () => 1_000_000 + age,
      30,
    );
    expect(c.read('k') !== undefined).toBe(used);
  });

  it('a damaged entry (a reason string) is absent; writes go nowhere', () => {
    let reads = 0;
    const c = freshOnlyCache(
      () => {
        reads++;
        return 'checksum mismatch';
      },
      () => 0,
      30,
    );
    expect(c.read('k')).toBeUndefined();
    c.write(entry(0));
    expect(reads).toBe(1);
  });
});

describe('readPrincipalKeys', () => {
  const NOW = Date.parse('2027-01-10T12:00:00Z');
  const alice = makeKey();
  const bob = makeKey();
  const carol = makeKey();
  const line = (owner: string, k: typeof alice) =>
    `environment="SSH_KEY_OWNER=${owner}" ${k.type} ${k.blob} ${owner}\n`;
  const bodies = new Map<string, ReadResult | Error>([
    [
      'groups/admins/authorized_keys',
      { found: true, body: Buffer.from(line('alice', alice) + line('bob', bob)), source: 's3', fetchedAt: 0 },
    ],
    // A user's object holding another user's key: the login path drops that line, so does this.
    [
      'users/alice/authorized_keys',
      { found: true, body: Buffer.from(line('bob', bob)), source: 'cache', fetchedAt: 0 },
    ],
    ['groups/gone/authorized_keys', { found: false, source: 's3' }],
    // A grant that ended a second before NOW, and a key that expires later (key lifecycle).
    [
      'groups/granted/authorized_keys',
      {
        found: true,
        body: Buffer.from(
          renderLine('carol', carol, { expiryTime: '20270110115959' }) +
            renderLine('alice', alice, { expiryTime: '20270110120100' }),
        ),
        source: 's3',
        fetchedAt: 0,
      },
    ],
    [
      'groups/down/authorized_keys',
      new StoreUnavailableError('cannot read groups/down/authorized_keys: ECONNREFUSED'),
    ],
  ]);
  const store: Store = {
    async read(key) {
      const r = bodies.get(key);
      if (r === undefined) throw new Error(`unexpected key ${key}`);
      if (r instanceof Error) throw r;
      return r;
    },
  };

  it('found, absent and unreadable, as the login path would read them', async () => {
    const m = await readPrincipalKeys(
      store,
      '',
      ['groups/admins', 'users/alice', 'groups/gone', 'groups/down', 'nonsense'],
      3000,
      NOW,
    );
    expect(m.get('groups/admins')).toEqual({
      state: 'found',
      lines: [
        { owner: 'alice', fingerprint: alice.fingerprint },
        { owner: 'bob', fingerprint: bob.fingerprint },
      ],
    });
    expect(m.get('users/alice')).toEqual({ state: 'found', lines: [] });
    expect(m.get('groups/gone')).toEqual({ state: 'absent' });
    expect(m.get('groups/down')).toEqual({
      state: 'unreadable',
      why: 'cannot read groups/down/authorized_keys: ECONNREFUSED',
    });
    expect(m.get('nonsense')?.state).toBe('unreadable');
  });

  it('a line whose expiry-time has passed is no current key (an ended grant ends its sessions too)', async () => {
    const m = await readPrincipalKeys(store, '', ['groups/granted'], 3000, NOW);
    expect(m.get('groups/granted')).toEqual({
      state: 'found',
      lines: [{ owner: 'alice', fingerprint: alice.fingerprint }],
    });
  });
});

describe('readMappings: what maps each local user now', () => {
  const directory = serializeDirectory({
    version: 1,
    users: new Map([
      ['alice', { userId: 'AIDAALICE', localName: 'alice', uid: 2000, groups: ['devs'] }],
      ['bob', { userId: 'AIDABOB', localName: 'bob', uid: 2001, groups: ['ops'] }],
    ]),
    reservedUids: [],
  });
  const storeOf = (r: ReadResult | Error): Store => ({
    async read(key) {
      if (key !== 'p/directory.json') throw new Error(`unexpected key ${key}`);
      if (r instanceof Error) throw r;
      return r;
    },
  });
  const published = storeOf({ found: true, body: Buffer.from(directory), source: 's3', fetchedAt: 0 });
  const uids: Record<string, number> = { alice: 2000, bob: 2001, 'ec2-user': 1000 };
  const uidOf = (u: string) => (Object.hasOwn(uids, u) ? uids[u] : undefined);
  const config = (iamUsers?: { allowGroups: string[] }) => ({
    prefix: 'p/',
    users: { 'ec2-user': ['groups/admins'] } as Record<string, string[]>,
    ...(iamUsers ? { iamUsers } : {}),
  });
  const view = (m: Map<string, { principals: ReadonlySet<string>; unreadable?: string }>) =>
    Object.fromEntries([...m].map(([u, x]) => [u, [[...x.principals].sort(), x.unreadable ?? null]]));

  it.each([
    [
      'no iamUsers: the config only (the directory is not read)',
      config(),
      storeOf(new Error('not read')),
      { alice: [[], null], 'ec2-user': [['groups/admins'], null] },
    ],
    [
      'iamUsers, any group: each account named after its IAM user, with the published uid',
      config({ allowGroups: [] }),
      published,
      { alice: [['users/alice'], null], 'ec2-user': [['groups/admins'], null] },
    ],
    [
      "iamUsers.allowGroups without the user's group: not mapped",
      config({ allowGroups: ['ops'] }),
      published,
      { alice: [[], null], 'ec2-user': [['groups/admins'], null] },
    ],
    [
      'directory.json not published: unreadable (the config still maps)',
      config({ allowGroups: [] }),
      storeOf({ found: false, source: 's3' }),
      {
        alice: [[], 'directory.json: not found in the bucket'],
        'ec2-user': [['groups/admins'], 'directory.json: not found in the bucket'],
      },
    ],
    [
      'S3 down: unreadable',
      config({ allowGroups: [] }),
      storeOf(new StoreUnavailableError('cannot read p/directory.json: ECONNREFUSED')),
      {
        alice: [[], 'directory.json: cannot read p/directory.json: ECONNREFUSED'],
        'ec2-user': [['groups/admins'], 'directory.json: cannot read p/directory.json: ECONNREFUSED'],
      },
    ],
  ] as const)('%s', async (_n, cfg, store, want) => {
    expect(view(await readMappings(store, cfg, ['alice', 'ec2-user'], uidOf, 1000))).toEqual(want);
  });

  it('no local user: the directory is not read', async () => {
    const asked: string[] = [];
    const counting: Store = {
      read: (key, opts) => {
        asked.push(key);
        return published.read(key, opts);
      },
    };
    expect((await readMappings(counting, config({ allowGroups: [] }), [], uidOf, 1000)).size).toBe(0);
    expect(asked).toEqual([]);
    await readMappings(counting, config({ allowGroups: [] }), ['alice'], uidOf, 1000);
    expect(asked).toEqual(['p/directory.json']);
  });

  it('an account whose uid is not the published one maps nobody; unreadable local accounts decide nothing', async () => {
    const cfg = config({ allowGroups: [] });
    const renumbered = await readMappings(published, cfg, ['alice'], () => 1234, 1000);
    expect(view(renumbered)).toEqual({ alice: [[], null] });
    const noPasswd = await readMappings(
      published,
      cfg,
      ['alice'],
      () => {
        throw new Error('ENOENT: /etc/passwd');
      },
      1000,
    );
    expect(view(noPasswd)).toEqual({ alice: [[], 'local accounts: ENOENT: /etc/passwd'] });
  });
});

describe('the sessions config section', () => {
  const parse = (v: unknown) => parseSessionsSection(v, configFields('cfg'));
  it.each<[string, unknown, string | RegExp]>([
    ['empty: off', {}, 'off'],
    ['access', { endRevoked: 'access' }, 'access'],
    ['key', { endRevoked: 'key' }, 'key'],
    ['off', { endRevoked: 'off' }, 'off'],
    ['a typo', { endRevoked: 'acces' }, /cfg: sessions.endRevoked must be one of "off", "access", "key"/],
    ['not a string', { endRevoked: true }, /sessions.endRevoked must be one of/],
    ['an unknown key', { endRevoke: 'key' }, /sessions: unknown setting "endRevoke"/],
    ['not an object', 'key', /sessions must be an object/],
    [
      '__proto__ is just an unknown key',
      JSON.parse('{"__proto__": {"endRevoked": "key"}}'),
      /unknown setting "__proto__"/,
    ],
  ])('%s', (_n, v, want) => {
    if (typeof want === 'string') expect(parse(v).endRevoked).toBe(want);
    else expect(() => parse(v)).toThrow(want);
  });

  it('the login path accepts the section without reading it; the admin parser refuses a bad one', () => {
    const text = JSON.stringify({ bucket: 'b-keys', region: 'eu-west-1', sessions: { endRevoked: 'soon' } });
    expect(parseConfig(text, 'cfg')).not.toHaveProperty('sessions');
    expect(() => parseAdminConfig(text, 'cfg')).toThrow(ConfigError);
    const ok = JSON.stringify({ bucket: 'b-keys', region: 'eu-west-1', sessions: { endRevoked: 'key' } });
    expect(parseAdminConfig(ok, 'cfg').sessions).toEqual({ endRevoked: 'key' });
    expect(
      parseAdminConfig(JSON.stringify({ bucket: 'b-keys', region: 'eu-west-1' }), 'cfg').sessions,
    ).toBeUndefined();
  });
});
