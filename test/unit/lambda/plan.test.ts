import { describe, expect, it } from 'vitest';
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
      [{ key: u('a'), etag: md5Etag('x') }],
      { puts: [], deletes: [], unchanged: [u('a')] },
    ],
    [
      'other bytes: changed',
      [[u('a'), 'y']],
      [{ key: u('a'), etag: md5Etag('x') }],
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
        { key: u('a'), etag: md5Etag('') },
        { key: g('old'), etag: '"1"' },
      ],
      { puts: [], deletes: [g('old')], unchanged: [u('a')] },
    ],
    [
      'objects outside the layout are never touched',
      [[u('a'), '']],
      [
        { key: u('a'), etag: md5Etag('') },
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

describe('keyLossRefusal', () => {
  it.each([
    ['few keys: never mass', 9, 0, false, undefined],
    ['half lost is allowed', 20, 10, false, undefined],
    ['more keys than before', 20, 30, false, undefined],
    ['most keys lost', 20, 9, false, /drop from 20 to 9 \(55% > 50%\)/],
    ['all keys lost', 100, 0, false, /drop from 100 to 0/],
    ['all keys lost, allowed', 100, 0, true, undefined],
  ] as const)('%s', (_n, before, after, allow, want) => {
    const r = keyLossRefusal(before, after, { ...opts, allowMassDelete: allow });
    if (want === undefined) expect(r).toBeUndefined();
    else expect(r).toMatch(want);
  });
});
