import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  INDEX_VERSION,
  own,
  type PublishedIndex,
  parseDirectory,
  parseIndex,
  serializeIndex,
} from '../../../contract/index.js';
import { makeKey } from '../../../dev/keys.js';
import type { IamSnapshot, IamUser } from '../../../lambda/iam-source.js';
import {
  copiedKeyReason,
  DUPLICATE_KEY_REASON,
  firstHolder,
  type KeyClaim,
  knownKeyBodies,
  render,
} from '../../../lambda/render.js';

const k1 = makeKey('ed25519');
const k2 = makeKey('rsa');
const k3 = makeKey('ecdsa');
const now = new Date('2026-01-02T03:04:05.000Z');
const opts = { prefix: 'p/', uidBase: 5000, now };

/** A stable fake IAM user id per name (IAM's are AIDA + 17 characters). */
const idOf = (name: string) =>
  `AIDA${createHash('sha256').update(name).digest('hex').slice(0, 17).toUpperCase()}`;

/** Users without an explicit `id` get idOf(name), without `tags` none. */
function snap(
  users: (Omit<IamUser, 'id' | 'tags'> & { id?: string; tags?: IamUser['tags'] })[],
  groups: string[],
  bodies: Record<string, string>,
): IamSnapshot {
  return {
    users: users.map((u) => ({ ...u, id: u.id ?? idOf(u.name), tags: u.tags ?? [] })),
    groups,
    bodies: new Map(Object.entries(bodies)),
  };
}
const line = (owner: string, k: { type: string; blob: string }) =>
  `environment="SSH_KEY_OWNER=${owner}" ${k.type} ${k.blob} ${owner}\n`;

