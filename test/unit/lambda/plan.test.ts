import { describe, expect, it } from 'vitest';
import type { IndexUser, PublishedIndex } from '../../../contract/index.js';
import { keyLossRefusal, md5Etag, plan } from '../../../lambda/plan.js';

const opts = { prefix: 'p/', maxDeleteShare: 0.5, allowMassDelete: false };
const u = (n: string) => `p/users/${n}/authorized_keys`;
const g = (n: string) => `p/groups/${n}/authorized_keys`;

describe('plan', () => {
  it.each([
    [
      'new object is added',
      [[u('a'), 'x']],
      [],
      { puts: [{ key: u('a'), body: 'x', change: 'add' }], deletes: [], unchanged: [] },
    ],
    [
      'same bytes: unchanged',
      [[u('a'), 'x']],
      [{ key: u('a'), etag: md5Etag('x'), sha256: true }],
      { puts: [], deletes: [], unchanged: [u('a')] },
    ],
    [
      'same bytes without a SHA-256 checksum (written before hosts verified one): rewritten',
      [[u('a'), 'x']],
      [{ key: u('a'), etag: md5Etag('x') }],
      { puts: [{ key: u('a'), body: 'x', change: 'change' }], deletes: [], unchanged: [] },
    ],
    [
      'other bytes: changed',
      [[u('a'), 'y']],
      [{ key: u('a'), etag: md5Etag('x'), sha256: true }],
      { puts: [{ key: u('a'), body: 'y', change: 'change' }], deletes: [], unchanged: [] },
    ],
    [
      'multipart etag: rewritten',
      [[u('a'), 'x']],
      [{ key: u('a'), etag: '"abc-2"' }],
      { puts: [{ key: u('a'), body: 'x', change: 'change' }], deletes: [], unchanged: [] },
    ],
    [
      'principal gone: deleted',
      [[u('a'), '']],
      [
        { key: u('a'), etag: md5Etag(''), sha256: true },
        { key: g('old'), etag: '"1"' },
      ],
      { puts: [], deletes: [g('old')], unchanged: [u('a')] },
    ],
    [
      'objects outside the layout are never touched',
      [[u('a'), '']],
      [
        { key: u('a'), etag: md5Etag(''), sha256: true },
        { key: 'p/index.json' },
        { key: 'p/notes.txt' },
        { key: 'p/users/a/other' },
        { key: 'q/users/b/authorized_keys' },
        { key: 'p/users/bad name/authorized_keys' },
      ],
      { puts: [], deletes: [], unchanged: [u('a')] },
    ],
  ] as const)('%s', (_n, desired, existing, want) => {
    expect(plan(new Map(desired as unknown as [string, string][]), existing, opts)).toEqual(want);
  });

  it.each([
    [
      'empty snapshot while the bucket has users',
      [],
      [u('a')],
      /IAM returned no users while the bucket holds 1/,
    ],
    ['deleting 3 of 4 principals', [[u('a'), '']], [u('a'), u('b'), u('c'), g('d')], /would delete 3 of 4/],
  ] as const)('refuses %s, unless allowed', (_n, desired, existingKeys, reason) => {
    const existing = existingKeys.map((key) => ({ key, etag: md5Etag('') }));
    const refused = plan(new Map(desired as unknown as [string, string][]), existing, opts);
    expect(refused.refusal).toMatch(reason);
    const allowed = plan(new Map(desired as unknown as [string, string][]), existing, {
      ...opts,
      allowMassDelete: true,
    });
    expect(allowed.refusal).toBeUndefined();
    expect(allowed.deletes.length).toBeGreaterThan(0);
  });

  it.each([
    ['one deletion is never mass', 1, 1],
    ['exactly half is allowed', 2, 4],
  ])('allows %s', (_n, deletions, total) => {
    const existing = Array.from({ length: total }, (_, i) => ({ key: u(`x${i}`), etag: md5Etag('') }));
    const desired = new Map(existing.slice(deletions).map((o) => [o.key, ''] as [string, string]));
    desired.set(u('keep'), '');
    const p = plan(desired, existing, opts);
    expect(p.refusal).toBeUndefined();
    expect(p.deletes).toHaveLength(deletions);
  });
});

/**
 * An index from a compact spec: user name -> number of published keys
 * (`name@id` gives the user another IAM user id, as after a re-creation).
 */
function idx(spec: Record<string, number>, version: 1 | 2 = 2): PublishedIndex {
  const users: Record<string, IndexUser> = {};
  for (const [k, n] of Object.entries(spec)) {
    const [name = k, id = `ID-${name}`] = k.split('@');
    users[name] = {
      ...(version === 2 ? { userId: id } : {}),
      localName: name,
      uid: 1,
      groups: [],
      keys: Array.from({ length: n }, (_, i) => ({
        id: `K${name}${i}`,
        type: 'ssh-ed25519',
        fingerprint: `f${name}${i}`,
      })),
    };
  }
  return { version, generatedAt: 'x', users, groups: {}, keyBodies: {}, uids: {}, nextUid: 2 };
}

/** `n` users with one key each, named u0..u(n-1), plus extra entries. */
const team = (n: number, extra: Record<string, number> = {}) => ({
  ...Object.fromEntries(Array.from({ length: n }, (_, i) => [`u${i}`, 1])),
  ...extra,
});
const without = (spec: Record<string, number>, ...names: string[]) =>
  Object.fromEntries(Object.entries(spec).filter(([n]) => !names.includes(n)));