describe('render', () => {
  const base = snap(
    [
      {
        name: 'zed',
        groups: ['g1', 'g2'],
        keys: [
          { id: 'K2', status: 'Active' },
          { id: 'K1', status: 'Active' },
        ],
      },
      { name: 'a+b=c,d@e.f_g-h', groups: ['g1'], keys: [{ id: 'K3', status: 'Active' }] },
      { name: 'nokeys', groups: [], keys: [] },
      { name: 'inactive', groups: ['g2'], keys: [{ id: 'K9', status: 'Inactive' }] },
    ],
    ['g1', 'g2', 'empty'],
    { K1: `${k1.openssh} laptop`, K2: k2.openssh, K3: k3.openssh },
  );

  it.each([
    [
      'user with keys in key-id order, comment dropped',
      'p/users/zed/authorized_keys',
      line('zed', k1) + line('zed', k2),
    ],
    ['every IAM name character', 'p/users/a+b=c,d@e.f_g-h/authorized_keys', line('a+b=c,d@e.f_g-h', k3)],
    ['user without keys: empty object', 'p/users/nokeys/authorized_keys', ''],
    ['inactive keys never appear', 'p/users/inactive/authorized_keys', ''],
    [
      'group: members in name order',
      'p/groups/g1/authorized_keys',
      line('a+b=c,d@e.f_g-h', k3) + line('zed', k1) + line('zed', k2),
    ],
    [
      'user in several groups appears in each',
      'p/groups/g2/authorized_keys',
      line('zed', k1) + line('zed', k2),
    ],
    ['empty group: empty object', 'p/groups/empty/authorized_keys', ''],
  ])('%s', (_n, key, body) => {
    expect(render(base, undefined, opts).objects.get(key)).toBe(body);
  });

  it('renders one object per user and group and nothing else', () => {
    expect([...render(base, undefined, opts).objects.keys()].sort()).toEqual([
      'p/groups/empty/authorized_keys',
      'p/groups/g1/authorized_keys',
      'p/groups/g2/authorized_keys',
      'p/users/a+b=c,d@e.f_g-h/authorized_keys',
      'p/users/inactive/authorized_keys',
      'p/users/nokeys/authorized_keys',
      'p/users/zed/authorized_keys',
    ]);
  });

  it('is deterministic: shuffled input gives the same bytes', () => {
    const a = render(base, undefined, opts);
    const shuffled = snap(
      [...base.users].reverse(),
      [...base.groups].reverse(),
      Object.fromEntries([...base.bodies].reverse()),
    );
    const b = render(shuffled, undefined, opts);
    expect([...b.objects].sort()).toEqual([...a.objects].sort());
    expect(serializeIndex(b.index)).toBe(serializeIndex(a.index));
  });

  it.each([
    ['dsa key', 'ssh-dss AAAAB3NzaC1kc3MAAACBAP', /unsupported key type/],
    ['garbage', 'hello world', /unsupported key type/],
    ['truncated', `${k1.type} ${k1.blob.slice(0, 20)}`, /base64|malformed/],
  ])('drops an unsupported key (%s) with a reason and keeps the others', (_n, body, reason) => {
    const s = snap(
      [
        {
          name: 'u',
          groups: [],
          keys: [
            { id: 'BAD', status: 'Active' },
            { id: 'OK', status: 'Active' },
          ],
        },
      ],
      [],
      {
        BAD: body,
        OK: k1.openssh,
      },
    );
    const r = render(s, undefined, opts);
    expect(r.objects.get('p/users/u/authorized_keys')).toBe(line('u', k1));
    expect(r.problems).toEqual([{ user: 'u', keyId: 'BAD', reason: expect.stringMatching(reason) }]);
    expect(r.index.users.u?.rejectedKeys?.[0]?.id).toBe('BAD');
    // A rejected body is not fetched again next run, and keeps its reason.
    const known = knownKeyBodies(r.index);
    expect(known.rejectedIds.has('BAD')).toBe(true);
    expect(known.bodies.has('BAD')).toBe(false);
    const again = render({ ...s, bodies: new Map([['OK', k1.openssh]]) }, r.index, opts);
    expect(again.index.users.u?.rejectedKeys).toEqual(r.index.users.u?.rejectedKeys);
  });

  it("skips IAM users named '.' or '..' (no object key can hold them) and says so", () => {
    const s = snap([{ name: '..', groups: [], keys: [{ id: 'K', status: 'Active' }] }], [], {
      K: k1.openssh,
    });
    const r = render(s, undefined, opts);
    expect([...r.objects.keys()]).toEqual([]);
    expect(r.problems).toEqual([{ user: '..', reason: 'user name cannot be an object key' }]);
  });

  it('refuses every copy when the claims tie (first seen by the same run) and none was published (ambiguous owner)', () => {
    const s = snap(
      [
        { name: 'alice', groups: [], keys: [{ id: 'A', status: 'Active' }] },
        {
          name: 'mallory',
          groups: [],
          keys: [
            { id: 'M', status: 'Active' },
            { id: 'M2', status: 'Active' },
          ],
        },
      ],
      [],
      { A: k1.openssh, M: `${k1.openssh} copied`, M2: k2.openssh },
    );
    const r = render(s, undefined, opts);
    expect(r.objects.get('p/users/alice/authorized_keys')).toBe('');
    expect(r.objects.get('p/users/mallory/authorized_keys')).toBe(line('mallory', k2));
    expect(r.problems.filter((p) => p.reason === DUPLICATE_KEY_REASON).map((p) => p.user)).toEqual([
      'alice',
      'mallory',
    ]);
  });

  describe('a public key registered to several IAM users: the first claim keeps it', () => {
    const at = (iso: string) => new Date(iso);
    const T1 = at('2025-01-01T00:00:00Z');
    const T2 = at('2025-06-01T00:00:00Z');

    it.each<[string, KeyClaim[], string | undefined]>([
      ['one holder', [{ user: 'a', since: T2, publishedBefore: false }], 'a'],
      [
        'never published: the earliest claim',
        [
          { user: 'a', since: T2, publishedBefore: false },
          { user: 'b', since: T1, publishedBefore: false },
        ],
        'b',
      ],
      [
        'published for someone: never taken by an earlier-dated claim',
        [
          { user: 'a', since: T2, publishedBefore: true },
          { user: 'b', since: T1, publishedBefore: false },
        ],
        'a',
      ],
      [
        'published for someone, several unpublished claims: still theirs',
        [
          { user: 'a', since: T1, publishedBefore: false },
          { user: 'b', since: T2, publishedBefore: true },
          { user: 'c', since: T1, publishedBefore: false },
        ],
        'b',
      ],
      [
        'a tie, neither published: nobody',
        [
          { user: 'a', since: T1, publishedBefore: false },
          { user: 'b', since: T1, publishedBefore: false },
        ],
        undefined,
      ],
      [
        'published for several (an index from an older rule): the earliest of them',
        [
          { user: 'a', since: T1, publishedBefore: false },
          { user: 'b', since: T2, publishedBefore: true },
          { user: 'c', since: at('2025-03-01T00:00:00Z'), publishedBefore: true },
        ],
        'c',
      ],
      [
        'published for several, tied: nobody',
        [
          { user: 'a', since: T1, publishedBefore: true },
          { user: 'b', since: T1, publishedBefore: true },
        ],
        undefined,
      ],
      [
        'an invalid date orders last',
        [
          { user: 'a', since: new Date(Number.NaN), publishedBefore: false },
          { user: 'b', since: T2, publishedBefore: false },
        ],
        'b',
      ],
    ])('firstHolder: %s', (_n, claims, expected) => {
      expect(firstHolder(claims)).toBe(expected);
      expect(firstHolder([...claims].reverse())).toBe(expected);
    });

    const later = (ms: number) => ({ ...opts, now: new Date(now.getTime() + ms) });
    const again = (r: { index: PublishedIndex }) => parseIndex(serializeIndex(r.index));
    // 'aaron' sorts before 'zoe': the rule must not depend on name order.
    const copied = (zoe: IamUser['keys'], aaron: IamUser['keys']) =>
      snap(
        [
          { name: 'zoe', groups: ['g'], keys: zoe },
          { name: 'aaron', groups: ['g'], keys: [...aaron, { id: 'A2', status: 'Active', uploadDate: T1 }] },
        ],
        ['g'],
        { Z: k1.openssh, A1: `${k1.openssh} copied`, A2: k2.openssh },
      );
    const zoeAlone = snap([{ name: 'zoe', groups: ['g'], keys: [{ id: 'Z', status: 'Active' }] }], ['g'], {
      Z: k1.openssh,
    });

    it("keeps the published holder's line and refuses only the new copy, saying why in index.json", () => {
      const before = render(zoeAlone, undefined, opts);
      const r = render(
        copied([{ id: 'Z', status: 'Active' }], [{ id: 'A1', status: 'Active' }]),
        again(before),
        later(60_000),
      );
      expect(r.objects.get('p/users/zoe/authorized_keys')).toBe(line('zoe', k1));
      expect(r.objects.get('p/users/aaron/authorized_keys')).toBe(line('aaron', k2));
      expect(r.objects.get('p/groups/g/authorized_keys')).toBe(line('aaron', k2) + line('zoe', k1));
      expect(r.index.users.zoe?.keys).toEqual([
        { id: 'Z', type: k1.type, fingerprint: k1.fingerprint }, // published: no date needed
      ]);
      expect(r.index.users.zoe?.rejectedKeys).toBeUndefined();
      expect(r.index.users.aaron?.rejectedKeys).toEqual([
        {
          id: 'A1',
          fingerprint: k1.fingerprint,
          activeSince: later(60_000).now.toISOString(),
          reason: copiedKeyReason('zoe'),
        },
      ]);
      expect(r.problems).toEqual([
        {
          user: 'aaron',
          keyId: 'A1',
          fingerprint: k1.fingerprint,
          reason: copiedKeyReason('zoe'),
          sharedWith: ['zoe'],
          firstHolder: 'zoe',
        },
      ]);
      expect(r.keyCount).toBe(2);
    });

    it("a pre-staged Inactive copy, uploaded first, never takes the colleague's published key when activated", () => {
      // aaron uploads zoe's public key at T1 and deactivates it; zoe registers hers at T2 and uses it.
      const staged = (status: 'Active' | 'Inactive') =>
        copied([{ id: 'Z', status: 'Active', uploadDate: T2 }], [{ id: 'A1', status, uploadDate: T1 }]);
      const r1 = render(staged('Inactive'), undefined, opts);
      expect(r1.objects.get('p/users/zoe/authorized_keys')).toBe(line('zoe', k1));
      const r2 = render(staged('Active'), again(r1), later(60_000));
      expect(r2.objects.get('p/users/zoe/authorized_keys')).toBe(line('zoe', k1));
      expect(r2.objects.get('p/users/aaron/authorized_keys')).toBe(line('aaron', k2));
      expect(r2.index.users.aaron?.rejectedKeys?.[0]?.reason).toBe(copiedKeyReason('zoe'));
      // And on every later run.
      const r3 = render(staged('Active'), again(r2), later(120_000));
      expect(r3.objects.get('p/users/zoe/authorized_keys')).toBe(line('zoe', k1));
    });

    it('between claims never published, the one the publisher saw Active first wins, whatever the upload dates', () => {
      const three = (zoeKeys: IamUser['keys'], bob: IamUser['keys']) =>
        snap(
          [
            { name: 'zoe', groups: [], keys: zoeKeys },
            { name: 'aaron', groups: [], keys: [{ id: 'A1', status: 'Active', uploadDate: T2 }] },
            { name: 'bob', groups: [], keys: bob },
          ],
          [],
          { Z: k1.openssh, A1: k1.openssh, B1: k1.openssh },
        );
      const zoe = [{ id: 'Z', status: 'Active' as const }];
      const r1 = render(
        snap([{ name: 'zoe', groups: [], keys: zoe }], [], { Z: k1.openssh }),
        undefined,
        opts,
      );
      const r2 = render(three(zoe, []), again(r1), later(60_000)); // aaron's copy seen first
      const r3 = render(
        three(zoe, [{ id: 'B1', status: 'Active', uploadDate: T1 }]),
        again(r2),
        later(120_000),
      );
      expect(r3.objects.get('p/users/zoe/authorized_keys')).toBe(line('zoe', k1));
      // zoe deletes hers: of the two refused copies, aaron's was Active first (bob's upload is older).
      const r4 = render(
        three([], [{ id: 'B1', status: 'Active', uploadDate: T1 }]),
        again(r3),
        later(180_000),
      );
      expect(r4.objects.get('p/users/aaron/authorized_keys')).toBe(line('aaron', k1));
      expect(r4.objects.get('p/users/bob/authorized_keys')).toBe('');
      expect(r4.index.users.bob?.rejectedKeys?.[0]?.reason).toBe(copiedKeyReason('aaron'));
      expect(r3.index.users.aaron?.rejectedKeys?.[0]?.activeSince).toBe(later(60_000).now.toISOString());
      expect(r3.index.users.bob?.rejectedKeys?.[0]?.activeSince).toBe(later(120_000).now.toISOString());
    });

    it('a key deactivated and activated again claims anew from its activation', () => {
      const at2 = (aaron: 'Active' | 'Inactive', zoe: IamUser['keys']) =>
        snap(
          [
            { name: 'zoe', groups: [], keys: zoe },
            { name: 'aaron', groups: [], keys: [{ id: 'A1', status: aaron }] },
            { name: 'bob', groups: [], keys: [{ id: 'B1', status: 'Active' }] },
          ],
          [],
          { Z: k1.openssh, A1: k1.openssh, B1: k1.openssh },
        );
      const zoe = [{ id: 'Z', status: 'Active' as const }];
      const r1 = render(
        snap([{ name: 'zoe', groups: [], keys: zoe }], [], { Z: k1.openssh }),
        undefined,
        opts,
      );
      const r2 = render(at2('Active', zoe), again(r1), later(60_000)); // aaron and bob tie
      const r3 = render(at2('Inactive', zoe), again(r2), later(120_000)); // aaron's claim lapses
      const r4 = render(at2('Active', []), again(r3), later(180_000)); // ...and restarts: bob is first
      expect(r4.objects.get('p/users/bob/authorized_keys')).toBe(line('bob', k1));
      expect(r4.index.users.aaron?.rejectedKeys?.[0]).toMatchObject({
        activeSince: later(180_000).now.toISOString(),
        reason: copiedKeyReason('bob'),
      });
    });

    it('a tag key and a key-store key follow the same rule: the published one keeps it', () => {
      const s = (withCopy: boolean) =>
        snap(
          [
            { name: 'zoe', groups: [], keys: [], tags: [{ key: 'ssh-key:laptop', value: k1.openssh }] },
            {
              name: 'aaron',
              groups: [],
              keys: withCopy ? [{ id: 'A1', status: 'Active', uploadDate: new Date(0) }] : [],
            },
          ],
          [],
          { A1: k1.openssh },
        );
      const r1 = render(s(false), undefined, opts);
      const r2 = render(s(true), again(r1), later(60_000));
      expect(r2.objects.get('p/users/zoe/authorized_keys')).toBe(line('zoe', k1));
      expect(r2.index.users.zoe?.keys[0]?.id).toBe('tag:ssh-key:laptop');
      expect(r2.index.users.aaron?.rejectedKeys?.[0]?.reason).toBe(copiedKeyReason('zoe'));
    });

    it('the claim follows the person (user id), not the name: a renamed holder keeps it', () => {
      const mine = { id: 'Z', status: 'Active' as const, uploadDate: T2 };
      const before = render(
        snap([{ name: 'zoe', id: 'AIDAZOE000000000001', groups: [], keys: [mine] }], [], { Z: k1.openssh }),
        undefined,
        opts,
      );
      const after = snap(
        [
          { name: 'zoe.new', id: 'AIDAZOE000000000001', groups: [], keys: [mine] },
          {
            name: 'zoe',
            id: 'AIDAIMPOSTOR0000002',
            groups: [],
            keys: [{ id: 'I', status: 'Active', uploadDate: T1 }],
          },
        ],
        [],
        { Z: k1.openssh, I: k1.openssh },
      );
      const r = render(after, again(before), later(60_000));
      expect(r.objects.get('p/users/zoe.new/authorized_keys')).toBe(line('zoe.new', k1));
      expect(r.objects.get('p/users/zoe/authorized_keys')).toBe('');
    });

    it('is deterministic, and a refused copy is neither fetched again nor re-decided', () => {
      const s = copied([{ id: 'Z', status: 'Active' }], [{ id: 'A1', status: 'Active' }]);
      const r1 = render(s, again(render(zoeAlone, undefined, opts)), opts);
      const known = knownKeyBodies(again(r1));
      expect(known.bodies.get('A1')).toBe(k1.openssh);
      expect(known.rejectedIds.has('A1')).toBe(false);
      const r2 = render(s, again(r1), opts);
      expect(serializeIndex(r2.index)).toBe(serializeIndex(r1.index));
      expect([...r2.objects]).toEqual([...r1.objects]);
    });
  });
  it('withholds local names that are too long or shared by two IAM users', () => {
    const s = snap(
      [
        { name: 'a+b', groups: [], keys: [] },
        { name: 'a.plus.b', groups: [], keys: [] },
        { name: `${'x'.repeat(30)}@y`, groups: [], keys: [] },
        { name: 'fine', groups: [], keys: [] },
      ],
      [],
      {},
    );
    const users = render(s, undefined, opts).index.users;
    expect(users['a+b']?.localName).toBeNull();
    expect(users['a.plus.b']?.localName).toBeNull();
    expect(users['a+b']?.localNameProblem).toMatch(/shared by IAM users a\+b, a\.plus\.b/);
    expect(users[`${'x'.repeat(30)}@y`]?.localName).toBeNull();
    expect(users.fine?.localName).toBe('fine');
  });

  it('keeps a local name with the IAM user that already had it when a newcomer collides', () => {
    const before = render(snap([{ name: 'a.plus.b', groups: [], keys: [] }], [], {}), undefined, opts);
    expect(before.index.users['a.plus.b']?.localName).toBe('a.plus.b');
    const after = render(
      snap(
        [
          { name: 'a.plus.b', groups: [], keys: [] },
          { name: 'a+b', groups: [], keys: [] },
        ],
        [],
        {},
      ),
      before.index,
      opts,
    );
    expect(after.index.users['a.plus.b']?.localName).toBe('a.plus.b');
    expect(after.index.users['a+b']?.localName).toBeNull();
    expect(after.index.users['a+b']?.localNameProblem).toBe(
      'local name a.plus.b already belongs to IAM user a.plus.b',
    );
  });

  it('allocates uids once per IAM user id and never reuses them', () => {
    const s1 = snap(
      [
        { name: 'b', groups: [], keys: [] },
        { name: 'a', groups: [], keys: [] },
      ],
      [],
      {},
    );
    const r1 = render(s1, undefined, opts);
    expect([r1.index.users.a?.uid, r1.index.users.b?.uid]).toEqual([5000, 5001]);
    expect(r1.index.uids).toEqual({ [idOf('a')]: 5000, [idOf('b')]: 5001 });
    expect(r1.index.users.a?.userId).toBe(idOf('a'));
    // 'a' leaves, 'c' arrives: c gets a fresh uid, not a's.
    const r2 = render(
      snap(
        [
          { name: 'b', groups: [], keys: [] },
          { name: 'c', groups: [], keys: [] },
        ],
        [],
        {},
      ),
      r1.index,
      opts,
    );
    expect([r2.index.users.b?.uid, r2.index.users.c?.uid]).toEqual([5001, 5002]);
    // A new IAM user named 'a' (a new user id) is a new person: a fresh uid, never a's.
    const r3 = render(
      snap([{ name: 'a', id: 'AIDANEWPERSONWITHNAMEA', groups: [], keys: [] }], [], {}),
      r2.index,
      opts,
    );
    expect(r3.index.users.a?.uid).toBe(5003);
    expect(r3.index.uids[idOf('a')]).toBe(5000);
    expect(r3.index.nextUid).toBe(5004);
  });

  it('a renamed IAM user (same user id) keeps its uid, its local name follows the new name', () => {
    const r1 = render(
      snap([{ name: 'alice', id: 'AIDAALICE0000000001', groups: ['g'], keys: [] }], ['g'], {}),
      undefined,
      opts,
    );
    const r2 = render(
      snap([{ name: 'alice.smith', id: 'AIDAALICE0000000001', groups: ['g'], keys: [] }], ['g'], {}),
      r1.index,
      opts,
    );
    expect(r2.index.users['alice.smith']).toMatchObject({
      userId: 'AIDAALICE0000000001',
      uid: 5000,
      localName: 'alice.smith',
    });
    expect(r2.index.users.alice).toBeUndefined();
    expect(r2.index.nextUid).toBe(5001);
  });

  describe('migration from a version 1 index (uids keyed by name)', () => {
    const v1: PublishedIndex = {
      version: 1,
      generatedAt: '2025-12-01T00:00:00.000Z',
      users: {
        alice: { localName: 'alice', uid: 20000, groups: [], keys: [] },
        bob: { localName: 'bob', uid: 20001, groups: [], keys: [] },
      },
      groups: {},
      keyBodies: {},
      uids: { alice: 20000, bob: 20001, carol: 20002 }, // carol left before the migration
      nextUid: 20003,
    };
    const users = [
      { name: 'alice', id: 'AIDAALICE0000000001', groups: [], keys: [] },
      { name: 'bob', id: 'AIDABOB000000000002', groups: [], keys: [] },
      { name: 'dave', id: 'AIDADAVE00000000003', groups: [], keys: [] },
    ];

    it('keeps every uid: present names move to their user id, absent ones stay reserved by name', () => {
      const r = render(snap(users, [], {}), parseIndex(serializeIndex(v1)), opts);
      expect(r.index.version).toBe(INDEX_VERSION);
      expect(INDEX_VERSION).toBe(2);
      expect(r.index.users.alice).toMatchObject({ uid: 20000, userId: 'AIDAALICE0000000001' });
      expect(r.index.users.bob).toMatchObject({ uid: 20001, userId: 'AIDABOB000000000002' });
      expect(r.index.users.dave?.uid).toBe(20003);
      expect(r.index.uids).toEqual({
        AIDAALICE0000000001: 20000,
        AIDABOB000000000002: 20001,
        AIDADAVE00000000003: 20003,
      });
      expect(r.index.retiredUids).toEqual({ carol: 20002 });
      expect(r.index.nextUid).toBe(20004);
      expect(parseIndex(serializeIndex(r.index))).toEqual(r.index);
    });

    it('a later run is byte-identical, and a returning name never gets its reserved uid', () => {
      const r1 = render(snap(users, [], {}), v1, opts);
      const r2 = render(snap(users, [], {}), parseIndex(serializeIndex(r1.index)), opts);
      expect(serializeIndex(r2.index)).toBe(serializeIndex(r1.index));
      const r3 = render(
        snap([...users, { name: 'carol', id: 'AIDACAROL0000000004', groups: [], keys: [] }], [], {}),
        r2.index,
        opts,
      );
      expect(r3.index.users.carol?.uid).toBe(20004);
      expect(r3.index.retiredUids).toEqual({ carol: 20002 });
    });

    it('never hands out a uid below one already allocated, even with a low nextUid', () => {
      const r = render(snap(users, [], {}), { ...v1, nextUid: 1 }, opts);
      expect(r.index.users.dave?.uid).toBe(20003);
    });
  });

  it('produces an index that parses and records published key bodies by id', () => {
    const r = render(base, undefined, opts);
    const index = parseIndex(serializeIndex(r.index));
    expect(index.generatedAt).toBe(now.toISOString());
    expect(index.keyBodies).toEqual({ K1: k1.openssh, K2: k2.openssh, K3: k3.openssh });
    expect(index.users.zed?.keys.map((k) => k.id)).toEqual(['K1', 'K2']);
    expect(index.groups.g2?.members).toEqual(['inactive', 'zed']);
    expect(r.keyCount).toBe(3);
  });
});

describe('names that are Object.prototype properties (valid IAM user and group names)', () => {
  const NAMES = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty'];
  const keys = NAMES.map(() => makeKey());
  const s = snap(
    NAMES.map((name, i) => ({
      name,
      groups: [NAMES[(i + 1) % NAMES.length] as string, 'plain'],
      keys: [{ id: `KP${i}`, status: 'Active' as const }],
    })),
    [...NAMES, 'plain'],
    Object.fromEntries(keys.map((k, i) => [`KP${i}`, k.openssh])),
  );
  const again = (r: { index: PublishedIndex }) => parseIndex(serializeIndex(r.index));

  it('render -> index.json -> parse keeps every user and group, and each object has its entry', () => {
    const r = render(s, undefined, opts);
    const index = again(r);
    expect(Object.keys(index.users).sort()).toEqual([...NAMES].sort());
    expect(Object.keys(index.groups).sort()).toEqual([...NAMES, 'plain'].sort());
    for (const [i, name] of NAMES.entries()) {
      expect(Object.hasOwn(index.users, name)).toBe(true);
      expect(index.users[name]?.keys.map((k) => k.id)).toEqual([`KP${i}`]);
      expect(r.objects.get(`p/users/${name}/authorized_keys`)).toBe(line(name, keys[i] as (typeof keys)[0]));
      expect(index.groups[name]?.members).toEqual([NAMES[(i + NAMES.length - 1) % NAMES.length]]);
    }
    expect(index.groups.plain?.members).toEqual([...NAMES].sort());
    expect(Object.keys(index.uids).length).toBe(NAMES.length);
  });

  it('the next run knows them as the same people: same bytes, no uid handed out twice', () => {
    const r1 = render(s, undefined, opts);
    const r2 = render(s, again(r1), opts);
    expect(serializeIndex(r2.index)).toBe(serializeIndex(r1.index));
    expect(new Set(Object.values(r2.index.uids)).size).toBe(NAMES.length);
  });

  it('a name absent from index.json reads as absent there, never as an inherited property', () => {
    const index = again(render(snap([{ name: 'alice', groups: [], keys: [] }], [], {}), undefined, opts));
    for (const name of NAMES) {
      expect(index.users[name]).toBeUndefined();
      expect(index.groups[name]).toBeUndefined();
      expect(index.keyBodies[name]).toBeUndefined();
    }
  });

  it('a version 1 index keyed by such names migrates every uid', () => {
    // Written as text: a `__proto__` key in an object literal would set the prototype instead.
    const v1 = parseIndex(
      `{"version":1,"generatedAt":"2025-12-01T00:00:00.000Z","keyBodies":{},"groups":{},"nextUid":20002,
        "users":{"__proto__":{"localName":"__proto__","uid":20000,"groups":[],"keys":[]}},
        "uids":{"__proto__":20000,"constructor":20001}}`,
    ); // constructor left before the migration
    expect(Object.keys(v1.users)).toEqual(['__proto__']);
    const r = render(snap([{ name: '__proto__', groups: [], keys: [] }], [], {}), v1, opts);
    const index = again(r);
    expect(own(index.users, '__proto__')?.uid).toBe(20000);
    expect(Object.keys(index.retiredUids ?? {})).toEqual(['constructor']);
    expect(index.nextUid).toBe(20002);
  });
});