const emptied = (spec: Record<string, number>, ...names: string[]) =>
  Object.fromEntries(Object.entries(spec).map(([n, k]) => [n, names.includes(n) ? 0 : k]));

describe('keyLossRefusal', () => {
  const base = team(11, { mallory: 30 }); // 42 keys, 12 users with keys
  it.each([
    // The attack of issue 17: one member's 30 own tag keys added, published, then removed.
    ['one user removes 30 of 42 keys: passes', base, team(11, { mallory: 0 }), undefined],
    ['one user vanishes with 30 keys: passes', base, team(11), undefined],
    [
      'one user empties and an admin revokes another: passes',
      base,
      emptied(team(11, { mallory: 0 }), 'u0'),
      undefined,
    ],
    [
      'a user losing some of their keys never counts',
      { a: 10, b: 10, c: 10 },
      { a: 1, b: 1, c: 1 },
      undefined,
    ],
    ['a small team (2 of 2) is never mass', { a: 1, b: 1 }, { a: 0, b: 0 }, undefined],
    ['half the users is allowed', team(6), emptied(team(6), 'u0', 'u1', 'u2'), undefined],
    [
      'a rename (same id) is not a loss',
      { 'a@1': 1, 'b@2': 1, 'c@3': 1 },
      { 'x@1': 1, 'y@2': 1, 'z@3': 1 },
      undefined,
    ],
    [
      'users without keys before are not counted',
      { ...team(2), n1: 0, n2: 0, n3: 0 },
      { ...team(2), n1: 0 },
      undefined,
    ],
    [
      'everyone emptied at once',
      base,
      emptied(base, ...Object.keys(base)),
      /12 of the 12 users with published keys would have none left \(100% > 50%/,
    ],
    [
      '3 of 5 emptied',
      team(5),
      emptied(team(5), 'u0', 'u1', 'u2'),
      /3 of the 5 users .*\(60% > 50%: u0, u1, u2\)/,
    ],
    ['users vanishing count too', team(4), team(1), /3 of the 4 users/],
    [
      're-created names (new ids) count as lost',
      { 'a@1': 1, 'b@2': 1, 'c@3': 1 },
      { 'a@4': 1, 'b@5': 1, 'c@6': 1 },
      /3 of the 3/,
    ],
    ['many names are cut short', team(8), {}, /8 of the 8 .*: u0, u1, u2, u3, u4, \.\.\.\)/],
  ] as const)('%s', (_n, before, after, want) => {
    const r = keyLossRefusal(idx(before), idx(after), opts);
    if (want === undefined) expect(r).toBeUndefined();
    else expect(r).toMatch(want);
  });

  it('allowMassDelete lifts it; a first run (no previous index) never refuses', () => {
    expect(keyLossRefusal(idx(team(5)), idx({}), opts)).toMatch(/5 of the 5/);
    expect(keyLossRefusal(idx(team(5)), idx({}), { ...opts, allowMassDelete: true })).toBeUndefined();
    expect(keyLossRefusal(undefined, idx({}), opts)).toBeUndefined();
  });

  it('a revocation the events recorded is never held back', () => {
    // Keys are named K<user><n>: u0's only key is Ku00.
    const before = team(5);
    const revokedAll = { keyIds: ['Ku00', 'Ku10', 'Ku20', 'Ku30'], users: [] };
    const after = idx(emptied(before, 'u0', 'u1', 'u2', 'u3'));
    expect(keyLossRefusal(idx(before), after, opts)).toMatch(/4 of the 5/);
    expect(keyLossRefusal(idx(before), after, opts, revokedAll)).toBeUndefined();
    // Only those the events explain are exempt: the rest still count.
    expect(keyLossRefusal(idx(before), after, opts, { keyIds: ['Ku00'], users: [] })).toMatch(
      /3 of the 5 .*u1, u2, u3/,
    );
    // Users two keys of whom vanished while the events revoked one each: that looks like a broken read.
    const two = idx({ ...before, u0: 2, u1: 2, u2: 2, u3: 2 });
    expect(keyLossRefusal(two, after, opts, revokedAll)).toMatch(/4 of the 5/);
    // Deleted users (DeleteUser events) are explained too.
    const gone = idx(without(before, 'u0', 'u1', 'u2', 'u3'));
    expect(keyLossRefusal(idx(before), gone, opts)).toMatch(/4 of the 5/);
    expect(
      keyLossRefusal(idx(before), gone, opts, { keyIds: [], users: ['u0', 'u1', 'u2', 'u3'] }),
    ).toBeUndefined();
  });

  it('a version 1 index is matched by name', () => {
    expect(keyLossRefusal(idx(team(4), 1), idx(team(4)), opts)).toBeUndefined();
    expect(keyLossRefusal(idx(team(4), 1), idx(emptied(team(4), 'u0', 'u1', 'u2')), opts)).toMatch(
      /3 of the 4/,
    );
  });

  it('no one user can trip it, whatever the account looks like', () => {
    // Every single user of accounts of 1..40 key holders (plus one with many keys) losing all keys.
    for (let n = 1; n <= 40; n++) {
      const before = team(n, { big: 50 });
      for (const name of Object.keys(before)) {
        expect(keyLossRefusal(idx(before), idx(emptied(before, name)), opts)).toBeUndefined();
        expect(keyLossRefusal(idx(before), idx(without(before, name)), opts)).toBeUndefined();
      }
    }
  });
});