describe('render: directory.json and heartbeat.json (what hosts read)', () => {
  const users = snap(
    [
      { name: 'bob', groups: ['Ops'], keys: [{ id: 'K1', status: 'Active' }] },
      { name: 'alice@x.com', groups: ['Devs', 'Admins'], keys: [{ id: 'K2', status: 'Active' }] },
    ],
    ['Ops', 'Devs', 'Admins'],
    { K1: k1.openssh, K2: k2.openssh },
  );

  it('lists every user with user id, local name, uid and groups, and nothing about keys', () => {
    const r = render(users, undefined, opts);
    const d = parseDirectory(r.directory);
    expect([...d.users]).toEqual([
      [
        'alice@x.com',
        { userId: idOf('alice@x.com'), localName: 'alice.at.x.com', uid: 5000, groups: ['Admins', 'Devs'] },
      ],
      ['bob', { userId: idOf('bob'), localName: 'bob', uid: 5001, groups: ['Ops'] }],
    ]);
    expect(r.directory).not.toMatch(/K1|K2|SHA256|generatedAt/);
  });

  it('is byte-identical on a later run with the same IAM data (only the index time changes)', () => {
    const first = render(users, undefined, opts);
    const later = render(users, first.index, { ...opts, now: new Date('2026-02-01T00:00:00Z') });
    expect(later.directory).toBe(first.directory);
    expect(later.index.generatedAt).not.toBe(first.index.generatedAt);
  });

  it("reserves a deleted user's uid (sync-users never hands it to another account)", () => {
    const first = render(users, undefined, opts);
    const without = snap(
      [{ name: 'bob', groups: ['Ops'], keys: [{ id: 'K1', status: 'Active' }] }],
      ['Ops'],
      { K1: k1.openssh },
    );
    const d = parseDirectory(render(without, first.index, opts).directory);
    expect([...d.users.keys()]).toEqual(['bob']);
    expect(d.reservedUids).toEqual([5000]);
  });

  // Assigning o['__proto__'] on a plain object and JSON.stringify-ing it drops the user.
  it.each(['__proto__', 'toString', 'constructor', 'valueOf'])('keeps an IAM user named %s', (name) => {
    const s = snap([{ name, groups: ['Devs'], keys: [{ id: 'K1', status: 'Active' }] }], ['Devs'], {
      K1: k1.openssh,
    });
    const d = parseDirectory(render(s, undefined, opts).directory);
    expect([...d.users.keys()]).toEqual([name]);
    expect(d.users.get(name)).toMatchObject({ localName: name, uid: 5000, groups: ['Devs'] });
  });
});
